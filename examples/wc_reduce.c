/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * wc_reduce.c -- the reduce half of a map-reduce word count (wc_map.c is the
 * other half).  Reads every entry of /dev/in (or of DIR when given) to end
 * of file, in bytewise order of their names; with no entries (or no such
 * directory) reads stdin.  Each input holds lines "WORD COUNT\n"; the
 * counts of a word are summed over all inputs, and the result is written to
 * stdout as "WORD COUNT\n" lines, highest count first, ties in bytewise
 * order of the words.  "--top N" prints only the first N lines (every input
 * is still read to the end).
 *
 * A malformed line (no single space, an empty word, a count that is not a
 * positive decimal number, a last line without "\n") is an error naming the
 * input and the line: exit status 1.  Bad arguments: exit status 2.
 *
 *   gcc -static -O2 -o wc_reduce examples/wc_reduce.c
 *   zerocloud run --in map-1=m1 --in map-2=m2 ./wc_reduce --top 20
 *   ./wc_reduce --top 20 DIR    # natively: reads the files in DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *word;
    uint64_t hash;
    unsigned long long count;
};

static struct entry *table;
static size_t cap = 1024, used;

static void fail(const char *what, const char *name)
{
    fprintf(stderr, "wc_reduce: %s %s: %s\n", what, name, strerror(errno));
    exit(1);
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fputs("wc_reduce: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;
    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void grow(void)
{
    struct entry *old = table;
    size_t oldcap = cap, i, j;
    cap *= 2;
    table = xmalloc(cap * sizeof(*table));
    memset(table, 0, cap * sizeof(*table));
    for (i = 0; i < oldcap; i++)
        if (old[i].word) {
            for (j = old[i].hash & (cap - 1); table[j].word;
                 j = (j + 1) & (cap - 1))
                ;
            table[j] = old[i];
        }
    free(old);
}

/* Adds count to word; 0 when the sum would overflow. */
static int add(const char *w, size_t len, unsigned long long count)
{
    uint64_t h = fnv1a(w, len);
    size_t i = h & (cap - 1);
    for (; table[i].word; i = (i + 1) & (cap - 1))
        if (table[i].hash == h && !strcmp(table[i].word, w)) {
            if (table[i].count > ULLONG_MAX - count)
                return 0;
            table[i].count += count;
            return 1;
        }
    table[i].word = xmalloc(len + 1);
    memcpy(table[i].word, w, len + 1);
    table[i].hash = h;
    table[i].count = count;
    if (++used * 2 > cap)
        grow();
    return 1;
}

static void malformed(const char *name, unsigned long lineno,
                      const char *why)
{
    fprintf(stderr, "wc_reduce: %s: line %lu: %s (expected \"WORD COUNT\")\n",
            name, lineno, why);
    exit(1);
}

/* Reads one input to its end, adding up its lines. */
static void reduce(FILE *in, const char *name)
{
    char *line = NULL, *sp, *p;
    size_t room = 0;
    ssize_t len;
    unsigned long lineno = 0;

    while ((len = getline(&line, &room, in)) > 0) {
        unsigned long long count = 0;
        lineno++;
        if (line[len - 1] != '\n')
            malformed(name, lineno, "last line has no newline");
        line[--len] = 0;
        if ((size_t)len != strlen(line))
            malformed(name, lineno, "NUL byte in line");
        sp = strchr(line, ' ');
        if (!sp || sp != strrchr(line, ' '))
            malformed(name, lineno, "not exactly one space");
        if (sp == line)
            malformed(name, lineno, "empty word");
        if (!sp[1] || sp[1] == '0')
            malformed(name, lineno, "count is not a positive number");
        for (p = sp + 1; *p; p++) {
            if (*p < '0' || *p > '9')
                malformed(name, lineno, "count is not a positive number");
            if (count > (ULLONG_MAX - 9) / 10)
                malformed(name, lineno, "count is too large");
            count = count * 10 + (unsigned)(*p - '0');
        }
        *sp = 0;
        if (!add(line, (size_t)(sp - line), count))
            malformed(name, lineno, "sum of counts is too large");
    }
    if (ferror(in))
        fail("cannot read", name);
    free(line);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir; *n = 0 when it does not exist. */
static char **list_inputs(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t have = 0, room = 0;

    *n = 0;
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return NULL;
        fail("cannot list", dir);
    }
    errno = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (have == room) {
            room = room ? room * 2 : 16;
            names = realloc(names, room * sizeof(*names));
            if (!names)
                fail("out of memory listing", dir);
        }
        if (!(names[have++] = strdup(e->d_name)))
            fail("out of memory listing", dir);
        errno = 0;
    }
    if (errno)
        fail("cannot list", dir);
    closedir(d);
    qsort(names, have, sizeof(*names), by_name);
    *n = have;
    return names;
}

static int by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

static void usage(void)
{
    fputs("usage: wc_reduce [--top N] [DIR]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = "/dev/in";
    unsigned long top = 0;
    char **ins, path[4096], *end;
    size_t nin, i, k = 0;
    int a;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--top")) {
            if (++a == argc || argv[a][0] < '1' || argv[a][0] > '9')
                usage();
            errno = 0;
            top = strtoul(argv[a], &end, 10);
            if (*end || errno)
                usage();
        } else if (argv[a][0] == '-' || a != argc - 1) {
            usage();
        } else {
            dir = argv[a];
        }
    }
    table = xmalloc(cap * sizeof(*table));
    memset(table, 0, cap * sizeof(*table));

    ins = list_inputs(dir, &nin);
    if (!nin)
        reduce(stdin, "stdin");
    for (i = 0; i < nin; i++) {
        FILE *in;
        if (snprintf(path, sizeof(path), "%s/%s", dir, ins[i]) >=
            (int)sizeof(path)) {
            errno = ENAMETOOLONG;
            fail("cannot open", ins[i]);
        }
        if (!(in = fopen(path, "r")))
            fail("cannot open", path);
        reduce(in, path);
        fclose(in);
    }

    for (i = 0; i < cap; i++)
        if (table[i].word)
            table[k++] = table[i];
    qsort(table, k, sizeof(*table), by_count);
    for (i = 0; i < k && (!top || i < top); i++)
        if (printf("%s %llu\n", table[i].word, table[i].count) < 0)
            fail("cannot write", "stdout");
    if (fflush(stdout) || ferror(stdout))
        fail("cannot write", "stdout");
    return 0;
}
