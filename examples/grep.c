/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * grep.c -- print the lines of stdin that contain PATTERN, a fixed string
 * (no regular expressions).  -i ignores ASCII case, -v prints the lines
 * that do not contain it.  A last line without "\n" is printed with one.
 *
 * Unlike grep(1) the exit status is 0 whether or not a line matched, since
 * in a job a non-zero status fails the node; 1 on a read or write error,
 * 2 on bad arguments.
 *
 *   gcc -static -O2 -o grep examples/grep.c
 *   zerocloud run --stdin app.log ./grep -i 'connection refused'
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Whether pat (m bytes) occurs in s (n bytes). */
static int contains(const char *s, size_t n, const char *pat, size_t m,
                    int icase)
{
    size_t i, j;
    if (m > n)
        return 0;
    for (i = 0; i + m <= n; i++) {
        for (j = 0; j < m; j++) {
            int a = (unsigned char)s[i + j], b = (unsigned char)pat[j];
            if (icase ? fold(a) != fold(b) : a != b)
                break;
        }
        if (j == m)
            return 1;
    }
    return 0;
}

static void fail(const char *what)
{
    fprintf(stderr, "grep: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    int icase = 0, invert = 0, a = 1;
    const char *pat;
    char *line = NULL;
    size_t room = 0, m;
    ssize_t len;

    for (; a < argc && argv[a][0] == '-' && argv[a][1]; a++) {
        const char *f = argv[a] + 1;
        if (!strcmp(argv[a], "--")) {
            a++;
            break;
        }
        for (; *f; f++) {
            if (*f == 'i')
                icase = 1;
            else if (*f == 'v')
                invert = 1;
            else
                break;
        }
        if (*f)
            break;
    }
    if (a != argc - 1 || (argv[a][0] == '-' && argv[a][1])) {
        fputs("usage: grep [-i] [-v] [--] PATTERN\n", stderr);
        return 2;
    }
    pat = argv[a];
    m = strlen(pat);
    while ((len = getline(&line, &room, stdin)) > 0) {
        size_t n = (size_t)len;
        int nl = line[n - 1] == '\n';
        if (contains(line, n - nl, pat, m, icase) != invert) {
            if (fwrite(line, 1, n - nl, stdout) != n - nl ||
                putchar('\n') == EOF)
                fail("cannot write stdout");
        }
    }
    if (ferror(stdin))
        fail("cannot read stdin");
    if (fflush(stdout) || ferror(stdout))
        fail("cannot write stdout");
    return 0;
}
