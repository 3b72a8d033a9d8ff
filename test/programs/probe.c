/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * probe.c -- tries one system call (argv[1] names it) and prints what the
 * sandbox answered: "ok ..." or "err NAME".  Calls the policy kills never
 * print.  Used by test/unit/sandbox/test_zvm_policy.py; builds with glibc
 * and musl, static and static-pie.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef ARCH_SET_FS
#define ARCH_SET_FS 0x1002
#define ARCH_SET_GS 0x1001
#endif

static const char *ename(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case ENOSYS: return "ENOSYS";
    case ENODEV: return "ENODEV";
    case EDQUOT: return "EDQUOT";
    default: return "other";
    }
}

/* Print the outcome of a raw syscall return value. */
static int res(long r)
{
    if (r < 0 && r > -4096) {
        printf("err %s\n", ename((int)-r));
        return 0;
    }
    printf("ok %ld\n", r);
    return 0;
}

/* The same for a libc call: -1 and errno. */
static int lres(long r)
{
    if (r == -1) {
        printf("err %s\n", ename(errno));
        return 0;
    }
    printf("ok %ld\n", r);
    return 0;
}

static long raw(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define R0(n) raw((n), 0, 0, 0, 0, 0, 0)
#define R1(n, a) raw((n), (long)(a), 0, 0, 0, 0, 0)
#define R2(n, a, b) raw((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define R3(n, a, b, c) raw((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define R4(n, a, b, c, d) raw((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define R5(n, a, b, c, d, e) raw((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define R6(n, a, b, c, d, e, f) raw((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static int list_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d) {
        printf("err %s\n", ename(errno));
        return 0;
    }
    printf("ok");
    while ((e = readdir(d)))
        printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
    return 0;
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    char buf[256];
    setvbuf(stdout, NULL, _IONBF, 0);

    /* ---- allowed or emulated ---- */
    if (!strcmp(c, "write"))
        return res(R3(SYS_write, 1, "hello\n", 6));
    if (!strcmp(c, "read"))
        return res(R3(SYS_read, 0, buf, 5));
    if (!strcmp(c, "readv")) {
        struct iovec v[2] = {{buf, 2}, {buf + 2, 3}};
        return res(R3(SYS_readv, 0, v, 2));
    }
    if (!strcmp(c, "writev")) {
        struct iovec v[2] = {{"ab", 2}, {"c\n", 2}};
        return res(R3(SYS_writev, 1, v, 2));
    }
    if (!strcmp(c, "pread64"))
        return res(R4(SYS_pread64, 0, buf, 4, 0));
    if (!strcmp(c, "pwrite64"))
        return res(R4(SYS_pwrite64, 1, "x", 1, 0));
    if (!strcmp(c, "lseek"))
        return res(R3(SYS_lseek, 0, 0, SEEK_SET));
    if (!strcmp(c, "close"))
        return res(R1(SYS_close, 0) | R1(SYS_close, 0));   /* second: EBADF */
    if (!strcmp(c, "dup"))
        return res(R1(SYS_dup, 1));
    if (!strcmp(c, "dup2"))
        return res(R2(SYS_dup2, 1, 9));
    if (!strcmp(c, "dup3"))
        return res(R3(SYS_dup3, 1, 9, O_CLOEXEC));
    if (!strcmp(c, "fcntl"))
        return res(R3(SYS_fcntl, 1, F_DUPFD_CLOEXEC, 5));
    if (!strcmp(c, "brk")) {
        long b0 = R1(SYS_brk, 0), b1 = R1(SYS_brk, b0 + 100000);
        memset((void *)b0, 1, 100000);
        return res(b1 - b0);
    }
    if (!strcmp(c, "mmap")) {
        char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return lres(-1);
        p[12345] = 1;
        return res(p[12345]);
    }
    if (!strcmp(c, "munmap")) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return res(R2(SYS_munmap, p, 8192));
    }
    if (!strcmp(c, "mremap")) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *q;
        p[0] = 7;
        q = mremap(p, 8192, 1 << 22, MREMAP_MAYMOVE);
        if (q == MAP_FAILED)
            return lres(-1);
        q[(1 << 22) - 1] = 1;
        return res(q[0]);
    }
    if (!strcmp(c, "madvise")) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return res(R3(SYS_madvise, p, 8192, MADV_DONTNEED));
    }
    if (!strcmp(c, "mprotect")) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return res(R3(SYS_mprotect, p, 8192, PROT_READ));
    }
    if (!strcmp(c, "arch_prctl_set_fs")) {
        long fs;
        __asm__ volatile("mov %%fs:0, %0" : "=r"(fs));
        return res(R2(SYS_arch_prctl, ARCH_SET_FS, fs));
    }
    if (!strcmp(c, "rt_sigprocmask")) {
        sigset_t s;
        sigfillset(&s);
        return res(R4(SYS_rt_sigprocmask, SIG_BLOCK, &s, 0, 8));
    }
    if (!strcmp(c, "open")) {
        const char *names[] = {"/dev/stdin", "/dev/stdout", "/dev/input", "/dev/in/a",
                               "/dev/out/b", "dev/stdout", "/dev/../dev/./stdout", 0};
        printf("ok");
        for (int i = 0; names[i]; i++) {
            int fd = open(names[i], strstr(names[i], "out") ? O_WRONLY : O_RDONLY);
            printf(" %s=%s", names[i], fd >= 0 ? "fd" : ename(errno));
        }
        printf("\n");
        return 0;
    }
    if (!strcmp(c, "open_wrong_mode"))
        return lres(open("/dev/stdin", O_WRONLY));
    if (!strcmp(c, "fstat")) {
        struct stat st;
        if (fstat(1, &st))
            return lres(-1);
        printf("ok mode=%o size=%ld blksize=%ld ino=%lu dev=%lu mtime=%ld\n",
               st.st_mode, (long)st.st_size, (long)st.st_blksize,
               (unsigned long)st.st_ino, (unsigned long)st.st_dev, (long)st.st_mtime);
        return 0;
    }
    if (!strcmp(c, "stat")) {
        struct stat st;
        return lres(stat("/dev/in", &st) ? -1 : (long)(st.st_mode & S_IFMT));
    }
    if (!strcmp(c, "clock")) {
        struct timespec a, b;
        struct timeval tv;
        clock_gettime(CLOCK_REALTIME, &a);
        clock_gettime(CLOCK_MONOTONIC, &b);
        gettimeofday(&tv, 0);
        printf("ok %ld.%09ld %ld.%09ld %ld %ld\n", (long)a.tv_sec, a.tv_nsec,
               (long)b.tv_sec, b.tv_nsec, (long)tv.tv_sec, (long)time(0));
        return 0;
    }
    if (!strcmp(c, "nanosleep")) {
        struct timespec a, b, d = {5, 0};
        clock_gettime(CLOCK_MONOTONIC, &a);
        nanosleep(&d, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        return res(b.tv_sec - a.tv_sec);
    }
    if (!strcmp(c, "getrandom")) {
        unsigned char r[8];
        long n = R3(SYS_getrandom, r, 8, 0);
        printf("ok %ld %02x%02x%02x%02x%02x%02x%02x%02x\n", n, r[0], r[1], r[2], r[3],
               r[4], r[5], r[6], r[7]);
        return 0;
    }
    if (!strcmp(c, "uname")) {
        struct utsname u;
        uname(&u);
        printf("ok %s %s %s %s\n", u.sysname, u.nodename, u.release, u.machine);
        return 0;
    }
    if (!strcmp(c, "ids")) {
        printf("ok pid=%ld tid=%ld ppid=%ld uid=%ld gid=%ld euid=%ld\n", R0(SYS_getpid),
               R0(SYS_gettid), R0(SYS_getppid), R0(SYS_getuid), R0(SYS_getgid),
               R0(SYS_geteuid));
        return 0;
    }
    if (!strcmp(c, "getcwd"))
        return printf("ok %s\n", getcwd(buf, sizeof(buf))) < 0;
    if (!strcmp(c, "ioctl"))
        return res(R3(SYS_ioctl, 1, TCGETS, buf));
    if (!strcmp(c, "poll")) {
        struct pollfd p[2] = {{0, POLLIN, 0}, {1, POLLOUT, 0}};
        return res(poll(p, 2, 1000) * 10 + (p[0].revents == POLLIN) + (p[1].revents == POLLOUT));
    }
    if (!strcmp(c, "prlimit64")) {
        struct rlimit r;
        getrlimit(RLIMIT_STACK, &r);
        return res((long)r.rlim_cur);
    }
    if (!strcmp(c, "set_tid_address"))
        return res(R1(SYS_set_tid_address, buf));
    if (!strcmp(c, "set_robust_list"))
        return res(R2(SYS_set_robust_list, buf, 24));
    if (!strcmp(c, "listdir"))
        return list_dir(argc > 2 ? argv[2] : "/dev");
    if (!strcmp(c, "readdir_after_open")) {
        int fd = open("/dev/out", O_RDONLY | O_DIRECTORY);
        return res(R3(SYS_getdents64, fd, buf, sizeof(buf)) > 0 ? 0 : -1);
    }
    if (!strcmp(c, "env")) {
        extern char **environ;
        printf("ok");
        for (char **e = environ; *e; e++)
            printf(" %s", *e);
        printf("\n");
        return 0;
    }
    if (!strcmp(c, "auxv")) {
        unsigned char *r = (unsigned char *)getauxval(AT_RANDOM);
        printf("ok vdso=%lx random=%02x%02x%02x%02x execfn=%s\n", getauxval(AT_SYSINFO_EHDR),
               r[0], r[1], r[2], r[3], (char *)getauxval(AT_EXECFN));
        return 0;
    }
    if (!strcmp(c, "raise"))
        return raise(SIGABRT), res(0);
    if (!strcmp(c, "exit_group"))
        return res(R1(SYS_exit_group, 42));
    if (!strcmp(c, "read_limit")) {
        long n = R3(SYS_read, 0, buf, 100);
        printf("first %ld\n", n);
        return res(R3(SYS_read, 0, buf, 100));
    }

    /* ---- denied: errno ---- */
    if (!strcmp(c, "open_host"))
        return res(R3(SYS_open, "/etc/passwd", O_RDONLY, 0));
    if (!strcmp(c, "openat_host"))
        return res(R4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY, 0));
    if (!strcmp(c, "open_create"))
        return res(R3(SYS_open, "/dev/newfile", O_WRONLY | O_CREAT, 0644));
    if (!strcmp(c, "socket"))
        return res(R3(SYS_socket, 2, 1, 0));
    if (!strcmp(c, "execve")) {
        char *av[] = {"/bin/sh", 0};
        return res(R3(SYS_execve, "/bin/sh", av, 0));
    }
    if (!strcmp(c, "execveat")) {
        char *av[] = {"/bin/sh", 0};
        return res(R5(SYS_execveat, 1, "/bin/sh", av, 0, AT_EMPTY_PATH));
    }
    if (!strcmp(c, "fork"))
        return res(R0(SYS_fork));
    if (!strcmp(c, "vfork"))
        return res(R0(SYS_vfork));
    if (!strcmp(c, "clone"))
        return res(R5(SYS_clone, 17, 0, 0, 0, 0));
    if (!strcmp(c, "kill"))
        return res(R2(SYS_kill, 2, SIGKILL));
    if (!strcmp(c, "kill_init"))
        return res(R2(SYS_kill, -1, SIGKILL));
    if (!strcmp(c, "ptrace"))
        return res(R4(SYS_ptrace, 0, 0, 0, 0));
    if (!strcmp(c, "mmap_exec"))
        return res(R6(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (!strcmp(c, "mprotect_exec")) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return res(R3(SYS_mprotect, p, 8192, PROT_READ | PROT_EXEC));
    }
    if (!strcmp(c, "mmap_file"))
        return res(R6(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 0, 0));
    if (!strcmp(c, "mmap_fixed_launcher"))
        return res(R6(SYS_mmap, 0x7e0000000000L, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    if (!strcmp(c, "rt_sigaction_sigsys")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        return lres(sigaction(SIGSYS, &sa, 0));
    }
    if (!strcmp(c, "prctl"))
        return res(R5(SYS_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0));
    if (!strcmp(c, "prctl_tsc"))
        return res(R5(SYS_prctl, 26 /* PR_SET_TSC */, 1 /* ENABLE */, 0, 0, 0));
    if (!strcmp(c, "seccomp"))
        return res(R3(SYS_seccomp, 0, 0, 0));
    if (!strcmp(c, "sched_setattr")) {     /* its own time slice: 1 ms */
        unsigned long attr[6] = {48, 0, 0, 1000000, 0, 0};
        return res(R3(SYS_sched_setattr, 0, attr, 0));
    }
    if (!strcmp(c, "sched_setscheduler")) {
        int prio = 1;
        return res(R3(SYS_sched_setscheduler, 0, 1 /* SCHED_FIFO */, &prio));
    }
    if (!strcmp(c, "setpriority"))
        return res(R3(SYS_setpriority, 0 /* PRIO_PROCESS */, 0, 19));
    if (!strcmp(c, "arch_prctl_set_gs"))
        return res(R2(SYS_arch_prctl, ARCH_SET_GS, 0));
    if (!strcmp(c, "chdir_host"))
        return res(R1(SYS_chdir, "/tmp"));
    if (!strcmp(c, "statx"))
        return res(R5(SYS_statx, AT_FDCWD, "/etc", 0, 0x7ff, buf));
    if (!strcmp(c, "unknown"))
        return res(R0(400));
    if (!strcmp(c, "write_read_channel"))
        return res(R3(SYS_write, 0, "x", 1));

    /* ---- denied: killed ---- */
    if (!strcmp(c, "int80")) {
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
        return res(ret);
    }
    if (!strcmp(c, "x32"))
        return res(R0(0x40000000L | 39));
    if (!strcmp(c, "rdtsc")) {
        unsigned lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return res(lo);
    }
    if (!strcmp(c, "vdso_time")) {
        /* Without a vDSO, time() is a syscall the shim answers. */
        unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
        return res(vdso ? -EEXIST : time(0));
    }
    if (!strcmp(c, "vsyscall_time")) {
        long (*vt)(long *) = (long (*)(long *))0xffffffffff600400UL;
        return res(vt(0));
    }
    if (!strcmp(c, "block")) {
        /* Wait on stdin so a test can inspect the running guest's maps. */
        printf("ready\n");
        return res(R3(SYS_read, 0, buf, 1));
    }
    printf("unknown probe %s\n", c);
    return 2;
}
