/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * pipes.c -- a test program for pipes between nodes.  argv[1] picks the
 * behaviour:
 *
 *   fanout      copy stdin (or /dev/input) to every /dev/out/<name>,
 *               prefixed by a line "from <argv[0]> to <name>"
 *   gather      copy every /dev/in/<name> (sorted) to stdout, each
 *               between "== <name>" and "== <bytes> bytes"
 *   crash       write a little to every /dev/out, then die by SIGSEGV
 *   early       exit 0 without reading anything
 *   fail        exit 3 at once, with a line on stderr
 *   spin        write a little to every /dev/out, then loop forever
 *   flood N     write N MiB of 'x' to every /dev/out
 *   busy N      burn N million loop iterations of CPU, then fanout
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXN 256

static int names(const char *dir, char list[][MAXN], int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0, i, j;
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(list[n++], MAXN, "%s", e->d_name);
    }
    closedir(d);
    for (i = 1; i < n; i++)       /* insertion sort: bytewise */
        for (j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
            char t[MAXN];
            memcpy(t, list[j], MAXN);
            memcpy(list[j], list[j - 1], MAXN);
            memcpy(list[j - 1], t, MAXN);
        }
    return n;
}

static char outs[64][MAXN];
static FILE *files[64];
static int nouts;

static void open_outs(const char *self)
{
    int i;
    nouts = names("/dev/out", outs, 64);
    for (i = 0; i < nouts; i++) {
        char path[MAXN + 16];
        snprintf(path, sizeof(path), "/dev/out/%.250s", outs[i]);
        files[i] = fopen(path, "w");
        if (!files[i]) {
            perror(path);
            exit(2);
        }
        fprintf(files[i], "from %s to %s\n", self, outs[i]);
    }
}

static void close_outs(void)
{
    int i;
    for (i = 0; i < nouts; i++)
        if (fclose(files[i])) {
            perror("close");
            exit(2);
        }
}

static void fanout(const char *self)
{
    char buf[65536];
    size_t n;
    int i;
    FILE *in = fopen("/dev/input", "r");
    if (!in)
        in = stdin;
    open_outs(self);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        for (i = 0; i < nouts; i++)
            if (fwrite(buf, 1, n, files[i]) != n) {
                perror("write");
                exit(2);
            }
    close_outs();
}

static void gather(void)
{
    static char ins[64][MAXN];
    static char buf[65536];
    int n = names("/dev/in", ins, 64), i;
    for (i = 0; i < n; i++) {
        char path[MAXN + 16];
        size_t got, total = 0;
        FILE *f;
        snprintf(path, sizeof(path), "/dev/in/%.250s", ins[i]);
        f = fopen(path, "r");
        if (!f) {
            perror(path);
            exit(2);
        }
        printf("== %s\n", ins[i]);
        while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
            fwrite(buf, 1, got, stdout);
            total += got;
        }
        fclose(f);
        printf("== %zu bytes\n", total);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "gather";
    if (!strcmp(mode, "fanout"))
        fanout(argv[0]);
    else if (!strcmp(mode, "busy")) {
        long n = argc > 2 ? atol(argv[2]) : 1;
        for (volatile long k = 0; k < n * 1000000L; k++)
            ;
        fanout(argv[0]);
    }
    else if (!strcmp(mode, "gather"))
        gather();
    else if (!strcmp(mode, "crash") || !strcmp(mode, "spin")) {
        open_outs(argv[0]);
        for (int i = 0; i < nouts; i++)
            fflush(files[i]);
        if (!strcmp(mode, "crash"))
            raise(SIGSEGV);
        for (volatile unsigned long k = 0;; k++)
            ;
    } else if (!strcmp(mode, "early"))
        return 0;
    else if (!strcmp(mode, "fail")) {
        fprintf(stderr, "failing on purpose\n");
        return 3;
    } else if (!strcmp(mode, "flood")) {
        static char chunk[1 << 20];
        long mib = argc > 2 ? atol(argv[2]) : 1;
        memset(chunk, 'x', sizeof(chunk));
        open_outs(argv[0]);
        for (long m = 0; m < mib; m++)
            for (int i = 0; i < nouts; i++)
                if (fwrite(chunk, 1, sizeof(chunk), files[i]) != sizeof(chunk)) {
                    perror("write");
                    return 2;
                }
        close_outs();
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 64;
    }
    return 0;
}
