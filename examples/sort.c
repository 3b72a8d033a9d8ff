/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * sort.c -- print the lines of stdin sorted by their bytes, as
 * "LC_ALL=C sort" does: unsigned byte order, a line that is a prefix of
 * another comes first.  A last line without "\n" is printed with one.
 * Reads everything into memory; the one optional argument, BYTES, is how
 * much input to expect (the first buffer's size, as ZeroCloud's sort
 * example was given its input size).  Exit status 1 on a read or write
 * error or when memory runs out, 2 on bad arguments.
 *
 *   gcc -static -O2 -o sort examples/sort.c
 *   zerocloud run --stdin names.txt ./sort [BYTES]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
    const char *p;
    size_t n;
};

static int by_bytes(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    if (c)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

static void fail(const char *what)
{
    fprintf(stderr, "sort: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    char *data = NULL;
    struct line *lines = NULL;
    size_t size = 0, room = 0, n, count = 0, lroom = 0, i, start;

    if (argc > 1) {
        char *end;
        unsigned long long want = argc == 2 ? strtoull(argv[1], &end, 10) : 0;
        if (argc > 2 || !want || *end || argv[1][0] == '-' ||
                want > 1ULL << 30) {
            fputs("usage: sort [BYTES] < INPUT  (BYTES: 1 to 1073741824)\n",
                  stderr);
            return 2;
        }
        room = (size_t)want;
        if (!(data = malloc(room)))
            fail("cannot hold stdin");
    }
    for (;;) {
        if (size == room) {
            room = room ? room * 2 : 1 << 16;
            if (!(data = realloc(data, room)))
                fail("cannot hold stdin");
        }
        n = fread(data + size, 1, room - size, stdin);
        if (!n)
            break;
        size += n;
    }
    if (ferror(stdin))
        fail("cannot read stdin");
    for (start = 0; start < size; start = i + 1) {
        char *nl = memchr(data + start, '\n', size - start);
        i = nl ? (size_t)(nl - data) : size;
        if (count == lroom) {
            lroom = lroom ? lroom * 2 : 1024;
            if (!(lines = realloc(lines, lroom * sizeof(*lines))))
                fail("cannot hold the lines");
        }
        lines[count].p = data + start;
        lines[count++].n = i - start;
    }
    qsort(lines, count, sizeof(*lines), by_bytes);
    for (i = 0; i < count; i++)
        if (fwrite(lines[i].p, 1, lines[i].n, stdout) != lines[i].n ||
            putchar('\n') == EOF)
            break;
    if (fflush(stdout) || ferror(stdout))
        fail("cannot write stdout");
    return 0;
}
