/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * determinism.c -- prints everything a host could leak into a program:
 * time, clocks, randomness, addresses, ids, names, the stat of its stdout,
 * its environment.  Two runs with the same seed must print the same bytes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    struct timespec ts;
    struct timeval tv;
    struct stat st;
    struct utsname u;
    unsigned char r[16], *ar = (unsigned char *)getauxval(AT_RANDOM);
    char cwd[64], buf[4096];
    void *small = malloc(24), *big = malloc(5 << 20);
    void *m = mmap(0, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t n, total = 0;
    int i;

    clock_gettime(CLOCK_REALTIME, &ts);
    printf("realtime %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("monotonic %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    gettimeofday(&tv, 0);
    printf("timeofday %ld.%06ld time %ld clock %ld\n", (long)tv.tv_sec, (long)tv.tv_usec,
           (long)time(0), (long)clock());
    getrandom(r, sizeof(r), 0);
    printf("getrandom");
    for (i = 0; i < 16; i++)
        printf(" %02x", r[i]);
    printf("\nat_random");
    for (i = 0; i < 16; i++)
        printf(" %02x", ar[i]);
    srand((unsigned)r[0]);
    printf("\nrand %d %d\n", rand(), rand());
    printf("pointers %p %p %p %p %p\n", small, big, m, (void *)&ts, (void *)argv);
    printf("sbrk %p\n", sbrk(0));
    printf("ids %d %d %d\n", (int)getpid(), (int)getppid(), (int)getuid());
    uname(&u);
    printf("uname %s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine);
    printf("cwd %s\n", getcwd(cwd, sizeof(cwd)));
    fstat(1, &st);
    printf("stdout mode=%o ino=%lu dev=%lu size=%ld blksize=%ld mtime=%ld tty=%d\n",
           st.st_mode, (unsigned long)st.st_ino, (unsigned long)st.st_dev,
           (long)st.st_size, (long)st.st_blksize, (long)st.st_mtime, isatty(1));
    printf("args");
    for (i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nenv");
    for (i = 0; environ[i]; i++)
        printf(" %s", environ[i]);
    /* Input in whatever chunks the host delivers: the sizes must not show. */
    printf("\nreads");
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        printf(" %zu", n);
        total += n;
    }
    printf("\ntotal %zu\n", total);
    return 0;
}
