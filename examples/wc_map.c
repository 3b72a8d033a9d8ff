/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * wc_map.c -- the map half of a map-reduce word count (wc_reduce.c is the
 * other half).  Reads /dev/input when it exists, else stdin, and counts its
 * words; a word is a run of ASCII letters, digits and apostrophes,
 * lower-cased, at most 255 bytes (longer runs keep their first 255), as in
 * wordcount.c.
 *
 * The reducers are the entries of /dev/out (or of DIR when given), sorted
 * bytewise: a job whose map group has "connect": ["reduce"] gives every
 * mapper /dev/out/reduce-1 .. reduce-N.  Each word goes to reducer number
 * FNV-1a-64(word) % N as a line "WORD COUNT\n"; each reducer gets its words
 * sorted bytewise, so the output depends on the input bytes only.  Without
 * any reducer everything goes to stdout.  Any write or close error (a full
 * disk, a broken pipe) is an error: message on stderr, exit status 1.
 *
 *   gcc -static -O2 -o wc_map examples/wc_map.c
 *   zerocloud run --input book.txt --out reduce-1=r1 --out reduce-2=r2 \
 *       ./wc_map
 *   ./wc_map DIR < book.txt    # natively: writes to the files in DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORD 255

struct entry {
    char *word;
    uint64_t hash;
    long count;
};

static struct entry *table;
static size_t cap = 1024, used;

static void die(const char *what, const char *name)
{
    fprintf(stderr, "wc_map: %s %s: %s\n", what, name, strerror(errno));
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fputs("wc_map: out of memory\n", stderr);
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
    table = xcalloc(cap, sizeof(*table));
    for (i = 0; i < oldcap; i++)
        if (old[i].word) {
            for (j = old[i].hash & (cap - 1); table[j].word;
                 j = (j + 1) & (cap - 1))
                ;
            table[j] = old[i];
        }
    free(old);
}

static void add(const char *w, size_t len)
{
    uint64_t h = fnv1a(w, len);
    size_t i = h & (cap - 1);
    for (; table[i].word; i = (i + 1) & (cap - 1))
        if (table[i].hash == h && !strcmp(table[i].word, w)) {
            table[i].count++;
            return;
        }
    table[i].word = xcalloc(len + 1, 1);
    memcpy(table[i].word, w, len);
    table[i].hash = h;
    table[i].count = 1;
    if (++used * 2 > cap)
        grow();
}

static int is_word_byte(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '\'';
}

static void count_words(FILE *in, const char *name)
{
    static unsigned char buf[1 << 16];
    char word[MAX_WORD + 1];
    size_t n = 0, got, i;

    while ((got = fread(buf, 1, sizeof(buf), in)) > 0) {
        for (i = 0; i < got; i++) {
            int c = buf[i];
            if (is_word_byte(c)) {
                if (n < MAX_WORD)
                    word[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            } else if (n) {
                word[n] = 0;
                add(word, n);
                n = 0;
            }
        }
    }
    if (ferror(in))
        die("cannot read", name);
    if (n) {
        word[n] = 0;
        add(word, n);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir; *n = 0 when it does not exist. */
static char **list_outputs(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t have = 0, room = 0;

    *n = 0;
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return NULL;
        die("cannot list", dir);
    }
    errno = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (have == room) {
            room = room ? room * 2 : 16;
            names = realloc(names, room * sizeof(*names));
            if (!names)
                die("out of memory listing", dir);
        }
        if (!(names[have++] = strdup(e->d_name)))
            die("out of memory listing", dir);
        errno = 0;
    }
    if (errno)
        die("cannot list", dir);
    closedir(d);
    qsort(names, have, sizeof(*names), by_name);
    *n = have;
    return names;
}

static int by_word(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->word,
                  ((const struct entry *)b)->word);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/dev/out";
    const char *in_name = "/dev/input";
    FILE *in;
    char **outs;
    size_t nout, i, k = 0, r;

    if (argc > 2) {
        fputs("usage: wc_map [DIR]\n", stderr);
        return 2;
    }
    /* A reader that went away must show up as EPIPE, not go unnoticed. */
    signal(SIGPIPE, SIG_IGN);
    in = fopen(in_name, "r");
    if (!in) {
        in = stdin;
        in_name = "stdin";
    }
    table = xcalloc(cap, sizeof(*table));
    count_words(in, in_name);

    for (i = 0; i < cap; i++)
        if (table[i].word)
            table[k++] = table[i];
    qsort(table, k, sizeof(*table), by_word);

    outs = list_outputs(dir, &nout);
    for (r = 0; r < (nout ? nout : 1); r++) {
        char path[4096];
        FILE *out = stdout;
        const char *name = "stdout";

        if (nout) {
            if (snprintf(path, sizeof(path), "%s/%s", dir, outs[r]) >=
                (int)sizeof(path)) {
                errno = ENAMETOOLONG;
                die("cannot open", outs[r]);
            }
            name = path;
            if (!(out = fopen(path, "w")))
                die("cannot open", name);
        }
        for (i = 0; i < k; i++)
            if (!nout || table[i].hash % nout == r)
                if (fprintf(out, "%s %ld\n", table[i].word,
                            table[i].count) < 0)
                    die("cannot write", name);
        if (fflush(out) || ferror(out))
            die("cannot write", name);
        if (fclose(out))
            die("cannot close", name);
    }
    return 0;
}
