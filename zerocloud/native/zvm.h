/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * zvm.h -- shared declarations of the freestanding `zvm` launcher.
 *
 * One process, two roles.  The supervisor (supervisor.c) parses the manifest,
 * forks, relays and hashes the guest's output, enforces the wall clock and
 * output caps, and writes the report.  The child loads the guest ELF
 * (loader.c), installs the seccomp policy (policy.c) and jumps to the guest;
 * afterwards only the SIGSYS shim (shim.c) runs launcher code inside it.
 */
#ifndef ZVM_H
#define ZVM_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include <asm/mman.h>

#include "zvm_status.h"

/* One static image: every symbol is local, so -fpie code reaches it
 * RIP-relatively wherever the image is linked. */
#pragma GCC visibility push(hidden)

#ifndef MAP_SHARED
#define MAP_SHARED 0x01
#endif
#ifndef MAP_PRIVATE
#define MAP_PRIVATE 0x02
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* ---- guest address-space layout (fixed: determinism needs it) ---------- */
#define ZVM_PAGE 4096UL
#define ZVM_GUEST_LOW 0x10000UL              /* lowest address a segment may use */
#define ZVM_PIE_BASE 0x100000000000UL        /* where static-pie guests load */
#define ZVM_MMAP_BOTTOM 0x200000000000UL     /* guest mmap area, top-down */
#define ZVM_MMAP_TOP 0x7d0000000000UL
#define ZVM_IMAGE_BASE 0x7e0000000000UL      /* the launcher (build.py links it here) */
#define ZVM_SHARED_BASE 0x7fd000000000UL     /* counters shared with the supervisor */
#define ZVM_SHIM_BASE 0x7fe000000000UL       /* shim stacks */
#define ZVM_SHIM_SIZE (512UL * 1024)
#define ZVM_STACK_TOP 0x7ff000000000UL       /* guest stack, grows down */
#define ZVM_STACK_SIZE (8UL << 20)
#define ZVM_TASK_END 0x7ffffffff000UL    /* top of user space (47-bit) */

/* ---- limits of the launcher itself -------------------------------------- */
#define ZVM_MAX_CHANNELS 256
#define ZVM_MAX_ARGS 1024
#define ZVM_MAX_ENV 1024
#define ZVM_MAX_VFDS 512
#define ZVM_MAX_MANIFEST (8UL << 20)
#define ZVM_MAX_FILES 65536                  /* files and directories of images */
#define ZVM_NO_ENTRY 0xffffffffU
#define ZVM_MAX_PATH 256
#define ZVM_MAX_SLICE_US 100000UL           /* the kernel clamps a slice to 100 ms */
#define ZVM_FD_BASE 100                      /* channel i is real fd ZVM_FD_BASE+i in the child */
#define ZVM_STATUS_FD 99                     /* child -> supervisor start-up status */

/* ---- the manifest, parsed ---------------------------------------------- */
enum { CH_READ = 1, CH_WRITE = 2 };

struct channel {
    char path[ZVM_MAX_PATH];    /* guest path: /dev/stdin, /dev/in/map-1, ... */
    int mode;                   /* CH_READ or CH_WRITE */
    int host_fd;                /* fd in the supervisor */
    uint64_t limit;             /* bytes; 0 = no limit */
};

/* A file or directory of a read-only image ("file" and "dir" manifest
 * lines, sorted by path): a file's bytes are [off, off + size) of the read
 * channel chan, read with pread.  The tree links are built by the parser. */
struct fentry {
    const char *path;           /* absolute, normalised, never under /dev */
    uint64_t off, size;
    uint32_t parent;            /* its directory's index; ZVM_NO_ENTRY: "/" */
    uint32_t first_child, next_sibling, last_child;
    uint16_t chan;
    uint16_t perm;              /* permission bits as given (writes are never allowed) */
    uint8_t isdir;
};

struct manifest {
    int program_fd;
    int report_fd;
    int argc, envc;
    char *argv[ZVM_MAX_ARGS + 1];
    char *envp[ZVM_MAX_ENV + 1];
    int nchannels;
    struct channel ch[ZVM_MAX_CHANNELS];
    uint64_t seed;
    uint64_t memory;            /* bytes for the guest: segments+stack+heap+mmaps */
    uint64_t cpu_seconds;       /* 0 = none */
    uint64_t timeout_ms;        /* 0 = none */
    uint64_t max_output;        /* total bytes over all write channels; 0 = none */
    uint64_t clock;             /* virtual epoch, seconds */
    uint64_t parent;            /* the caller's pid; 0 = not given */
    uint64_t slice_us;          /* the guest's CPU time slice; 0 = the kernel's */
    uint32_t nfiles;
    uint32_t root_first;        /* first child of "/" among the files */
    struct fentry *files;
};

/* Counters the shim keeps for the report (the guest could scribble on them;
 * they are informational -- output bytes and digests come from the
 * supervisor's own relay). */
struct chan_stats {
    uint64_t bytes_read, bytes_written, reads, writes;
};

struct shared_page {
    uint64_t magic;
    uint64_t memory_hit;        /* an allocation failed at the memory limit */
    struct chan_stats st[ZVM_MAX_CHANNELS];
};
#define ZVM_SHARED_SIZE ((sizeof(struct shared_page) + ZVM_PAGE - 1) & ~(ZVM_PAGE - 1))

/* What the loader hands to the final stage. */
struct loaded {
    uint64_t entry;
    uint64_t phdr, phent, phnum;
    uint64_t load_end;          /* end of the highest segment: brk starts here */
    uint64_t mapped_bytes;      /* segment bytes charged to memory */
    uint64_t sp;                /* initial guest stack pointer */
};

extern struct manifest M;

/* ---- sys.c: freestanding runtime --------------------------------------- */
long sys_call6(long n, long a, long b, long c, long d, long e, long f);
#define SC0(n) sys_call6((n), 0, 0, 0, 0, 0, 0)
#define SC1(n, a) sys_call6((n), (long)(a), 0, 0, 0, 0, 0)
#define SC2(n, a, b) sys_call6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SC3(n, a, b, c) sys_call6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SC4(n, a, b, c, d) sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SC5(n, a, b, c, d, e) sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define SC6(n, a, b, c, d, e, f) sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* start.S: the one syscall instruction the policy lets the shim use. */
long zvm_gadget(long n, long a, long b, long c, long d, long e, long f);
extern char zvm_gadget_ret[];
void zvm_sigreturn(void);
__attribute__((noreturn)) void zvm_switch_stack(uint64_t sp, void (*fn)(void));
__attribute__((noreturn)) void zvm_enter_guest(uint64_t entry, uint64_t sp);

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int streq(const char *a, const char *b);
int strcmp_u(const char *a, const char *b);
int strcmp_n(const char *a, size_t alen, const char *b);
int startswith(const char *s, const char *prefix);

/* A bounded string builder: never overflows, remembers truncation. */
struct sbuf {
    char *p;
    size_t len, cap;
    int truncated;
};
void sb_init(struct sbuf *b, char *mem, size_t cap);
void sb_putc(struct sbuf *b, char c);
void sb_puts(struct sbuf *b, const char *s);
void sb_putn(struct sbuf *b, const char *s, size_t n);
void sb_putu(struct sbuf *b, uint64_t v);
void sb_puti(struct sbuf *b, int64_t v);
void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap);
__attribute__((format(printf, 2, 3))) void sb_printf(struct sbuf *b, const char *fmt, ...);
void sb_json_str(struct sbuf *b, const char *s);

int write_all(int fd, const void *buf, size_t n);
__attribute__((format(printf, 1, 2))) void warnx(const char *fmt, ...);
__attribute__((noreturn, format(printf, 2, 3))) void die(int status, const char *fmt, ...);
__attribute__((noreturn)) void sys_exit(int code);
const char *errname(long err);

/* ---- manifest.c ----------------------------------------------------------- */
/* Parse text into M; on error returns -1 with a message in err. */
int manifest_parse(char *text, size_t len, char *err, size_t errcap);

/* ---- loader.c ---------------------------------------------------------- */
/* Map the program and build the guest stack.  Returns 0, or -1 with a
 * message in err (invalid-binary when *invalid is set, else launcher error). */
int load_guest(int fd, struct loaded *out, char *err, size_t errcap, int *invalid);

/* ---- policy.c ---------------------------------------------------------- */
int install_policy(char *err, size_t errcap);

/* ---- shim.c ------------------------------------------------------------ */
void shim_init(const struct loaded *ld);
void shim_sigsys(int sig, void *info, void *uctx);
/* Deterministic byte stream from the seed (AT_RANDOM, getrandom). */
void prng_bytes(void *buf, size_t n);
void prng_seed(uint64_t seed);

/* ---- sha256.c ---------------------------------------------------------- */
struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[32]);

/* ---- child.c --------------------------------------------------------------- */
__attribute__((noreturn)) void child_main(int status_fd, const int *chan_fds,
                                         uint64_t supervisor_pid);

#pragma GCC visibility pop

#endif /* ZVM_H */
