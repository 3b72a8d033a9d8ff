/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * spawn.c -- benchmark harness: fork+execve+wait a command N times and print
 * each run's microseconds.  Every variant (bare program, zvm, bubblewrap) is
 * spawned by this same code, so the ratios compare like with like.
 *
 *   spawn N [--rewind FD] -- PROGRAM ARG...
 *
 * --rewind FD seeks FD to 0 before each run (zvm's manifest is read from it).
 * The child's stdout goes to /dev/null.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    int n, i = 2, rewind_fd = -1, devnull = open("/dev/null", O_WRONLY);
    if (argc < 4)
        return 2;
    n = atoi(argv[1]);
    if (!strcmp(argv[i], "--rewind")) {
        rewind_fd = atoi(argv[i + 1]);
        i += 2;
    }
    if (strcmp(argv[i++], "--"))
        return 2;
    for (int k = 0; k < n; k++) {
        struct timespec a, b;
        int status;
        pid_t pid;
        if (rewind_fd >= 0)
            lseek(rewind_fd, 0, SEEK_SET);
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid = fork();
        if (pid == 0) {
            dup2(devnull, 1);
            execve(argv[i], argv + i, environ);
            _exit(127);
        }
        waitpid(pid, &status, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "spawn: %s failed (status %d)\n", argv[i], status);
            return 1;
        }
        printf("%ld\n", (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000);
    }
    return 0;
}
