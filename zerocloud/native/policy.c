/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * policy.c -- the seccomp-bpf policy: an allowlist, default deny.
 *
 * Reviewed like code.  One syscall per line, a comment on every argument
 * check.  Argument checks look at the low 32 bits: every checked argument is
 * an `int` in the kernel's prototype, so the high half is ignored there too.
 *
 * Shape of the filter (kept short: nothing after the instruction-pointer test
 * is cacheable, so the kernel's install-time pre-evaluation stops early):
 *
 *   arch != x86-64                     -> kill   (int 0x80 / i386 ABI)
 *   nr >= 0x40000000                   -> kill   (x32 ABI)
 *   called from zvm_gadget (the shim)  -> SHIM rules, else kill
 *   called from anywhere else (guest)  -> GUEST rules, else trap
 *
 * rt_sigprocmask is deliberately not in GUEST: a forced SIGSYS that finds
 * itself blocked reverts to SIG_DFL and kills, so the shim keeps a virtual
 * mask instead.
 *
 * A trapped call raises SIGSYS; the shim (shim.c) emulates it
 * deterministically or answers ENOSYS.  The shim's own calls leave through
 * the one syscall instruction in zvm_gadget, recognised by its address.  A
 * guest that jumps to that instruction gains nothing beyond SHIM: fd I/O on
 * its channels and non-executable anonymous memory.
 */
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/mman.h>
#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/prctl.h>

#include "zvm.h"

enum check { NONE, EQ, BITS_CLEAR, BITS_SET };

struct rule {
    int nr;
    enum check c1;      /* first argument check */
    int a1;
    uint32_t v1;
    enum check c2;      /* second argument check, all must pass */
    int a2;
    uint32_t v2;
};

#define ALLOW_ALWAYS(nr) {nr, NONE, 0, 0, NONE, 0, 0}
#define ALLOW_IF(nr, c, a, v) {nr, c, a, v, NONE, 0, 0}
#define ALLOW_IF2(nr, c, a, v, d, b, w) {nr, c, a, v, d, b, w}

/* GUEST: straight through the kernel, no trap.  Anything else traps. */
static const struct rule guest_rules[] = {
    ALLOW_ALWAYS(__NR_exit),
    ALLOW_ALWAYS(__NR_exit_group),
    ALLOW_ALWAYS(__NR_rt_sigreturn),          /* leaves the SIGSYS handler */
    ALLOW_ALWAYS(__NR_madvise),               /* advice only; DONTNEED zeroes the guest's own pages */
    ALLOW_IF(__NR_arch_prctl, EQ, 0, ARCH_SET_FS),       /* TLS base only: no SET_GS, no CPUID games */
    ALLOW_IF(__NR_mprotect, BITS_CLEAR, 2, PROT_EXEC),   /* W^X: memory never becomes executable */
};

/* SHIM: what the SIGSYS handler itself needs; anything else kills. */
static const struct rule shim_rules[] = {
    ALLOW_ALWAYS(__NR_read),                  /* channel input (the only fds open are channels) */
    ALLOW_ALWAYS(__NR_write),                 /* channel output (relayed and capped by the supervisor) */
    ALLOW_ALWAYS(__NR_pread64),               /* image files: reads at an offset of a read channel */
    ALLOW_ALWAYS(__NR_close),                 /* the start-up status fd, once */
    ALLOW_ALWAYS(__NR_poll),                  /* waiting on a non-blocking host fd */
    ALLOW_IF2(__NR_mmap,
              BITS_CLEAR, 2, PROT_EXEC,       /* never executable */
              BITS_SET, 3, MAP_ANONYMOUS),    /* never a file */
    ALLOW_ALWAYS(__NR_munmap),
    ALLOW_ALWAYS(__NR_mremap),                /* keeps the old mapping's (non-exec) protection */
    ALLOW_IF(__NR_mprotect, BITS_CLEAR, 2, PROT_EXEC),   /* W^X */
    ALLOW_ALWAYS(__NR_exit_group),            /* the shim gives up on a corrupted guest */
    ALLOW_IF(__NR_tgkill, EQ, 0, 0),          /* raise(): own pid only (value patched at install) */
};

#define MAX_INSNS 128
static struct sock_filter prog[MAX_INSNS];
static int n;

static void emit(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
    if (n < MAX_INSNS) {
        prog[n].code = code;
        prog[n].jt = jt;
        prog[n].jf = jf;
        prog[n].k = k;
    }
    n++;
}

#define LD(off) emit(BPF_LD | BPF_W | BPF_ABS, (off), 0, 0)
#define RET(v) emit(BPF_RET | BPF_K, (v), 0, 0)
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))

static int body_len(const struct rule *r)
{
    if (r->c1 == NONE)
        return 0;
    /* jeq nr, (ld arg, jump) per check, ret allow, ret fail */
    return 1 + 2 + (r->c2 != NONE ? 2 : 0) + 2;
}

/* A rule with argument checks: if nr matches, check, ALLOW or `fail`. */
static void emit_checked(const struct rule *r, uint32_t fail, uint32_t self_pid)
{
    int body = body_len(r) - 1;     /* after the jeq */
    const enum check cs[2] = {r->c1, r->c2};
    const int as[2] = {r->a1, r->a2};
    uint32_t vs[2] = {r->v1, r->v2};
    int i, pos = 0;

    if (r->nr == __NR_tgkill)
        vs[0] = self_pid;
    emit(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, (uint8_t)body);
    for (i = 0; i < 2; i++) {
        uint8_t to_fail;
        if (cs[i] == NONE)
            continue;
        LD(ARG_LO(as[i]));
        pos += 2;
        to_fail = (uint8_t)(body - 1 - pos);     /* the fail RET is last */
        if (cs[i] == EQ)
            emit(BPF_JMP | BPF_JEQ | BPF_K, vs[i], 0, to_fail);
        else if (cs[i] == BITS_CLEAR)
            emit(BPF_JMP | BPF_JSET | BPF_K, vs[i], to_fail, 0);
        else
            emit(BPF_JMP | BPF_JSET | BPF_K, vs[i], 0, to_fail);
    }
    RET(SECCOMP_RET_ALLOW);
    RET(fail);
}

/* One block (the accumulator holds nr): the plain allows first, each a
 * single jump to the block's shared ALLOW at its end, then the rules with
 * checks, then the default.  Short filters install faster. */
static void emit_block(const struct rule *rules, size_t count, uint32_t fail,
                       uint32_t dflt, uint32_t self_pid)
{
    size_t i;
    int len = 0, allow_at;
    for (i = 0; i < count; i++)
        len += rules[i].c1 == NONE ? 1 : body_len(&rules[i]);
    allow_at = n + len + 1;         /* after the default RET */
    for (i = 0; i < count; i++)
        if (rules[i].c1 == NONE)
            emit(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rules[i].nr,
                 (uint8_t)(allow_at - n - 1), 0);
    for (i = 0; i < count; i++)
        if (rules[i].c1 != NONE)
            emit_checked(&rules[i], fail, self_pid);
    RET(dflt);
    RET(SECCOMP_RET_ALLOW);
}

static int build(uint32_t gadget_ip_lo, uint32_t gadget_ip_hi, uint32_t self_pid)
{
    int jump_guest_1, jump_guest_2, guest;
    n = 0;
    LD(offsetof(struct seccomp_data, arch));
    emit(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    RET(SECCOMP_RET_KILL_PROCESS);
    LD(offsetof(struct seccomp_data, nr));
    emit(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
    RET(SECCOMP_RET_KILL_PROCESS);
    LD(offsetof(struct seccomp_data, instruction_pointer) + 4);
    jump_guest_1 = n;
    emit(BPF_JMP | BPF_JEQ | BPF_K, gadget_ip_hi, 0, 0);
    LD(offsetof(struct seccomp_data, instruction_pointer));
    jump_guest_2 = n;
    emit(BPF_JMP | BPF_JEQ | BPF_K, gadget_ip_lo, 0, 0);
    LD(offsetof(struct seccomp_data, nr));
    emit_block(shim_rules, sizeof(shim_rules) / sizeof(shim_rules[0]),
               SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_PROCESS, self_pid);
    guest = n;
    LD(offsetof(struct seccomp_data, nr));
    emit_block(guest_rules, sizeof(guest_rules) / sizeof(guest_rules[0]),
               SECCOMP_RET_TRAP, SECCOMP_RET_TRAP, self_pid);
    if (n > MAX_INSNS || guest - jump_guest_1 - 1 > 255)
        return -1;
    prog[jump_guest_1].jf = (uint8_t)(guest - jump_guest_1 - 1);
    prog[jump_guest_2].jf = (uint8_t)(guest - jump_guest_2 - 1);
    return 0;
}

int install_policy(char *err, size_t cap)
{
    uint64_t ip = (uint64_t)zvm_gadget_ret;
    long pid = SC0(__NR_getpid), r;
    struct sock_fprog fprog;
    struct sbuf b;

    sb_init(&b, err, cap);
    if (build((uint32_t)ip, (uint32_t)(ip >> 32), (uint32_t)pid)) {
        sb_puts(&b, "policy does not fit the filter");
        return -1;
    }
    fprog.len = (unsigned short)n;
    fprog.filter = prog;
    /* SPEC_ALLOW: do not force Speculative Store Bypass Disable on the
     * guest (kernels booted with spec_store_bypass_disable=seccomp do).  SSB
     * leaks only within one address space, and the guest's holds nothing
     * but its own data and the launcher's code and manifest. */
    r = SC3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            &fprog);
    if (r < 0) {
        sb_printf(&b, "seccomp(SET_MODE_FILTER): %s", errname(r));
        return -1;
    }
    return 0;
}
