/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * child.c -- the forked child: from launcher to guest.
 *
 * Order matters and is the point of this file:
 *   1. die with the supervisor; clear the signal mask it blocked; ask for
 *      the manifest's time slice; put fds where the shim expects them;
 *      close everything else;
 *   2. load the ELF and build its stack (loader.c);
 *   3. note every mapping the guest must not see (host stack with argv and
 *      env, vDSO, vvar) and switch to a launcher stack outside them;
 *   4. unmap them, set no_new_privs, make rdtsc fault, install the SIGSYS
 *      shim on its fixed alternate stack, set RLIMIT_AS;
 *   5. install the policy, last; say "started" to the supervisor through
 *      the gadget (the only syscall site the policy still lets us use);
 *   6. jump to the guest's entry point.
 * A failure before 6 is written to the status pipe as one letter (I invalid
 * binary, M memory, L launcher error) and a message; the supervisor reports it.
 */
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/mman.h>
#include <asm/signal.h>
#include <linux/prctl.h>

#include "zvm.h"

#define PROGRAM_FD (ZVM_STATUS_FD - 1)
#define SCRATCH_FD 512
#define RLIMIT_CPU 0
#define RLIMIT_CORE 4
#define RLIMIT_AS 9
#define SA_RESTORER_FLAG 0x04000000

extern char __executable_start[];
extern char _end[];

static struct loaded LD;
static struct { uint64_t start, end; } doomed[8];
static int ndoomed;
static uint64_t overhead;   /* launcher bytes mapped at guest entry */

__attribute__((noreturn)) static void fail(char code, const char *msg)
{
    char buf[600];
    struct sbuf b;
    sb_init(&b, buf, sizeof(buf));
    sb_putc(&b, code);
    sb_puts(&b, msg);
    write_all(ZVM_STATUS_FD, buf, b.len);
    sys_exit(1);
}

/* The kernel's struct sched_attr, its first version (48 bytes). */
struct sched_attr0 {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
};

/* Ask for a CPU time slice of M.slice_us (EEVDF's request size, Linux 6.12
 * and later; older kernels keep their default).  Many guests computing
 * on few CPUs then switch less often and refill their caches less; a
 * server that wakes, with its shorter default slice, may preempt them.  The
 * policy and nice value stay the caller's (an unchanged nice needs no
 * privilege).  Best effort: a kernel that refuses leaves the default. */
static void ask_for_slice(void)
{
    struct sched_attr0 a;
    if (!M.slice_us || SC4(__NR_sched_getattr, 0, &a, sizeof(a), 0) < 0)
        return;
    if (a.policy != 0 /* SCHED_OTHER */ && a.policy != 3 /* SCHED_BATCH */)
        return;
    a.size = sizeof(a);
    a.flags &= 1;   /* SCHED_FLAG_RESET_ON_FORK, as it was */
    a.runtime = M.slice_us * 1000;
    a.deadline = a.period = 0;
    SC3(__NR_sched_setattr, 0, &a, 0);
}

__attribute__((noreturn)) static void fail_call(const char *what, long rc)
{
    char buf[300];
    struct sbuf b;
    sb_init(&b, buf, sizeof(buf));
    sb_printf(&b, "%s: %s", what, errname(rc));
    fail('L', buf);
}

/* Every channel at ZVM_FD_BASE+i, the status pipe at ZVM_STATUS_FD, the
 * program at PROGRAM_FD, nothing else open.  Two passes through scratch
 * numbers so that no source is overwritten before it is copied. */
static void arrange_fds(int status_fd, const int *chan_fds)
{
    int tmp[ZVM_MAX_CHANNELS + 2], i, n = M.nchannels;
    long r;
    for (i = 0; i < n + 2; i++) {
        int src = i < n ? chan_fds[i] : i == n ? status_fd : M.program_fd;
        r = SC3(__NR_fcntl, src, 1030 /* F_DUPFD_CLOEXEC */, SCRATCH_FD);
        if (r < 0)
            sys_exit(1);    /* nothing to report through yet */
        tmp[i] = (int)r;
    }
    if (SC2(__NR_dup2, tmp[n], ZVM_STATUS_FD) < 0)
        sys_exit(1);
    if ((r = SC2(__NR_dup2, tmp[n + 1], PROGRAM_FD)) < 0)
        fail_call("dup2", r);
    for (i = 0; i < n; i++)
        if ((r = SC2(__NR_dup2, tmp[i], ZVM_FD_BASE + i)) < 0)
            fail_call("dup2", r);
    SC3(__NR_close_range, 0, PROGRAM_FD - 1, 0);
    SC3(__NR_close_range, ZVM_FD_BASE + n, ~0U, 0);
}

/* Everything outside the fixed layout goes: the host stack (argv, env,
 * auxv), [vdso], [vvar], [vvar_vclock], whatever the kernel placed.  The
 * layout is fixed, so the gaps are known and need no /proc/self/maps scan
 * (which cost ~50 us a start); munmap of an empty range is cheap and not an
 * error.  test_zvm_policy.py checks a running guest's maps from outside. */
static void plan_unmaps(void)
{
    uint64_t image_start = (uint64_t)__executable_start;
    uint64_t image_end = ((uint64_t)_end + ZVM_PAGE - 1) & ~(ZVM_PAGE - 1);
    const uint64_t keep[][2] = {
        {ZVM_GUEST_LOW, LD.load_end},
        {image_start, image_end},
        {ZVM_SHARED_BASE, ZVM_SHARED_BASE + ZVM_SHARED_SIZE},
        {ZVM_SHIM_BASE, ZVM_SHIM_BASE + ZVM_SHIM_SIZE},
        {ZVM_STACK_TOP - ZVM_STACK_SIZE, ZVM_STACK_TOP},
        {ZVM_TASK_END, ZVM_TASK_END},
    };
    uint64_t from = ZVM_GUEST_LOW;
    size_t i;
    ndoomed = 0;
    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        if (keep[i][0] > from) {
            doomed[ndoomed].start = from;
            doomed[ndoomed].end = keep[i][0];
            ndoomed++;
        }
        if (keep[i][1] > from)
            from = keep[i][1];
    }
    /* Launcher bytes charged to RLIMIT_AS besides the guest's own. */
    overhead = (image_end - image_start) + ZVM_SHARED_SIZE + ZVM_SHIM_SIZE;
}

struct ksigaction {
    void (*handler)(int, void *, void *);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

__attribute__((noreturn)) static void final_stage(void)
{
    char err[300];
    struct { void *sp; int flags; size_t size; } ss;
    struct ksigaction sa;
    uint64_t lim[2];
    long r;
    int i;

    for (i = 0; i < ndoomed; i++)
        if ((r = SC2(__NR_munmap, doomed[i].start, doomed[i].end - doomed[i].start)) < 0)
            fail_call("munmap of a host mapping", r);
    if ((r = SC5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
        fail_call("prctl(PR_SET_NO_NEW_PRIVS)", r);
    if ((r = SC2(__NR_prctl, PR_SET_TSC, PR_TSC_SIGSEGV)) < 0)
        fail_call("prctl(PR_SET_TSC)", r);
    ss.sp = (void *)ZVM_SHIM_BASE;
    ss.flags = 0;
    ss.size = ZVM_SHIM_SIZE / 2;
    if ((r = SC2(__NR_sigaltstack, &ss, 0)) < 0)
        fail_call("sigaltstack", r);
    sa.handler = shim_sigsys;
    sa.flags = 4 /* SA_SIGINFO */ | 0x08000000 /* SA_ONSTACK */ | SA_RESTORER_FLAG;
    sa.restorer = zvm_sigreturn;
    sa.mask = ~0UL;
    if ((r = SC4(__NR_rt_sigaction, 31 /* SIGSYS */, &sa, 0, 8)) < 0)
        fail_call("rt_sigaction(SIGSYS)", r);
    lim[0] = lim[1] = overhead + M.memory;
    if ((r = SC4(__NR_prlimit64, 0, RLIMIT_AS, lim, 0)) < 0)
        fail_call("prlimit(RLIMIT_AS)", r);
    if (install_policy(err, sizeof(err)))
        fail('L', err);
    /* From here on, only the gadget may make syscalls. */
    zvm_gadget(__NR_write, ZVM_STATUS_FD, (long)"S", 1, 0, 0, 0);
    zvm_gadget(__NR_close, ZVM_STATUS_FD, 0, 0, 0, 0, 0);
    zvm_enter_guest(LD.entry, LD.sp);
}

void child_main(int status_fd, const int *chan_fds, uint64_t supervisor_pid)
{
    char err[300];
    uint64_t lim[2];
    int invalid = 0, rc;
    long r;

    SC2(__NR_prctl, PR_SET_PDEATHSIG, 9 /* SIGKILL */);
    if ((uint64_t)SC0(__NR_getppid) != supervisor_pid)
        sys_exit(1);
    {   /* The supervisor blocks its stop signals (it reads them from a
         * signalfd); the guest starts with an empty real mask, so a signal
         * it raises on itself still kills it.  The shim virtualises the
         * guest's own sigprocmask; SIGSYS is never blocked. */
        uint64_t none = 0;
        SC4(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &none, 0, 8);
    }
    {
        struct ksigaction dfl = {0, SA_RESTORER_FLAG, zvm_sigreturn, 0};
        SC4(__NR_rt_sigaction, 13 /* SIGPIPE */, &dfl, 0, 8);
    }
    ask_for_slice();
    arrange_fds(status_fd, chan_fds);
    prng_seed(M.seed);
    rc = load_guest(PROGRAM_FD, &LD, err, sizeof(err), &invalid);
    if (rc == -2)
        fail('M', err);
    if (rc)
        fail(invalid ? 'I' : 'L', err);
    SC1(__NR_close, PROGRAM_FD);
    shim_init(&LD);
    lim[0] = lim[1] = 0;
    SC4(__NR_prlimit64, 0, RLIMIT_CORE, lim, 0);
    if (M.cpu_seconds) {
        lim[0] = lim[1] = M.cpu_seconds;   /* soft == hard: SIGKILL at the limit */
        if ((r = SC4(__NR_prlimit64, 0, RLIMIT_CPU, lim, 0)) < 0)
            fail_call("prlimit(RLIMIT_CPU)", r);
    }
    r = SC6(__NR_mmap, ZVM_SHIM_BASE, ZVM_SHIM_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (r < 0)
        fail_call("mapping the shim stacks", r);
    plan_unmaps();
    zvm_switch_stack(ZVM_SHIM_BASE + ZVM_SHIM_SIZE - 64, final_stage);
}
