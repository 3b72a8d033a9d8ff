/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * upper.c -- copy stdin to stdout with ASCII a-z turned into A-Z, like
 * "tr a-z A-Z"; every other byte passes unchanged.  Exit status 1 on a
 * read or write error.
 *
 *   gcc -static -O2 -o upper examples/upper.c
 *   echo hello | zerocloud run ./upper
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static unsigned char buf[1 << 16];
    size_t n, i;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        for (i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (unsigned char)(buf[i] - 32);
        if (fwrite(buf, 1, n, stdout) != n)
            break;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "upper: cannot read stdin: %s\n", strerror(errno));
        return 1;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "upper: cannot write stdout: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
