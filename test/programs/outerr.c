/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * outerr.c -- writes to /dev/out/o whose destination may fail; used by
 * test/unit/sandbox/test_zvm_output_error.py.
 *
 *   outerr DISPOSITION ACTION
 *
 * DISPOSITION: "dfl" leaves SIGPIPE alone, "ign" sets it to SIG_IGN.
 * ACTION:
 *   small       write "hello\n" once, exit 0
 *   flood       write 4 KiB blocks until a write fails: print
 *               "outerr: write N: <strerror>" on stderr and exit 3
 *   sync        write 10000 bytes, read one byte from stdin (the test
 *               sends it once its reader has those bytes and went away),
 *               then flood
 *   raise       raise(SIGPIPE), then print "survived" and exit 0
 *   flood-dfl   flood (as ign), then set SIGPIPE back to SIG_DFL: print
 *               "still here" (the EPIPE already seen must not kill), then
 *               write once more (this one must kill)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char block[4096];

static int flood(int fd)
{
    long i;
    for (i = 0; i < 1000000; i++)
        if (write(fd, block, sizeof(block)) < 0) {
            fprintf(stderr, "outerr: write %ld: %s\n", i, strerror(errno));
            return 3;
        }
    return 0;
}

int main(int argc, char **argv)
{
    const char *act = argc > 2 ? argv[2] : "";
    int fd;

    if (argc != 3)
        return 2;
    if (!strcmp(argv[1], "ign"))
        signal(SIGPIPE, SIG_IGN);
    memset(block, 'x', sizeof(block));
    if (!strcmp(act, "raise")) {
        raise(SIGPIPE);
        printf("survived\n");
        return 0;
    }
    fd = open("/dev/out/o", O_WRONLY);
    if (fd < 0) {
        perror("outerr: open /dev/out/o");
        return 2;
    }
    if (!strcmp(act, "small"))
        return write(fd, "hello\n", 6) == 6 ? 0 : 3;
    if (!strcmp(act, "flood"))
        return flood(fd);
    if (!strcmp(act, "sync")) {
        static char first[10000];
        char c;
        memset(first, 'a', sizeof(first));
        if (write(fd, first, sizeof(first)) != (long)sizeof(first) ||
            read(0, &c, 1) != 1)
            return 4;
        return flood(fd);
    }
    if (!strcmp(act, "flood-dfl")) {
        flood(fd);
        signal(SIGPIPE, SIG_DFL);
        fprintf(stderr, "still here\n");
        write(fd, block, 1);
        fprintf(stderr, "not reached\n");
        return 0;
    }
    return 2;
}
