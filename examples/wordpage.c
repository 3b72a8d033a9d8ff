/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * wordpage.c -- a web page of word counts, answered as a CGI program: reads
 * "WORD COUNT\n" lines on stdin (what wc_reduce.c writes) and prints an
 * HTTP header block, then an HTML table of the first words.  The query
 * string (QUERY_STRING, as zerocloud gives it to a program of an opened
 * object) may hold "top=N" (rows, default 10, at most 1000) and
 * "word=W" (only the rows whose word contains W, a plain string).  A bad
 * query is answered "400 Bad Request"; a line that is not "WORD COUNT" is
 * an error on stderr and exit status 1.
 *
 * Its job is the template examples/jobs/wordpage.json: stored as
 * .zvm/text/x-word-counts/config, it opens every object of that type:
 *
 *   gcc -static -O2 -o wordpage examples/wordpage.c
 *   curl "$PROXY/open/AUTH_test/counts/reduce-1.txt?top=5&word=da"
 *   QUERY_STRING=top=5 ./wordpage < counts.txt     # natively
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOP 1000
#define MAX_WORD 256

static char word_filter[MAX_WORD];

/* Decode the %XX and '+' of a query value in place; 0 when malformed. */
static int unescape(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '+') {
            *out++ = ' ';
        } else if (*s == '%') {
            unsigned v;
            if (!s[1] || !s[2] || sscanf(s + 1, "%2x", &v) != 1)
                return 0;
            *out++ = (char)v;
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
    return 1;
}

/* Parse QUERY_STRING into *top and word_filter; 0 when it is bad. */
static int parse_query(long *top)
{
    const char *query = getenv("QUERY_STRING");
    char buf[1024], *pair, *save = NULL;

    if (!query || !*query)
        return 1;
    if (strlen(query) >= sizeof(buf))
        return 0;
    strcpy(buf, query);
    for (pair = strtok_r(buf, "&", &save); pair;
         pair = strtok_r(NULL, "&", &save)) {
        char *value = strchr(pair, '=');
        if (!value)
            return 0;
        *value++ = '\0';
        if (!unescape(value))
            return 0;
        if (!strcmp(pair, "top")) {
            char *end;
            *top = strtol(value, &end, 10);
            if (!*value || *end || *top < 1 || *top > MAX_TOP)
                return 0;
        } else if (!strcmp(pair, "word")) {
            if (strlen(value) >= sizeof(word_filter))
                return 0;
            strcpy(word_filter, value);
        }           /* other names are left to other programs */
    }
    return 1;
}

static void put_html(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s);
        }
    }
}

int main(void)
{
    char line[MAX_WORD + 32];
    unsigned long lineno = 0;
    long top = 10, shown = 0;

    if (!parse_query(&top)) {
        fputs("Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n"
              "the query may hold top=N (1-1000) and word=TEXT\n", stdout);
        return 0;
    }
    fputs("Content-Type: text/html; charset=utf-8\r\n\r\n"
          "<!DOCTYPE html>\n<table>\n<tr><th>word</th><th>count</th></tr>\n",
          stdout);
    while (fgets(line, sizeof(line), stdin)) {
        char *space = strchr(line, ' '), *end;
        unsigned long long count;

        lineno++;
        if (!space || space == line || !strchr(space, '\n')) {
            fprintf(stderr, "wordpage: line %lu: not \"WORD COUNT\"\n",
                    lineno);
            return 1;
        }
        *space = '\0';
        count = strtoull(space + 1, &end, 10);
        if (*end != '\n') {
            fprintf(stderr, "wordpage: line %lu: not \"WORD COUNT\"\n",
                    lineno);
            return 1;
        }
        if (shown >= top || (*word_filter && !strstr(line, word_filter)))
            continue;       /* read on: the input is checked to its end */
        fputs("<tr><td>", stdout);
        put_html(line);
        printf("</td><td>%llu</td></tr>\n", count);
        shown++;
    }
    fputs("</table>\n", stdout);
    return ferror(stdout) ? 1 : 0;
}
