/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * limits.c -- misbehaves on request (argv[1]) so tests can watch each limit
 * end the run with its own reason.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    static char chunk[1 << 16];
    if (!strcmp(c, "alloc")) {      /* grab 1 MiB blocks until refused */
        long n = 0;
        char *p;
        while ((p = malloc(1 << 20))) {
            memset(p, 1, 1 << 20);
            n++;
        }
        printf("blocks %ld\n", n);
        return 1;
    }
    if (!strcmp(c, "spin")) {       /* burn CPU forever */
        volatile unsigned long x = 0;
        for (;;)
            x++;
    }
    if (!strcmp(c, "block")) {      /* wait on stdin forever */
        char b;
        return (int)read(0, &b, 1);
    }
    if (!strcmp(c, "flood")) {      /* write forever */
        memset(chunk, 'x', sizeof(chunk));
        for (;;)
            if (write(1, chunk, sizeof(chunk)) < 0)
                return 3;
    }
    if (!strcmp(c, "write")) {      /* exactly N bytes to stdout */
        long n = atol(argv[2]);
        memset(chunk, 'y', sizeof(chunk));
        while (n > 0) {
            long k = n < (long)sizeof(chunk) ? n : (long)sizeof(chunk);
            if (write(1, chunk, (size_t)k) != k)
                return 3;
            n -= k;
        }
        return 0;
    }
    if (!strcmp(c, "hang")) {       /* say so on stdout, then burn CPU */
        volatile unsigned long x = 0;
        if (write(1, "started\n", 8) != 8)
            return 3;
        for (;;)
            x++;
    }
    if (!strcmp(c, "raise"))        /* SIGTERM to itself */
        return raise(SIGTERM) ? 3 : 4;
    if (!strcmp(c, "crash"))        /* a NULL dereference */
        return *(volatile int *)0;
    return 2;
}
