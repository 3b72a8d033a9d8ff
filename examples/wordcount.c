/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * wordcount.c -- count words on stdin (or /dev/input when it exists) and
 * print "COUNT WORD" lines, most frequent first, ties in byte order.
 * A word is a run of ASCII letters, digits and apostrophes, lower-cased.
 *
 *   gcc -static -O2 -o wordcount examples/wordcount.c
 *   zerocloud run ./wordcount < README.md
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *word;
    long count;
};

static struct entry *table;
static size_t cap = 1024, used;

static unsigned long hash(const char *s)
{
    unsigned long h = 1469598103934665603UL;   /* FNV-1a: stable everywhere */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211UL;
    return h;
}

static void grow(void);

static void add(const char *w)
{
    size_t i = hash(w) & (cap - 1);
    while (table[i].word) {
        if (!strcmp(table[i].word, w)) {
            table[i].count++;
            return;
        }
        i = (i + 1) & (cap - 1);
    }
    table[i].word = strdup(w);
    table[i].count = 1;
    if (++used * 2 > cap)
        grow();
}

static void grow(void)
{
    struct entry *old = table;
    size_t oldcap = cap, i;
    cap *= 2;
    used = 0;
    table = calloc(cap, sizeof(*table));
    for (i = 0; i < oldcap; i++)
        if (old[i].word) {
            size_t j = hash(old[i].word) & (cap - 1);
            while (table[j].word)
                j = (j + 1) & (cap - 1);
            table[j] = old[i];
            used++;
        }
    free(old);
}

static int by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

int main(int argc, char **argv)
{
    FILE *in = fopen("/dev/input", "r");
    char word[256];
    size_t n = 0, i, k = 0;
    int c, limit = argc > 1 ? atoi(argv[1]) : 0;

    if (!in)
        in = stdin;
    table = calloc(cap, sizeof(*table));
    while ((c = getc(in)) != EOF) {
        if (isalnum(c) || c == '\'') {
            if (n < sizeof(word) - 1)
                word[n++] = (char)tolower(c);
        } else if (n) {
            word[n] = 0;
            add(word);
            n = 0;
        }
    }
    if (n) {
        word[n] = 0;
        add(word);
    }
    for (i = 0; i < cap; i++)
        if (table[i].word)
            table[k++] = table[i];
    qsort(table, k, sizeof(*table), by_count);
    for (i = 0; i < k && (!limit || (int)i < limit); i++)
        printf("%ld %s\n", table[i].count, table[i].word);
    return 0;
}
