/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * supervisor.c -- main(): read the manifest, fork the guest, relay and hash
 * its output, enforce the wall clock and output caps, write the report.
 *
 *   usage: zvm MANIFEST_FD
 *
 * The supervisor is the trusted side: the guest shares no writable memory
 * with it except the informational counters page, output bytes and digests
 * are counted here as they pass, and the report goes to an fd the guest
 * never had.  Exit statuses: zvm_status.h.
 *
 * Stopping from outside: SIGTERM, SIGINT and SIGHUP are blocked from the
 * start and read through a signalfd in the relay loop, so one of them kills
 * the guest with reason "aborted" and the report is still written (what was
 * relayed so far, counted and hashed) -- no handler runs asynchronously.
 * And zvm never outlives its parent: PR_SET_PDEATHSIG, see zvm_main().
 */
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/mman.h>
#include <linux/prctl.h>

#include "zvm.h"

#define O_CLOEXEC 02000000
#define O_NONBLOCK 04000
#define POLLIN 0x001
#define POLLOUT 0x004
#define POLLERR 0x008
#define POLLHUP 0x010
#define SIGHUP 1
#define SIGINT 2
#define SIGKILL 9
#define SIGPIPE 13
#define SIGTERM 15
#define SIGSYS 31
#define SIG_BLOCK 0
#define SFD_NONBLOCK O_NONBLOCK
#define SFD_CLOEXEC O_CLOEXEC
/* The signals that mean "stop the guest now and report". */
#define STOP_SIGNALS ((1UL << (SIGHUP - 1)) | (1UL << (SIGINT - 1)) | (1UL << (SIGTERM - 1)))

struct relay {
    int rd;             /* read end of the guest's pipe; -1 once at EOF */
    int dest;           /* the real destination */
    int broken;         /* destination gone: discard */
    long err;           /* why it broke: the failed write's result (-errno, or 0) */
    uint64_t bytes;     /* bytes that reached the destination */
    struct sha256 sha;  /* of those same bytes */
};

struct rusage_k {
    int64_t utime_s, utime_us, stime_s, stime_us;
    int64_t maxrss, rest[13];
};

/* Was a SIGKILL the kernel's RLIMIT_CPU?  The kernel counts the limit in
 * scheduler ticks, rusage in precise run time: on a busy (virtual)
 * machine the ticks ran ahead by 1.5% of a 10 s limit.  So: within 5% of
 * the limit, and never less than 50 ms short. */
static int cpu_limit_reached(const struct rusage_k *ru, uint64_t seconds)
{
    uint64_t used_ms = (uint64_t)(ru->utime_s + ru->stime_s) * 1000 +
                       (uint64_t)(ru->utime_us + ru->stime_us) / 1000;
    uint64_t limit_ms = seconds * 1000, slack = limit_ms / 20;
    if (slack < 50)
        slack = 50;
    return used_ms + slack >= limit_ms;
}

static char manifest_text[ZVM_MAX_MANIFEST + 1];
static char relay_buf[64 * 1024];
static char report_buf[256 * 1024];
static char out_error_msg[ZVM_MAX_PATH + 64];
static struct relay relays[ZVM_MAX_CHANNELS];
static int child_fds[ZVM_MAX_CHANNELS];

static struct {
    long pid;
    int pidfd;
    int sigfd;              /* signalfd of STOP_SIGNALS */
    int killed;             /* we sent SIGKILL */
    const char *kill_reason;
    uint64_t total_out;
    int out_error;          /* the first channel whose destination failed, or -1 */
    char kill_detail[128];
} R;

int zvm_main(int argc, char **argv);
extern char _end[];

static uint64_t now_ms(void)
{
    struct { int64_t s, ns; } ts;
    SC2(__NR_clock_gettime, 1 /* MONOTONIC */, &ts);
    return (uint64_t)ts.s * 1000 + (uint64_t)ts.ns / 1000000;
}

static int parse_int(const char *s, int *out)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 65535)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = (int)v;
    return 0;
}

static void kill_guest(const char *reason, const char *detail)
{
    if (R.killed)
        return;
    R.killed = 1;
    R.kill_reason = reason;
    if (detail) {
        struct sbuf b;
        sb_init(&b, R.kill_detail, sizeof(R.kill_detail));
        sb_puts(&b, detail);
    }
    if (SC4(__NR_pidfd_send_signal, R.pidfd, SIGKILL, 0, 0) < 0)
        SC2(__NR_kill, R.pid, SIGKILL);
}

/* Forward n bytes to the destination; count and hash only what the
 * destination accepted, so the report never claims bytes that were lost. */
static void write_dest(int i, const char *p, size_t n)
{
    struct relay *rl = &relays[i];
    while (n && !rl->broken) {
        long r = SC3(__NR_write, rl->dest, p, n);
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN) {     /* a non-blocking destination: wait for room */
            struct { int fd; short ev, rev; } pfd = {rl->dest, POLLOUT, 0};
            SC3(__NR_poll, &pfd, 1, 100);
            continue;
        }
        if (r <= 0) {
            /* Reader gone (EPIPE), disk full, I/O error: the output is
             * incomplete.  Stop forwarding, remember why (the run ends with
             * reason "output-error"), and let the guest see EPIPE on its
             * next write, as a Unix pipe would. */
            rl->broken = 1;
            rl->err = r;
            if (R.out_error < 0)
                R.out_error = i;
            SC1(__NR_close, rl->rd);
            rl->rd = -1;
            return;
        }
        sha256_update(&rl->sha, p, (size_t)r);
        rl->bytes += (uint64_t)r;
        R.total_out += (uint64_t)r;
        p += r;
        n -= (size_t)r;
    }
}

/* Move what the guest wrote on channel i; return 0 at EOF. */
static int pump(int i)
{
    struct relay *rl = &relays[i];
    uint64_t allow = UINT64_MAX, n;
    long r = SC3(__NR_read, rl->rd, relay_buf, sizeof(relay_buf));
    if (r == -EINTR || r == -EAGAIN)
        return 1;
    if (r <= 0) {
        SC1(__NR_close, rl->rd);
        rl->rd = -1;
        return 0;
    }
    n = (uint64_t)r;
    if (R.killed && R.kill_reason && streq(R.kill_reason, ZVM_REASON_OUTPUT_LIMIT))
        return 1;               /* over a cap already: discard the rest */
    if (M.ch[i].limit)
        allow = M.ch[i].limit - rl->bytes;
    if (M.max_output && M.max_output - R.total_out < allow)
        allow = M.max_output - R.total_out;
    if (n > allow) {
        n = allow;
        kill_guest(ZVM_REASON_OUTPUT_LIMIT, M.ch[i].limit && rl->bytes + n == M.ch[i].limit
                   ? M.ch[i].path : "total output");
    }
    if (n)
        write_dest(i, relay_buf, n);
    return 1;
}

/* A stop signal is pending: kill the guest, reason "aborted". */
static void stop_requested(void)
{
    struct { uint32_t signo; uint8_t rest[124]; } si;   /* signalfd_siginfo */
    long r;
    while ((r = SC3(__NR_read, R.sigfd, &si, sizeof(si))) == (long)sizeof(si)) {
        char msg[64];
        struct sbuf b;
        sb_init(&b, msg, sizeof(msg));
        sb_puts(&b, "stopped by ");
        sb_puts(&b, si.signo == SIGTERM ? "SIGTERM" : si.signo == SIGINT ? "SIGINT"
                : si.signo == SIGHUP ? "SIGHUP" : "a signal");
        sb_putc(&b, 0);
        kill_guest(ZVM_REASON_ABORTED, msg);
    }
}

static void supervise(void)
{
    struct { int fd; short ev, rev; } pfd[ZVM_MAX_CHANNELS + 2];
    int map[ZVM_MAX_CHANNELS + 2];
    uint64_t deadline = M.timeout_ms ? now_ms() + M.timeout_ms : 0;
    int exited = 0, i;

    while (!exited) {
        int n = 0;
        long timeout = -1, r;
        pfd[n].fd = R.pidfd;
        pfd[n].ev = POLLIN;
        map[n++] = -1;
        pfd[n].fd = R.sigfd;
        pfd[n].ev = POLLIN;
        map[n++] = -1;
        for (i = 0; i < M.nchannels; i++)
            if (relays[i].rd >= 0) {
                pfd[n].fd = relays[i].rd;
                pfd[n].ev = POLLIN;
                map[n++] = i;
            }
        if (deadline && !R.killed) {
            uint64_t t = now_ms();
            timeout = t >= deadline ? 0 : (long)(deadline - t);
        }
        r = SC3(__NR_poll, pfd, n, timeout);
        if (r == -EINTR)
            continue;
        if (r < 0)
            die(ZVM_STATUS_LAUNCHER, "poll: %s", errname(r));
        if (r == 0) {
            if (deadline && now_ms() >= deadline)
                kill_guest(ZVM_REASON_TIMEOUT, 0);
            continue;
        }
        if (pfd[1].rev & POLLIN)
            stop_requested();
        for (i = 2; i < n; i++)
            if (pfd[i].rev & (POLLIN | POLLHUP | POLLERR))
                pump(map[i]);
        if (pfd[0].rev & POLLIN)
            exited = 1;
    }
    /* The guest is gone, so every pipe reaches EOF once drained. */
    for (i = 0; i < M.nchannels; i++)
        while (relays[i].rd >= 0 && pump(i))
            ;
}

static void hex32(struct sbuf *b, const uint8_t d[32])
{
    static const char hex[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        sb_putc(b, hex[d[i] >> 4]);
        sb_putc(b, hex[d[i] & 15]);
    }
}

static int write_report(const char *reason, long exit_code, int sig, const char *msg,
                        const struct rusage_k *ru, uint64_t wall_ms)
{
    struct shared_page *sh = (struct shared_page *)ZVM_SHARED_BASE;
    struct sbuf b;
    int i;
    sb_init(&b, report_buf, sizeof(report_buf));
    sb_puts(&b, "{\"reason\": ");
    sb_json_str(&b, reason);
    sb_puts(&b, ", \"exit_code\": ");
    if (exit_code < 0)
        sb_puts(&b, "null");
    else
        sb_puti(&b, exit_code);
    sb_printf(&b, ", \"signal\": %d, \"message\": ", sig);
    sb_json_str(&b, msg);
    sb_printf(&b, ", \"cpu_user_ms\": %lu, \"cpu_sys_ms\": %lu, \"wall_ms\": %lu, "
              "\"max_rss_kb\": %lu, \"seed\": %lu, \"channels\": [",
              (uint64_t)(ru->utime_s * 1000 + ru->utime_us / 1000),
              (uint64_t)(ru->stime_s * 1000 + ru->stime_us / 1000),
              wall_ms, (uint64_t)ru->maxrss, M.seed);
    for (i = 0; i < M.nchannels; i++) {
        const struct chan_stats *st = &sh->st[i];
        sb_puts(&b, i ? ", {\"path\": " : "{\"path\": ");
        sb_json_str(&b, M.ch[i].path);
        if (M.ch[i].mode == CH_READ) {
            sb_printf(&b, ", \"mode\": \"r\", \"bytes_read\": %lu, \"bytes_written\": 0, "
                      "\"reads\": %lu, \"writes\": 0, \"sha256\": null}",
                      st->bytes_read, st->reads);
        } else {
            uint8_t d[32];
            sha256_final(&relays[i].sha, d);
            sb_printf(&b, ", \"mode\": \"w\", \"bytes_read\": 0, \"bytes_written\": %lu, "
                      "\"reads\": 0, \"writes\": %lu, \"sha256\": \"",
                      relays[i].bytes, st->writes);
            hex32(&b, d);
            sb_puts(&b, "\"}");
        }
    }
    sb_puts(&b, "]}\n");
    if (b.truncated)
        return -1;
    return write_all(M.report_fd, report_buf, b.len);
}

int zvm_main(int argc, char **argv)
{
    char err[512];
    char status[600];
    struct rusage_k ru;
    int mfd, status_pipe[2], i, wstatus = 0, sig = 0, started = 0;
    long r, exit_code = -1;
    size_t len = 0, slen = 0;
    uint64_t t0, wall;
    const char *reason, *msg = "";
    int rc = ZVM_STATUS_OK;

    long ppid = SC0(__NR_getppid);

    {   /* The kernel places [vdso], [vvar] and [vvar_vclock] anywhere in
         * its randomized mmap area, about the top terabyte below the host
         * stack -- which holds our fixed shared page, shim stacks and guest
         * stack.  Mapped there, they made MAP_FIXED_NOREPLACE fail with
         * EEXIST once in ~10^5 starts.  zvm never uses the vDSO, and the
         * child unmaps everything outside the layout anyway: clear the
         * range between the launcher's image and the guest stack's top
         * first (the host stack is always above it). */
        uint64_t from = ((uint64_t)_end + ZVM_PAGE - 1) & ~(ZVM_PAGE - 1);
        if ((r = SC2(__NR_munmap, from, ZVM_STACK_TOP - from)) < 0)
            die(ZVM_STATUS_LAUNCHER, "munmap of the fixed layout: %s",
                errname(r));
    }

    /* Die with the parent.  PDEATHSIG fires when the *thread* that forked
     * zvm exits, not the process: the object server forks it from an
     * eventlet tpool worker thread, and those live as long as the server,
     * so there it means "the server died".  A caller that forks from a
     * short-lived thread must keep that thread alive until zvm exits.  A
     * parent that died before this prctl is caught below (getppid). */
    SC2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    {   /* Stop signals become readable events; see the top of this file. */
        unsigned long stop = STOP_SIGNALS;
        if ((r = SC4(__NR_rt_sigprocmask, SIG_BLOCK, &stop, 0, 8)) < 0)
            die(ZVM_STATUS_LAUNCHER, "rt_sigprocmask: %s", errname(r));
        R.sigfd = (int)SC4(__NR_signalfd4, -1, &stop, 8, SFD_CLOEXEC | SFD_NONBLOCK);
        if (R.sigfd < 0)
            die(ZVM_STATUS_LAUNCHER, "signalfd: %s", errname(R.sigfd));
    }
    if (argc != 2 || parse_int(argv[1], &mfd))
        die(ZVM_STATUS_USAGE, "usage: zvm MANIFEST_FD");
    while ((r = SC3(__NR_read, mfd, manifest_text + len, ZVM_MAX_MANIFEST - len)) > 0)
        len += (size_t)r;
    if (r < 0)
        die(ZVM_STATUS_MANIFEST, "reading the manifest from fd %d: %s", mfd, errname(r));
    if (len == ZVM_MAX_MANIFEST)
        die(ZVM_STATUS_MANIFEST, "manifest larger than %lu bytes", ZVM_MAX_MANIFEST);
    SC1(__NR_close, mfd);
    if (manifest_parse(manifest_text, len, err, sizeof(err)))
        die(ZVM_STATUS_MANIFEST, "%s", err);
    /* The manifest names the caller when it can (the pid it had before
     * forking us); without it, compare with the parent zvm started under. */
    if (SC0(__NR_getppid) != (M.parent ? (long)M.parent : ppid))
        die(ZVM_STATUS_LAUNCHER, "the parent process is gone");
    if (SC3(__NR_fcntl, M.program_fd, 1 /* F_GETFD */, 0) < 0)
        die(ZVM_STATUS_MANIFEST, "program fd %d is not open", M.program_fd);
    if (SC3(__NR_fcntl, M.report_fd, 1, 0) < 0)
        die(ZVM_STATUS_MANIFEST, "report fd %d is not open", M.report_fd);
    for (i = 0; i < M.nchannels; i++) {
        r = SC3(__NR_fcntl, M.ch[i].host_fd, 3 /* F_GETFL */, 0);
        if (r < 0)
            die(ZVM_STATUS_MANIFEST, "channel %s: fd %d is not open", M.ch[i].path,
                M.ch[i].host_fd);
        if ((r & 3) == (M.ch[i].mode == CH_READ ? 1 : 0))
            die(ZVM_STATUS_MANIFEST, "channel %s: fd %d is not open for %s", M.ch[i].path,
                M.ch[i].host_fd, M.ch[i].mode == CH_READ ? "reading" : "writing");
    }

    {   /* SIGPIPE: a vanished reader is an EPIPE to handle, not our death. */
        struct { void *h; unsigned long flags; void *restorer; unsigned long mask; } ign =
            {(void *)1, 0x04000000, (void *)zvm_sigreturn, 0};
        SC4(__NR_rt_sigaction, 13, &ign, 0, 8);
    }
    r = SC6(__NR_mmap, ZVM_SHARED_BASE, ZVM_SHARED_SIZE, PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (r < 0)
        die(ZVM_STATUS_LAUNCHER, "mapping the counters page: %s", errname(r));
    R.out_error = -1;
    for (i = 0; i < M.nchannels; i++) {
        relays[i].rd = -1;
        child_fds[i] = M.ch[i].host_fd;
        if (M.ch[i].mode == CH_WRITE) {
            int p[2];
            if ((r = SC2(__NR_pipe2, p, O_CLOEXEC)) < 0)
                die(ZVM_STATUS_LAUNCHER, "pipe2: %s", errname(r));
            relays[i].rd = p[0];
            relays[i].dest = M.ch[i].host_fd;
            sha256_init(&relays[i].sha);
            child_fds[i] = p[1];
        }
    }
    if ((r = SC2(__NR_pipe2, status_pipe, O_CLOEXEC)) < 0)
        die(ZVM_STATUS_LAUNCHER, "pipe2: %s", errname(r));

    t0 = now_ms();
    {
        long self = SC0(__NR_getpid);
        R.pid = SC5(__NR_clone, 17 /* SIGCHLD */, 0, 0, 0, 0);
        if (R.pid < 0)
            die(ZVM_STATUS_LAUNCHER, "fork: %s", errname(R.pid));
        if (R.pid == 0)
            child_main(status_pipe[1], child_fds, (uint64_t)self);
    }
    SC1(__NR_close, status_pipe[1]);
    for (i = 0; i < M.nchannels; i++)
        if (M.ch[i].mode == CH_WRITE)
            SC1(__NR_close, child_fds[i]);
    R.pidfd = (int)SC2(__NR_pidfd_open, R.pid, 0);
    if (R.pidfd < 0) {
        SC2(__NR_kill, R.pid, SIGKILL);
        die(ZVM_STATUS_LAUNCHER, "pidfd_open: %s", errname(R.pidfd));
    }
    supervise();
    memset(&ru, 0, sizeof(ru));
    while ((r = SC4(__NR_wait4, R.pid, &wstatus, 0, &ru)) == -EINTR)
        ;
    wall = now_ms() - t0;
    if (r < 0)
        die(ZVM_STATUS_LAUNCHER, "wait4: %s", errname(r));
    while ((r = SC3(__NR_read, status_pipe[0], status + slen, sizeof(status) - 1 - slen)) > 0)
        slen += (size_t)r;
    status[slen] = 0;
    started = slen >= 1 && status[0] == 'S';

    if ((wstatus & 0x7f) == 0)
        exit_code = (wstatus >> 8) & 0xff;
    else
        sig = wstatus & 0x7f;

    if (!started) {
        exit_code = -1;
        sig = 0;
        msg = slen > 1 ? status + 1 : "the launcher's child died before the program started";
        if (slen && status[0] == 'I') {
            reason = ZVM_REASON_INVALID_BINARY;
            rc = ZVM_STATUS_INVALID_BINARY;
        } else if (slen && status[0] == 'M') {
            reason = ZVM_REASON_MEMORY;
        } else if (R.killed && streq(R.kill_reason, ZVM_REASON_ABORTED)) {
            reason = ZVM_REASON_ABORTED;    /* stopped while loading */
            msg = R.kill_detail;
        } else {
            reason = ZVM_REASON_LAUNCHER_ERROR;
            rc = ZVM_STATUS_LAUNCHER;
        }
    } else if (R.killed && (sig || !streq(R.kill_reason, ZVM_REASON_ABORTED))) {
        /* (An abort that crossed the guest's own exit changed nothing.) */
        reason = R.kill_reason;
        if (streq(reason, ZVM_REASON_TIMEOUT))
            msg = "wall-clock timeout";
        else
            msg = R.kill_detail;
    } else if (sig == SIGSYS) {
        reason = ZVM_REASON_POLICY;
        msg = "killed by the sandbox policy";
    } else if (sig == SIGKILL && M.cpu_seconds &&
               cpu_limit_reached(&ru, M.cpu_seconds)) {
        reason = ZVM_REASON_CPU;
        msg = "CPU time limit";
    } else if ((sig || exit_code != 0) &&
               ((struct shared_page *)ZVM_SHARED_BASE)->memory_hit) {
        reason = ZVM_REASON_MEMORY;
        msg = "an allocation failed at the memory limit";
    } else if (sig) {
        reason = ZVM_REASON_SIGNAL;
    } else {
        reason = exit_code ? ZVM_REASON_EXIT : ZVM_REASON_OK;
    }
    /* An output that did not reach its destination (the relay above, or the
     * final drain after the exit) is the run's root cause when the guest
     * merely went on: it exited 0 with its output lost, exited non-zero
     * after seeing EPIPE, or died of that EPIPE's SIGPIPE.  A kill that
     * says more about the guest (another signal, policy, memory, cpu,
     * timeout, output-limit, aborted) keeps its reason. */
    if (started && R.out_error >= 0 &&
        (streq(reason, ZVM_REASON_OK) || streq(reason, ZVM_REASON_EXIT) ||
         (streq(reason, ZVM_REASON_SIGNAL) && sig == SIGPIPE))) {
        struct relay *rl = &relays[R.out_error];
        struct sbuf b;
        sb_init(&b, out_error_msg, sizeof(out_error_msg));
        sb_puts(&b, M.ch[R.out_error].path);
        sb_puts(&b, ": write failed: ");
        sb_puts(&b, rl->err ? errname(rl->err) : "no progress");
        reason = ZVM_REASON_OUTPUT_ERROR;
        msg = out_error_msg;
    }
    if (write_report(reason, exit_code, sig, msg, &ru, wall))
        die(ZVM_STATUS_REPORT, "writing the report to fd %d failed", M.report_fd);
    return rc;
}
