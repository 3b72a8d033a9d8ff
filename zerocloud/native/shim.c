/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * shim.c -- the SIGSYS handler: deterministic emulation of trapped calls.
 *
 * Runs inside the guest process, on a fixed alternate stack, after the
 * guest replaced %fs: freestanding, no TLS, no errno.  Its real syscalls go
 * through zvm_gadget, which the policy restricts (policy.c).  The guest can
 * corrupt this code's data; that only hurts the guest, because the kernel
 * policy is the security boundary and the supervisor counts and caps the
 * output on its own side.
 *
 * The guest's world:
 *   - fds are virtual: 0/1/2 are stdin/stdout/stderr when the manifest has
 *     them; open() of a channel path returns the lowest free number.
 *   - the file system is "/", "/dev", "/dev/in", "/dev/out" and the channel
 *     devices; everything else is ENOENT.  Channels are streams (S_IFIFO,
 *     no size, no seek) whatever the host side is: file, pipe or tty.
 *   - reads fill the whole buffer unless EOF comes first, so pipe timing
 *     never shows through.
 *   - time is a virtual clock that advances 1 us per query and by the full
 *     amount of every sleep; randomness is a stream from the seed.
 *   - memory addresses come from a fixed layout and a deterministic
 *     first-fit allocator; the memory limit is RLIMIT_AS, exact.
 */
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/mman.h>
#include <asm/sigcontext.h>

#include "zvm.h"

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2

#define AT_FDCWD (-100)
#define AT_EMPTY_PATH 0x1000
#define O_ACCMODE 3
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_DIRECTORY 0200000
#define O_CLOEXEC 02000000
#define S_IFIFO 0010000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define O_TRUNC 01000
#define EROFS 30
#define EOPNOTSUPP 95
#define IMAGE_INO 1024      /* inode of image entry i: IMAGE_INO + i */
#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC 1
#define POLLIN 0x001
#define POLLOUT 0x004
#define POLLNVAL 0x020
#define POLLRDNORM 0x040
#define POLLWRNORM 0x100
#define SIGSYS_NR 31
#define SIGPIPE_NR 13
#define SIG_IGN_VALUE 1UL
#define RLIM_INFINITY (~0UL)
#define ERANGE 34
#define ESRCH 3
#define EDQUOT 122
#define ENAMETOOLONG 36
#define ELOOP 40
#define ENOTTY 25

#define GUEST_ID 1000
#define CLOCK_STEP_NS 1000ULL
#define NS 1000000000ULL

/* ---- state ------------------------------------------------------------- */

/* V_DIR: "/", /dev, /dev/in, /dev/out; V_IFILE, V_IDIR: an image entry. */
enum { V_FREE, V_CHAN, V_DIR, V_IFILE, V_IDIR };
enum { D_ROOT, D_DEV, D_IN, D_OUT };

struct vfd {
    uint8_t kind;
    uint8_t cloexec;
    uint32_t idx;       /* channel index, directory id or image entry */
    uint64_t pos;       /* a file's offset, a directory's cursor */
};

/* A resolved name. */
struct node {
    int kind;   /* V_DIR, V_CHAN, V_IFILE or V_IDIR; 0 when absent */
    uint32_t idx;
};

struct region {
    uint64_t start, end;
};

#define MAX_REGIONS 4096

static struct {
    struct vfd fd[ZVM_MAX_VFDS];
    struct node cwd;
    uint64_t brk_start, brk_cur, brk_mapped;
    uint64_t clock_ns;
    uint64_t prng;
    long real_pid;
    uint64_t sigmask;   /* the guest's view; the real mask never blocks SIGSYS */
    /* SIGPIPE's disposition as the guest set it (SIG_DFL 0, SIG_IGN 1, or a
     * handler that will never run), and whether the trapped call being
     * emulated generated a real SIGPIPE (a write that got EPIPE, or kill).
     * See shim_sigsys(). */
    uint64_t sigpipe_handler;
    int sigpipe_raised;
    int nregions;
    struct region regions[MAX_REGIONS];
} S;

static struct shared_page *const SH = (struct shared_page *)ZVM_SHARED_BASE;

/* The kernel's rt_sigframe user context (x86-64). */
struct kucontext {
    unsigned long uc_flags;
    void *uc_link;
    struct {
        void *sp;
        int flags;
        size_t size;
    } uc_stack;
    struct sigcontext mc;
    uint64_t sigmask;   /* the real mask rt_sigreturn restores */
};

#define G0(n) zvm_gadget((n), 0, 0, 0, 0, 0, 0)
#define G3(n, a, b, c) zvm_gadget((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define G5(n, a, b, c, d, e) zvm_gadget((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define G6(n, a, b, c, d, e, f) zvm_gadget((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static uint64_t page_up(uint64_t v) { return (v + ZVM_PAGE - 1) & ~(ZVM_PAGE - 1); }

/* ---- randomness and time ------------------------------------------------- */

void prng_seed(uint64_t seed)
{
    S.prng = seed ^ 0x7a65726f636c6f75ULL;    /* "zerocloud" */
}

static uint64_t prng_next(void)
{
    uint64_t z = (S.prng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void prng_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        uint64_t v = prng_next();
        size_t k = n < 8 ? n : 8;
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

struct kts {
    int64_t sec, nsec;
};

static uint64_t tick(void)
{
    S.clock_ns += CLOCK_STEP_NS;
    return S.clock_ns;
}

static void ns_to_ts(uint64_t ns, struct kts *ts)
{
    ts->sec = (int64_t)(ns / NS);
    ts->nsec = (int64_t)(ns % NS);
}

static long sys_clock_gettime(long clk, struct kts *ts)
{
    uint64_t now = tick();
    switch (clk) {
    case 0:     /* REALTIME */
    case 5:     /* REALTIME_COARSE */
    case 8:     /* REALTIME_ALARM */
    case 11:    /* TAI */
        ns_to_ts(M.clock * NS + now, ts);
        return 0;
    case 1:     /* MONOTONIC */
    case 4:     /* MONOTONIC_RAW */
    case 6:     /* MONOTONIC_COARSE */
    case 7:     /* BOOTTIME */
    case 9:     /* BOOTTIME_ALARM */
        ns_to_ts(NS + now, ts);
        return 0;
    case 2:     /* PROCESS_CPUTIME_ID */
    case 3:     /* THREAD_CPUTIME_ID */
        ns_to_ts(now, ts);
        return 0;
    default:
        return -EINVAL;
    }
}

static long sys_sleep(const struct kts *req, struct kts *rem)
{
    if (req->sec < 0 || req->nsec < 0 || req->nsec >= (int64_t)NS)
        return -EINVAL;
    S.clock_ns += (uint64_t)req->sec * NS + (uint64_t)req->nsec;
    if (rem)
        rem->sec = rem->nsec = 0;
    return 0;
}

/* ---- memory ------------------------------------------------------------- */

static void note_memory_failure(long r)
{
    if (r == -ENOMEM)
        SH->memory_hit = 1;
}

/* Forget [start, end) in the region table (splitting where needed). */
static void regions_remove(uint64_t start, uint64_t end)
{
    int i, j;
    for (i = 0; i < S.nregions; i++) {
        struct region *r = &S.regions[i];
        if (r->end <= start || r->start >= end)
            continue;
        if (r->start < start && r->end > end) {
            if (S.nregions < MAX_REGIONS) {
                memmove(&S.regions[i + 2], &S.regions[i + 1],
                        (size_t)(S.nregions - i - 1) * sizeof(*r));
                S.regions[i + 1].start = end;
                S.regions[i + 1].end = r->end;
                S.nregions++;
            }
            r->end = start;
            return;
        }
        if (r->start < start) {
            r->end = start;
        } else if (r->end > end) {
            r->start = end;
        } else {
            for (j = i; j < S.nregions - 1; j++)
                S.regions[j] = S.regions[j + 1];
            S.nregions--;
            i--;
        }
    }
}

static int regions_add(uint64_t start, uint64_t end)
{
    int i;
    regions_remove(start, end);
    if (S.nregions >= MAX_REGIONS)
        return -1;
    for (i = 0; i < S.nregions && S.regions[i].start < start; i++)
        ;
    memmove(&S.regions[i + 1], &S.regions[i],
            (size_t)(S.nregions - i) * sizeof(S.regions[0]));
    S.regions[i].start = start;
    S.regions[i].end = end;
    S.nregions++;
    return 0;
}

/* Highest free gap of len bytes in the mmap area (first fit, top down). */
static uint64_t find_gap(uint64_t len)
{
    uint64_t top = ZVM_MMAP_TOP;
    int i;
    for (i = S.nregions - 1; i >= 0; i--) {
        if (S.regions[i].end <= top && top - S.regions[i].end >= len)
            return top - len;
        if (S.regions[i].start < top)
            top = S.regions[i].start;
    }
    if (top - ZVM_MMAP_BOTTOM >= len)
        return top - len;
    return 0;
}

static int in_mmap_area(uint64_t a, uint64_t len)
{
    return a >= ZVM_MMAP_BOTTOM && a + len <= ZVM_MMAP_TOP && a + len > a;
}

static int reserved(uint64_t a, uint64_t len)
{
    return a < ZVM_GUEST_LOW || a + len > ZVM_MMAP_TOP || a + len < a;
}

static long sys_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, long off)
{
    const long keep = 0x01 | 0x02 | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE |
                      MAP_STACK;
    long r;
    (void)fd;
    if (!len || len > (1UL << 46))
        return len ? -ENOMEM : -EINVAL;
    len = page_up(len);
    if (!(flags & MAP_ANONYMOUS))
        return -ENODEV;         /* no file mappings: callers fall back to read() */
    if (prot & PROT_EXEC)
        return -EPERM;          /* W^X */
    if (off & (ZVM_PAGE - 1))
        return -EINVAL;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if ((addr & (ZVM_PAGE - 1)) || reserved(addr, len))
            return -EINVAL;
        r = G6(__NR_mmap, addr, len, prot,
               (flags & keep) | (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)), -1, 0);
    } else {
        addr = find_gap(len);
        if (!addr) {
            SH->memory_hit = 1;
            return -ENOMEM;
        }
        r = G6(__NR_mmap, addr, len, prot, (flags & keep) | MAP_FIXED_NOREPLACE, -1, 0);
    }
    if (r < 0) {
        note_memory_failure(r);
        return r;
    }
    if (in_mmap_area((uint64_t)r, len) && regions_add((uint64_t)r, (uint64_t)r + len)) {
        G3(__NR_munmap, r, len, 0);
        return -ENOMEM;
    }
    return r;
}

static long sys_munmap(uint64_t addr, uint64_t len)
{
    long r;
    if ((addr & (ZVM_PAGE - 1)) || !len || reserved(addr, page_up(len)))
        return -EINVAL;
    len = page_up(len);
    r = G3(__NR_munmap, addr, len, 0);
    if (r == 0)
        regions_remove(addr, addr + len);
    return r;
}

static long sys_mremap(uint64_t old, uint64_t oldlen, uint64_t newlen, long flags,
                       uint64_t target)
{
    long r;
    if ((old & (ZVM_PAGE - 1)) || !newlen || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)))
        return -EINVAL;
    oldlen = page_up(oldlen);
    newlen = page_up(newlen);
    if (!oldlen || reserved(old, oldlen))
        return -EINVAL;
    if (flags & MREMAP_FIXED) {
        if (!(flags & MREMAP_MAYMOVE) || (target & (ZVM_PAGE - 1)) ||
            reserved(target, newlen))
            return -EINVAL;
    } else if (newlen <= oldlen) {
        r = G5(__NR_mremap, old, oldlen, newlen, 0, 0);
        if (r >= 0)
            regions_remove(old + newlen, old + oldlen);
        return r;
    } else {
        r = G5(__NR_mremap, old, oldlen, newlen, 0, 0);
        if (r >= 0) {
            if (in_mmap_area(old, newlen))
                regions_add(old, old + newlen);
            return r;
        }
        if (!(flags & MREMAP_MAYMOVE)) {
            note_memory_failure(r);
            return r;
        }
        target = find_gap(newlen);
        if (!target) {
            SH->memory_hit = 1;
            return -ENOMEM;
        }
    }
    r = G5(__NR_mremap, old, oldlen, newlen, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (r < 0) {
        note_memory_failure(r);
        return r;
    }
    regions_remove(old, old + oldlen);
    if (in_mmap_area(target, newlen))
        regions_add(target, target + newlen);
    return r;
}

static long sys_brk(uint64_t want)
{
    uint64_t mapped;
    long r;
    if (want < S.brk_start || want >= ZVM_MMAP_BOTTOM)
        return (long)S.brk_cur;
    mapped = page_up(want);
    if (mapped > S.brk_mapped) {
        r = G6(__NR_mmap, S.brk_mapped, mapped - S.brk_mapped, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (r < 0) {
            note_memory_failure(r);
            return (long)S.brk_cur;
        }
    } else if (mapped < S.brk_mapped) {
        G3(__NR_munmap, mapped, S.brk_mapped - mapped, 0);
    }
    S.brk_mapped = mapped;
    S.brk_cur = want;
    return (long)want;
}

/* ---- the file system ---------------------------------------------------- */

static const char *const dir_path[] = {"/", "/dev", "/dev/in", "/dev/out"};

static int dir_of_channel(int i)
{
    const char *p = M.ch[i].path;
    if (startswith(p, "/dev/in/"))
        return D_IN;
    if (startswith(p, "/dev/out/"))
        return D_OUT;
    return D_DEV;
}

static const char *chan_basename(int i)
{
    const char *p = M.ch[i].path, *b = p;
    for (; *p; p++)
        if (*p == '/')
            b = p + 1;
    return b;
}

static struct node lookup(const char *abs)
{
    struct node nd = {0, 0};
    uint32_t lo = 0, hi = M.nfiles;
    int i;
    for (i = 0; i < 4; i++)
        if (streq(abs, dir_path[i])) {
            nd.kind = V_DIR;
            nd.idx = (uint32_t)i;
            return nd;
        }
    if (startswith(abs, "/dev/")) {
        for (i = 0; i < M.nchannels; i++)
            if (streq(abs, M.ch[i].path)) {
                nd.kind = V_CHAN;
                nd.idx = (uint32_t)i;
                return nd;
            }
        return nd;
    }
    while (lo < hi) {   /* the image entries are sorted (manifest.c) */
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp_u(abs, M.files[mid].path);
        if (!c) {
            nd.kind = M.files[mid].isdir ? V_IDIR : V_IFILE;
            nd.idx = mid;
            return nd;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return nd;
}

static int is_dir(int kind)
{
    return kind == V_DIR || kind == V_IDIR;
}

/* The absolute path of a directory node. */
static const char *dir_name(struct node nd)
{
    return nd.kind == V_IDIR ? M.files[nd.idx].path : dir_path[nd.idx];
}

/* Normalise dirfd + path into an absolute path without ".", ".." or "//". */
static long resolve(long dirfd, const char *path, char *out, size_t cap)
{
    const char *base;
    size_t len = 0, plen = 0;
    if (!path)
        return -EFAULT;
    while (path[plen] && plen < 4096)
        plen++;
    if (plen >= 4096)
        return -ENAMETOOLONG;
    if (!plen)
        return -ENOENT;
    if (path[0] == '/') {
        base = "/";
    } else if (dirfd == AT_FDCWD) {
        base = dir_name(S.cwd);
    } else if (dirfd < 0 || dirfd >= ZVM_MAX_VFDS || S.fd[dirfd].kind == V_FREE) {
        return -EBADF;
    } else if (!is_dir(S.fd[dirfd].kind)) {
        return -ENOTDIR;
    } else {
        struct node d = {S.fd[dirfd].kind, S.fd[dirfd].idx};
        base = dir_name(d);
    }
    /* Walk base then path, component by component. */
    out[len++] = '/';
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? path : base;
        while (*p) {
            const char *c;
            size_t n;
            while (*p == '/')
                p++;
            c = p;
            while (*p && *p != '/')
                p++;
            n = (size_t)(p - c);
            if (n == 0 || (n == 1 && c[0] == '.'))
                continue;
            if (n == 2 && c[0] == '.' && c[1] == '.') {
                while (len > 1 && out[len - 1] != '/')
                    len--;
                if (len > 1)
                    len--;
                continue;
            }
            if (len + n + 2 >= cap)
                return -ENAMETOOLONG;
            if (len > 1)
                out[len++] = '/';
            memcpy(out + len, c, n);
            len += n;
        }
    }
    out[len] = 0;
    return 0;
}

static long vfd_alloc(int lowest, struct vfd v)
{
    int i;
    for (i = lowest; i < ZVM_MAX_VFDS; i++)
        if (S.fd[i].kind == V_FREE) {
            S.fd[i] = v;
            return i;
        }
    return -EMFILE;
}

static struct vfd *vfd_get(long fd)
{
    if (fd < 0 || fd >= ZVM_MAX_VFDS || S.fd[fd].kind == V_FREE)
        return 0;
    return &S.fd[fd];
}

static long sys_openat(long dirfd, const char *path, long flags)
{
    char abs[ZVM_MAX_PATH + 8];
    struct node nd;
    struct vfd v = {0, 0, 0, 0};
    long r = resolve((int)dirfd, path, abs, sizeof(abs));
    int acc = (int)(flags & O_ACCMODE);
    if (r)
        return r;
    nd = lookup(abs);
    if (!nd.kind) {
        /* Creating a file in one of the image's directories: read-only. */
        if (flags & O_CREAT) {
            char *slash = abs + strlen(abs);
            while (slash > abs && *slash != '/')
                slash--;
            *slash = 0;
            if (slash > abs && lookup(abs).kind == V_IDIR)
                return -EROFS;
        }
        return -ENOENT;
    }
    if ((flags & O_CREAT) && (flags & O_EXCL))
        return -EEXIST;
    if (is_dir(nd.kind)) {
        if (acc != 0)
            return -EISDIR;
    } else if (nd.kind == V_IFILE) {
        if (flags & O_DIRECTORY)
            return -ENOTDIR;
        if (acc != 0 || (flags & O_TRUNC))
            return -EROFS;
    } else {
        if (flags & O_DIRECTORY)
            return -ENOTDIR;
        if (M.ch[nd.idx].mode == CH_READ ? acc != 0 : acc != O_WRONLY)
            return -EACCES;
    }
    v.kind = (uint8_t)nd.kind;
    v.idx = nd.idx;
    v.cloexec = (flags & O_CLOEXEC) ? 1 : 0;
    return vfd_alloc(0, v);
}

struct kstat {
    uint64_t dev, ino, nlink;
    uint32_t mode, uid, gid, pad0;
    uint64_t rdev;
    int64_t size, blksize, blocks;
    uint64_t atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns;
    int64_t reserved[3];
};

static void fill_stat(struct node nd, struct kstat *st)
{
    memset(st, 0, sizeof(*st));
    st->dev = 0x7a;
    st->nlink = 1;
    st->uid = st->gid = GUEST_ID;
    st->blksize = 65536;
    st->atime = st->mtime = st->ctime = M.clock;
    if (nd.kind == V_DIR) {
        st->ino = 1 + (uint64_t)nd.idx;
        st->mode = S_IFDIR | 0555;
        st->nlink = 2;
    } else if (nd.kind == V_IDIR || nd.kind == V_IFILE) {
        const struct fentry *f = &M.files[nd.idx];
        st->ino = IMAGE_INO + (uint64_t)nd.idx;
        st->mode = (f->isdir ? S_IFDIR : S_IFREG) | (f->perm & 07555u);
        st->nlink = f->isdir ? 2 : 1;
        st->size = f->isdir ? 0 : (int64_t)f->size;
        st->blocks = (st->size + 511) / 512;
    } else {
        st->ino = 16 + (uint64_t)nd.idx;
        st->mode = S_IFIFO | (M.ch[nd.idx].mode == CH_READ ? 0444 : 0222);
    }
}

static long sys_fstatat(long dirfd, const char *path, struct kstat *st, long flags)
{
    char abs[ZVM_MAX_PATH + 8];
    struct node nd;
    long r;
    dirfd = (int)dirfd;     /* an int in the ABI: AT_FDCWD arrives zero-extended */
    if ((flags & AT_EMPTY_PATH) && path && !path[0]) {
        struct vfd *v;
        if (dirfd == AT_FDCWD) {
            nd = S.cwd;
        } else {
            if (!(v = vfd_get(dirfd)))
                return -EBADF;
            nd.kind = v->kind;
            nd.idx = v->idx;
        }
    } else {
        r = resolve(dirfd, path, abs, sizeof(abs));
        if (r)
            return r;
        nd = lookup(abs);
        if (!nd.kind)
            return -ENOENT;
    }
    fill_stat(nd, st);
    return 0;
}

static long sys_faccessat(long dirfd, const char *path, long mode)
{
    char abs[ZVM_MAX_PATH + 8];
    struct node nd;
    long r = resolve((int)dirfd, path, abs, sizeof(abs));
    if (r)
        return r;
    nd = lookup(abs);
    if (!nd.kind)
        return -ENOENT;
    if (nd.kind == V_CHAN) {
        if ((mode & 1) || ((mode & 2) && M.ch[nd.idx].mode == CH_READ) ||
            ((mode & 4) && M.ch[nd.idx].mode == CH_WRITE))
            return -EACCES;
    } else if (nd.kind == V_IFILE || nd.kind == V_IDIR) {
        if (mode & 2)
            return -EROFS;
        if ((mode & 1) && !(M.files[nd.idx].perm & 0111))
            return -EACCES;
    } else if (mode & 2) {
        return -EACCES;
    }
    return 0;
}

/* The entry at cursor *pos of directory d ("." and "..", then its
 * children), advancing the cursor; 0 at the end.  For "/" and the image's
 * directories the cursor after the fixed names is 3 + the index of the
 * next image entry, following the sibling links (manifest.c). */
static int dir_next(struct node d, uint64_t *pos, const char **name, uint8_t *type,
                    uint64_t *ino)
{
    uint64_t i = *pos;
    int c;
    *ino = d.kind == V_IDIR ? IMAGE_INO + d.idx : 1 + (uint64_t)d.idx;
    if (i == 0 || i == 1) {
        *name = i ? ".." : ".";
        *type = 4;      /* DT_DIR */
        *pos = i + 1;
        return 1;
    }
    if (d.kind == V_IDIR || d.idx == D_ROOT) {
        if (i == 2) {
            uint32_t first = d.kind == V_IDIR ? M.files[d.idx].first_child : M.root_first;
            if (d.kind == V_DIR) {  /* "/": dev first */
                *name = "dev";
                *type = 4;
                *ino = 1 + D_DEV;
                *pos = 3 + (uint64_t)first;
                return 1;
            }
            i = 3 + (uint64_t)first;
        }
        if (i - 3 >= M.nfiles)
            return 0;
        {
            const struct fentry *f = &M.files[i - 3];
            const char *b = f->path, *p;
            for (p = b; *p; p++)
                if (*p == '/')
                    b = p + 1;
            *name = b;
            *type = f->isdir ? 4 : 8;   /* DT_DIR, DT_REG */
            *ino = IMAGE_INO + (i - 3);
            *pos = 3 + (uint64_t)f->next_sibling;
            return 1;
        }
    }
    i -= 2;
    if (d.idx == D_DEV) {
        if (i < 2) {
            *name = i ? "out" : "in";
            *type = 4;
            *ino = 1 + (uint64_t)(i ? D_OUT : D_IN);
            *pos += 1;
            return 1;
        }
        i -= 2;
    }
    for (c = 0; c < M.nchannels; c++) {
        if (dir_of_channel(c) != (int)d.idx)
            continue;
        if (i-- == 0) {
            *name = chan_basename(c);
            *type = 1;  /* DT_FIFO */
            *ino = 16 + (uint64_t)c;
            *pos += 1;
            return 1;
        }
    }
    return 0;
}

static long sys_getdents64(long fd, char *buf, uint64_t cap)
{
    struct vfd *v = vfd_get(fd);
    uint64_t used = 0;
    if (!v)
        return -EBADF;
    if (!is_dir(v->kind))
        return -ENOTDIR;
    for (;;) {
        const char *name;
        uint8_t type;
        uint64_t ino, next = v->pos;
        size_t nlen, reclen;
        struct node d = {v->kind, v->idx};
        if (!dir_next(d, &next, &name, &type, &ino))
            break;
        nlen = strlen(name);
        reclen = (19 + nlen + 1 + 7) & ~(size_t)7;
        if (used + reclen > cap) {
            if (!used)
                return -EINVAL;
            break;
        }
        memset(buf + used, 0, reclen);
        memcpy(buf + used, &ino, 8);
        {
            int64_t off = (int64_t)next;
            uint16_t rl = (uint16_t)reclen;
            memcpy(buf + used + 8, &off, 8);
            memcpy(buf + used + 16, &rl, 2);
        }
        buf[used + 18] = (char)type;
        memcpy(buf + used + 19, name, nlen);
        used += reclen;
        v->pos = next;
    }
    return (long)used;
}

/* ---- channel I/O -------------------------------------------------------- */

/* A host fd may be non-blocking (a shared terminal or pipe): wait for it
 * instead of spinning. */
static void wait_fd(int c, short events)
{
    struct kpollfd_w {
        int fd;
        short events, revents;
    } p = {ZVM_FD_BASE + c, events, 0};
    G3(__NR_poll, &p, 1, -1);
}

static long chan_read(int c, char *buf, uint64_t n)
{
    struct chan_stats *st = &SH->st[c];
    uint64_t got = 0;
    if (M.ch[c].limit) {
        uint64_t left = M.ch[c].limit > st->bytes_read ? M.ch[c].limit - st->bytes_read : 0;
        if (n && !left)
            return -EDQUOT;
        if (n > left)
            n = left;
    }
    /* Fill the whole buffer unless EOF comes first: short reads from pipes
     * would otherwise expose the writer's timing. */
    while (got < n) {
        long r = G3(__NR_read, ZVM_FD_BASE + c, buf + got, n - got);
        if (r == -EAGAIN)
            wait_fd(c, 0x001 /* POLLIN */);
        if (r == -EINTR || r == -EAGAIN)
            continue;
        if (r < 0) {
            if (!got)
                return r;
            break;
        }
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    st->bytes_read += got;
    return (long)got;
}

static long chan_write(int c, const char *buf, uint64_t n)
{
    struct chan_stats *st = &SH->st[c];
    uint64_t done = 0;
    while (done < n) {
        long r = G3(__NR_write, ZVM_FD_BASE + c, buf + done, n - done);
        if (r == -EAGAIN)
            wait_fd(c, 0x004 /* POLLOUT */);
        if (r == -EINTR || r == -EAGAIN)
            continue;
        if (r == -EPIPE)
            S.sigpipe_raised = 1;   /* the kernel queued a SIGPIPE too */
        if (r < 0) {
            if (!done)
                return r;
            break;
        }
        done += (uint64_t)r;
    }
    st->bytes_written += done;
    return (long)done;
}

/* The channel behind fd for the given direction, or a negative errno. */
static long io_chan(long fd, int mode)
{
    struct vfd *v = vfd_get(fd);
    if (!v)
        return -EBADF;
    if (is_dir(v->kind))
        return mode == CH_READ ? -EISDIR : -EBADF;
    if (v->kind == V_IFILE || M.ch[v->idx].mode != mode)
        return -EBADF;
    return v->idx;
}

/* Up to n bytes of image file e at offset at: a pread of its image, whole
 * unless the file ends first. */
static long file_pread(uint32_t e, char *buf, uint64_t n, uint64_t at)
{
    const struct fentry *f = &M.files[e];
    uint64_t got = 0;
    if (at >= f->size)
        return 0;
    if (n > f->size - at)
        n = f->size - at;
    while (got < n) {
        long r = G5(__NR_pread64, ZVM_FD_BASE + f->chan, buf + got, n - got,
                    f->off + at + got, 0);
        if (r == -EINTR)
            continue;
        if (r < 0) {
            if (!got)
                return r;
            break;
        }
        if (r == 0)
            break;      /* the image is shorter than its index said */
        got += (uint64_t)r;
    }
    SH->st[f->chan].bytes_read += got;
    return (long)got;
}

/* An image file's fd, or 0. */
static struct vfd *vfd_file(long fd)
{
    struct vfd *v = vfd_get(fd);
    return v && v->kind == V_IFILE ? v : 0;
}

struct kiovec {
    char *base;
    uint64_t len;
};

/* readv/preadv of image file e from *at, which advances. */
static long file_readv(uint32_t e, const struct kiovec *iov, long cnt, uint64_t *at)
{
    long total = 0, r;
    int i;
    if (cnt < 0 || cnt > 1024)
        return -EINVAL;
    SH->st[M.files[e].chan].reads++;
    for (i = 0; i < cnt; i++) {
        if (!iov[i].len)
            continue;
        r = file_pread(e, iov[i].base, iov[i].len, *at);
        if (r < 0)
            return total ? total : r;
        total += r;
        *at += (uint64_t)r;
        if ((uint64_t)r < iov[i].len)
            break;
    }
    return total;
}

static long file_rw(struct vfd *v, char *buf, uint64_t n, int mode)
{
    long r;
    if (mode != CH_READ)
        return -EBADF;
    SH->st[M.files[v->idx].chan].reads++;
    r = file_pread(v->idx, buf, n, v->pos);
    if (r > 0)
        v->pos += (uint64_t)r;
    return r;
}

static long sys_rw(long fd, char *buf, uint64_t n, int mode)
{
    struct vfd *f = vfd_file(fd);
    long c;
    if (f)
        return file_rw(f, buf, n, mode);
    c = io_chan(fd, mode);
    if (c < 0)
        return c;
    if (mode == CH_READ) {
        SH->st[c].reads++;
        return chan_read((int)c, buf, n);
    }
    SH->st[c].writes++;
    return chan_write((int)c, buf, n);
}

static long sys_rwv(long fd, const struct kiovec *iov, long cnt, int mode)
{
    struct vfd *f = vfd_file(fd);
    long c = f ? 0 : io_chan(fd, mode), total = 0, r;
    int i;
    if (c < 0)
        return c;
    if (cnt < 0 || cnt > 1024)
        return -EINVAL;
    if (f)
        return mode == CH_READ ? file_readv(f->idx, iov, cnt, &f->pos) : -EBADF;
    if (mode == CH_READ)
        SH->st[c].reads++;
    else
        SH->st[c].writes++;
    for (i = 0; i < cnt; i++) {
        if (!iov[i].len)
            continue;
        r = mode == CH_READ ? chan_read((int)c, iov[i].base, iov[i].len)
                            : chan_write((int)c, iov[i].base, iov[i].len);
        if (r < 0)
            return total ? total : r;
        total += r;
        if ((uint64_t)r < iov[i].len)
            break;
    }
    return total;
}

static long sys_dup(long old, long want, long flags, int exact)
{
    struct vfd *v = vfd_get(old), copy;
    if (!v)
        return -EBADF;
    copy = *v;
    copy.cloexec = (flags & O_CLOEXEC) ? 1 : 0;
    if (copy.kind != V_IFILE)
        copy.pos = 0;   /* a file's copy keeps (but does not share) the offset */
    if (exact) {
        if (want < 0 || want >= ZVM_MAX_VFDS)
            return -EBADF;
        if (want == old)
            return want;
        S.fd[want] = copy;
        return want;
    }
    if (want < 0 || want >= ZVM_MAX_VFDS)
        return -EINVAL;
    return vfd_alloc((int)want, copy);
}

static long sys_fcntl(long fd, long cmd, long arg)
{
    struct vfd *v = vfd_get(fd);
    if (!v)
        return -EBADF;
    switch (cmd) {
    case F_DUPFD:
        return sys_dup(fd, arg, 0, 0);
    case F_DUPFD_CLOEXEC:
        return sys_dup(fd, arg, O_CLOEXEC, 0);
    case F_GETFD:
        return v->cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
        v->cloexec = (arg & FD_CLOEXEC) ? 1 : 0;
        return 0;
    case F_GETFL:
        if (is_dir(v->kind))
            return O_DIRECTORY;
        if (v->kind == V_IFILE)
            return 0;
        return M.ch[v->idx].mode == CH_READ ? 0 : O_WRONLY;
    case F_SETFL:
        return 0;
    default:
        return -EINVAL;
    }
}

struct kpollfd {
    int fd;
    short events, revents;
};

static long sys_poll(struct kpollfd *fds, uint64_t n)
{
    long ready = 0;
    uint64_t i;
    if (n > ZVM_MAX_VFDS)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        struct vfd *v;
        short ev = fds[i].events;
        fds[i].revents = 0;
        if (fds[i].fd < 0)
            continue;
        v = vfd_get(fds[i].fd);
        if (!v)
            fds[i].revents = POLLNVAL;
        else if (v->kind != V_CHAN || M.ch[v->idx].mode == CH_READ)
            fds[i].revents = ev & (POLLIN | POLLRDNORM);
        else
            fds[i].revents = ev & (POLLOUT | POLLWRNORM);
        if (fds[i].revents)
            ready++;
    }
    return ready;
}

/* ---- identity ------------------------------------------------------------ */

static void put_field(char *dst, const char *s)
{
    memset(dst, 0, 65);
    memcpy(dst, s, strlen(s));
}

static long sys_uname(char *u)
{
    put_field(u + 0 * 65, "Linux");
    put_field(u + 1 * 65, "zerocloud");
    put_field(u + 2 * 65, "6.1.0-zerocloud");
    put_field(u + 3 * 65, "#1 SMP zerocloud");
    put_field(u + 4 * 65, "x86_64");
    put_field(u + 5 * 65, "(none)");
    return 0;
}

static long sys_prlimit(long pid, long res, const void *newl, uint64_t *old)
{
    uint64_t cur = RLIM_INFINITY;
    if (pid != 0 && pid != 1)
        return -ESRCH;
    if (res < 0 || res > 15)
        return -EINVAL;
    if (newl)
        return -EPERM;
    switch (res) {
    case 0:  cur = M.cpu_seconds ? M.cpu_seconds : RLIM_INFINITY; break;   /* CPU */
    case 2:  /* DATA */
    case 9:  cur = M.memory; break;                                        /* AS */
    case 3:  cur = ZVM_STACK_SIZE; break;                                  /* STACK */
    case 4:  cur = 0; break;                                               /* CORE */
    case 7:  cur = ZVM_MAX_VFDS; break;                                    /* NOFILE */
    }
    if (old) {
        old[0] = cur;
        old[1] = cur;
    }
    return 0;
}

static long sys_kill(long target, long sig)
{
    if (target != 1 && target != 0)
        return -ESRCH;
    if (sig < 0 || sig > 64)
        return -EINVAL;
    if (sig == 0)
        return 0;
    if (sig == SIGSYS_NR || sig == 19 || sig == 20 || sig == 21 || sig == 22)
        return -EPERM;  /* SIGSYS is the shim's; no stopping */
    if (sig == 17 || sig == 18 || sig == 23 || sig == 28)
        return 0;       /* CHLD, CONT, URG, WINCH: ignored by default */
    if (sig == SIGPIPE_NR) {
        if (S.sigpipe_handler == SIG_IGN_VALUE)
            return 0;
        S.sigpipe_raised = 1;
    }
    return G3(__NR_tgkill, S.real_pid, S.real_pid, sig);
}

/* ---- dispatch ------------------------------------------------------------- */

static long emulate(long nr, long a, long b, long c, long d, long e, long f)
{
    switch (nr) {
    case __NR_read: return sys_rw(a, (char *)b, (uint64_t)c, CH_READ);
    case __NR_write: return sys_rw(a, (char *)b, (uint64_t)c, CH_WRITE);
    case __NR_readv: return sys_rwv(a, (const struct kiovec *)b, c, CH_READ);
    case __NR_writev: return sys_rwv(a, (const struct kiovec *)b, c, CH_WRITE);
    case __NR_pread64:
        if (vfd_file(a)) {
            if (d < 0)
                return -EINVAL;
            SH->st[M.files[S.fd[a].idx].chan].reads++;
            return file_pread(S.fd[a].idx, (char *)b, (uint64_t)c, (uint64_t)d);
        }
        /* fall through */
    case __NR_preadv:
    case __NR_preadv2:
        if (nr != __NR_pread64 && vfd_file(a)) {
            uint64_t at = (uint64_t)d;
            if (d < 0)
                return -EINVAL;
            if (nr == __NR_preadv2 && f)
                return -EOPNOTSUPP;
            return file_readv(S.fd[a].idx, (const struct kiovec *)b, c, &at);
        }
        /* fall through */
    case __NR_pwrite64:
    case __NR_pwritev:
    case __NR_pwritev2: {
        struct vfd *v = vfd_get(a);
        return !v ? -EBADF : is_dir(v->kind) ? -EISDIR : v->kind == V_IFILE ? -EBADF : -ESPIPE;
    }
    case __NR_lseek: {
        struct vfd *v = vfd_get(a);
        if (!v)
            return -EBADF;
        if (v->kind == V_IFILE) {
            int64_t base = c == 0 ? 0 : c == 1 ? (int64_t)v->pos :
                           c == 2 ? (int64_t)M.files[v->idx].size : -1, at;
            /* Offsets stay within [0, 2^62], as sizes do (manifest.c). */
            if (c < 0 || c > 2 || __builtin_add_overflow(base, (int64_t)b, &at) ||
                at < 0 || at > (1L << 62))
                return -EINVAL;
            v->pos = (uint64_t)at;
            return (long)v->pos;
        }
        if (is_dir(v->kind) && b == 0 && c == 0) {
            v->pos = 0;     /* rewinddir */
            return 0;
        }
        return is_dir(v->kind) ? -EINVAL : -ESPIPE;
    }
    case __NR_open: return sys_openat(AT_FDCWD, (const char *)a, b);
    case __NR_openat: return sys_openat(a, (const char *)b, c);
    case __NR_creat: return sys_openat(AT_FDCWD, (const char *)a, O_CREAT | O_WRONLY);
    case __NR_close:
        if (!vfd_get(a))
            return -EBADF;
        S.fd[a].kind = V_FREE;
        return 0;
    case __NR_dup: return sys_dup(a, 0, 0, 0);
    case __NR_dup2: return sys_dup(a, b, 0, 1);
    case __NR_dup3:
        if (a == b)
            return -EINVAL;
        return sys_dup(a, b, c, 1);
    case __NR_fcntl: return sys_fcntl(a, b, c);
    case __NR_fstat: return sys_fstatat(a, "", (struct kstat *)b, AT_EMPTY_PATH);
    case __NR_stat:
    case __NR_lstat: return sys_fstatat(AT_FDCWD, (const char *)a, (struct kstat *)b, 0);
    case __NR_newfstatat: return sys_fstatat(a, (const char *)b, (struct kstat *)c, d);
    case __NR_access: return sys_faccessat(AT_FDCWD, (const char *)a, b);
    case __NR_faccessat:
    case __NR_faccessat2: return sys_faccessat(a, (const char *)b, c);
    case __NR_getdents64: return sys_getdents64(a, (char *)b, (uint64_t)c);
    case __NR_ioctl: return vfd_get(a) ? -ENOTTY : -EBADF;
    case __NR_poll: return sys_poll((struct kpollfd *)a, (uint64_t)b);
    case __NR_ppoll: return sys_poll((struct kpollfd *)a, (uint64_t)b);
    case __NR_fsync:
    case __NR_fdatasync:
    case __NR_fadvise64: return vfd_get(a) ? 0 : -EBADF;
    case __NR_readlink:
    case __NR_readlinkat: return -ENOENT;
    case __NR_getcwd: {
        const char *cwd = dir_name(S.cwd);
        uint64_t n = strlen(cwd) + 1;
        if ((uint64_t)b < n)
            return -ERANGE;
        memcpy((char *)a, cwd, n);
        return (long)n;
    }
    case __NR_chdir: {
        char abs[ZVM_MAX_PATH + 8];
        struct node nd;
        long r = resolve(AT_FDCWD, (const char *)a, abs, sizeof(abs));
        if (r)
            return r;
        nd = lookup(abs);
        if (!nd.kind)
            return -ENOENT;
        if (!is_dir(nd.kind))
            return -ENOTDIR;
        S.cwd = nd;
        return 0;
    }
    case __NR_fchdir: {
        struct vfd *v = vfd_get(a);
        if (!v)
            return -EBADF;
        if (!is_dir(v->kind))
            return -ENOTDIR;
        S.cwd.kind = v->kind;
        S.cwd.idx = v->idx;
        return 0;
    }
    case __NR_umask: return 022;

    case __NR_brk: return sys_brk((uint64_t)a);
    case __NR_mmap: return sys_mmap((uint64_t)a, (uint64_t)b, c, d, e, f);
    case __NR_munmap: return sys_munmap((uint64_t)a, (uint64_t)b);
    case __NR_mremap: return sys_mremap((uint64_t)a, (uint64_t)b, (uint64_t)c, d, (uint64_t)e);
    case __NR_mprotect: return -EPERM;          /* only PROT_EXEC requests trap here */
    case __NR_arch_prctl: return -EPERM;        /* only ARCH_SET_FS passes the policy */

    case __NR_clock_gettime: return sys_clock_gettime(a, (struct kts *)b);
    case __NR_clock_getres:
        if (a < 0 || a > 11)
            return -EINVAL;
        if (b) {
            ((struct kts *)b)->sec = 0;
            ((struct kts *)b)->nsec = 1;
        }
        return 0;
    case __NR_gettimeofday:
        if (a) {
            uint64_t now = M.clock * NS + tick();
            ((int64_t *)a)[0] = (int64_t)(now / NS);
            ((int64_t *)a)[1] = (int64_t)(now % NS / 1000);
        }
        if (b)
            memset((void *)b, 0, 8);
        return 0;
    case __NR_time: {
        int64_t t = (int64_t)((M.clock * NS + tick()) / NS);
        if (a)
            *(int64_t *)a = t;
        return t;
    }
    case __NR_nanosleep: return sys_sleep((const struct kts *)a, (struct kts *)b);
    case __NR_clock_nanosleep:
        if (b & 1) {    /* TIMER_ABSTIME: jump the clock forward to the target */
            struct kts now;
            const struct kts *t = (const struct kts *)c;
            long r = sys_clock_gettime(a, &now);
            uint64_t tn, nn;
            if (r)
                return r;
            tn = (uint64_t)t->sec * NS + (uint64_t)t->nsec;
            nn = (uint64_t)now.sec * NS + (uint64_t)now.nsec;
            if (tn > nn)
                S.clock_ns += tn - nn;
            return 0;
        }
        return sys_sleep((const struct kts *)c, (struct kts *)d);
    case __NR_getrandom:
        prng_bytes((void *)a, (size_t)b);
        return b;

    case __NR_uname: return sys_uname((char *)a);
    case __NR_getpid:
    case __NR_gettid:
    case __NR_getpgrp:
    case __NR_getpgid:
    case __NR_getsid: return 1;
    case __NR_getppid: return 0;
    case __NR_getuid:
    case __NR_geteuid:
    case __NR_getgid:
    case __NR_getegid: return GUEST_ID;
    case __NR_getgroups: return 0;
    case __NR_set_tid_address: return 1;
    case __NR_set_robust_list: return 0;
    case __NR_sched_yield: return 0;
    case __NR_sched_getaffinity:
        if ((uint64_t)b < 8)
            return -EINVAL;
        memset((void *)c, 0, (size_t)b);
        *(unsigned char *)c = 1;
        return 8;
    case __NR_prlimit64: return sys_prlimit(a, b, (const void *)c, (uint64_t *)d);
    case __NR_getrlimit: return sys_prlimit(0, a, 0, (uint64_t *)b);
    case __NR_setrlimit: return -EPERM;
    case __NR_getrusage:
        memset((void *)b, 0, 144);
        return 0;
    case __NR_futex:
        return (b & 0x7f) == 1 ? 0 : -EAGAIN;  /* WAKE: nobody; WAIT: nobody will wake */
    case __NR_rt_sigaction:
        if (a == SIGSYS_NR)
            return -EINVAL;     /* SIGSYS belongs to the shim */
        if (a < 1 || a > 64 || a == 9 || a == 19)
            return -EINVAL;
        if (c)
            memset((void *)c, 0, 32);
        if (a == SIGPIPE_NR) {  /* remembered: SIG_IGN turns EPIPE's kill off */
            if (c)
                *(uint64_t *)c = S.sigpipe_handler;
            if (b)
                S.sigpipe_handler = *(const uint64_t *)b;
        }
        return 0;               /* accepted, never delivered: signals only kill */
    case __NR_sigaltstack:
        if (b) {
            memset((void *)b, 0, 24);
            ((int *)b)[2] = 2;  /* SS_DISABLE */
        }
        return 0;
    case __NR_rt_sigprocmask:
        /* Virtual: a real mask with SIGSYS blocked would turn the next
         * trapped call into a kill.  Signals only ever kill the guest, so
         * the mask has nothing else to do. */
        if (d != 8)
            return -EINVAL;
        if (c)
            *(uint64_t *)c = S.sigmask;
        if (b) {
            uint64_t set = *(const uint64_t *)b;
            if (a == 0)
                S.sigmask |= set;
            else if (a == 1)
                S.sigmask &= ~set;
            else if (a == 2)
                S.sigmask = set;
            else
                return -EINVAL;
        }
        return 0;
    case __NR_kill: return sys_kill(a, b);
    case __NR_tkill: return sys_kill(a, b);
    case __NR_tgkill: return a == 1 && b == 1 ? sys_kill(1, c) : -ESRCH;
    default:
        return -ENOSYS;
    }
}

void shim_sigsys(int sig, void *info, void *uctx)
{
    struct kucontext *uc = uctx;
    struct sigcontext *r = &uc->mc;
    int nr = *(int *)((char *)info + 24);     /* si_syscall */
    (void)sig;
    S.sigpipe_raised = 0;
    r->rax = (uint64_t)emulate(nr, (long)r->rdi, (long)r->rsi, (long)r->rdx,
                               (long)r->r10, (long)r->r8, (long)r->r9);
    /* The real SIGPIPE disposition stays SIG_DFL and the handler runs with
     * every signal blocked, so a SIGPIPE raised during the call is pending
     * now.  The real mask rt_sigreturn restores decides its fate: unblocked
     * it kills the guest as SIG_DFL should; blocked it stays pending and
     * harmless, as SIG_IGN should (a later SIGPIPE under SIG_DFL unblocks
     * it and kills).  Only SIGPIPE's bit is touched. */
    if (S.sigpipe_raised) {
        if (S.sigpipe_handler == SIG_IGN_VALUE)
            uc->sigmask |= 1ULL << (SIGPIPE_NR - 1);
        else
            uc->sigmask &= ~(1ULL << (SIGPIPE_NR - 1));
    }
}

void shim_init(const struct loaded *ld)
{
    int i;
    memset(S.fd, 0, sizeof(S.fd));
    S.cwd.kind = V_DIR;
    S.cwd.idx = D_ROOT;
    S.brk_start = S.brk_cur = S.brk_mapped = ld->load_end;
    S.clock_ns = 0;
    S.nregions = 0;
    S.real_pid = SC0(__NR_getpid);
    /* fds 0, 1, 2 are the standard channels when the manifest has them. */
    for (i = 0; i < M.nchannels; i++) {
        int fd = streq(M.ch[i].path, "/dev/stdin") ? 0 :
                 streq(M.ch[i].path, "/dev/stdout") ? 1 :
                 streq(M.ch[i].path, "/dev/stderr") ? 2 : -1;
        if (fd >= 0) {
            S.fd[fd].kind = V_CHAN;
            S.fd[fd].idx = (uint32_t)i;
        }
    }
}
