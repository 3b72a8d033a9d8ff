/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * files.c -- walks a read-only image the way programs use files, and
 * prints what it got.  Commands (argv, one after another):
 *   cat PATH            the file's bytes (stdio), then a newline
 *   ls PATH             "ls PATH: name/ name ..." (sorted as listed)
 *   stat PATH           "stat PATH: dir|file|fifo SIZE PERM"
 *   seek PATH OFF N     N bytes at OFF: lseek + read
 *   pread PATH OFF N    N bytes at OFF: pread
 *   lseek PATH W:OFF,.. lseek calls in a row on one fd (W: s SEEK_SET, c
 *                       SEEK_CUR, e SEEK_END, 3 an unknown whence), then a
 *                       read of up to 4 bytes: "lseek PATH: 5 8 EINVAL |x|"
 *   readv PATH OFF      preadv of 3 + 4 bytes at OFF, then readv of 3 + 4
 *                       from the fd's offset (0): "readv PATH: |abc|defg|..."
 *   write PATH          open(O_WRONLY | O_CREAT): "write PATH: EROFS" or what
 *                       open answered
 *   access PATH         "access PATH: r w x" as answered (ok or errno)
 *   cd PATH             chdir, then "cd: <getcwd>"
 *   tree PATH           every file under PATH (nftw-like, with readdir)
 * Used by test/unit/sandbox/test_zvm_image.py and the functional tests.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *ename(int e)
{
    static char buf[16];
    switch (e) {
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case EACCES: return "EACCES";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ESPIPE: return "ESPIPE";
    default:
        snprintf(buf, sizeof(buf), "errno%d", e);
        return buf;
    }
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char *names[512];
    int n = 0, i;
    if (!d) {
        printf("tree %s: %s\n", path, ename(errno));
        return;
    }
    while ((e = readdir(d)) && n < 512) {
        char *full;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (asprintf(&full, "%s/%s", strcmp(path, "/") ? path : "", e->d_name) < 0)
            exit(3);
        names[n++] = full;
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp);
    for (i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (strcmp(names[i], "/dev"))
                tree(names[i]);
        } else {
            printf("%s %lld\n", names[i], (long long)st.st_size);
        }
        free(names[i]);
    }
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *cmd = argv[i], *p = i + 1 < argc ? argv[i + 1] : "";
        i++;
        if (!strcmp(cmd, "cat")) {
            FILE *f = fopen(p, "r");
            char buf[4096];
            size_t n;
            if (!f) {
                printf("cat %s: %s\n", p, ename(errno));
                continue;
            }
            while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, stdout);
            fclose(f);
            putchar('\n');
        } else if (!strcmp(cmd, "ls")) {
            DIR *d = opendir(p);
            struct dirent *e;
            if (!d) {
                printf("ls %s: %s\n", p, ename(errno));
                continue;
            }
            printf("ls %s:", p);
            while ((e = readdir(d)))
                printf(" %s%s", e->d_name, e->d_type == DT_DIR ? "/" :
                       e->d_type == DT_FIFO ? "|" : "");
            putchar('\n');
            closedir(d);
        } else if (!strcmp(cmd, "stat")) {
            struct stat st;
            if (stat(p, &st)) {
                printf("stat %s: %s\n", p, ename(errno));
                continue;
            }
            printf("stat %s: %s %lld %o\n", p, S_ISDIR(st.st_mode) ? "dir" :
                   S_ISREG(st.st_mode) ? "file" : S_ISFIFO(st.st_mode) ? "fifo" : "other",
                   (long long)st.st_size, (unsigned)(st.st_mode & 07777));
        } else if (!strcmp(cmd, "seek") || !strcmp(cmd, "pread")) {
            long off = atol(argv[i + 1]), n = atol(argv[i + 2]), got;
            char buf[256];
            int fd = open(p, O_RDONLY);
            i += 2;
            if (fd < 0) {
                printf("%s %s: %s\n", cmd, p, ename(errno));
                continue;
            }
            if (n > (long)sizeof(buf))
                n = sizeof(buf);
            if (cmd[0] == 's') {
                long at = lseek(fd, off, off < 0 ? SEEK_END : SEEK_SET);
                got = at < 0 ? -1 : read(fd, buf, n);
            } else {
                got = pread(fd, buf, n, off);
            }
            if (got < 0)
                printf("%s %s: %s\n", cmd, p, ename(errno));
            else
                printf("%s %s: %.*s|\n", cmd, p, (int)got, buf);
            close(fd);
        } else if (!strcmp(cmd, "lseek")) {
            int fd = open(p, O_RDONLY);
            char spec[256], *tok, *save = 0, buf[4];
            long got;
            if (fd < 0) {
                printf("lseek %s: %s\n", p, ename(errno));
                i++;
                continue;
            }
            snprintf(spec, sizeof(spec), "%s", argv[++i]);
            printf("lseek %s:", p);
            for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(0, ",", &save)) {
                int whence = tok[0] == 's' ? SEEK_SET : tok[0] == 'c' ? SEEK_CUR :
                             tok[0] == 'e' ? SEEK_END : 3;
                off_t r = lseek(fd, (off_t)strtoll(tok + 2, 0, 10), whence);
                if (r < 0)
                    printf(" %s", ename(errno));
                else
                    printf(" %lld", (long long)r);
            }
            got = read(fd, buf, sizeof(buf));
            printf(" |%.*s|\n", got > 0 ? (int)got : 0, buf);
            close(fd);
        } else if (!strcmp(cmd, "readv")) {
            char a[3], b[4], c[3], d[4];
            struct iovec one[2] = {{a, 3}, {b, 4}}, two[2] = {{c, 3}, {d, 4}};
            int fd = open(p, O_RDONLY);
            long x, y;
            i++;
            if (fd < 0) {
                printf("readv %s: %s\n", p, ename(errno));
                continue;
            }
            x = preadv(fd, one, 2, atol(argv[i]));
            y = readv(fd, two, 2);
            if (x < 0 || y < 0)
                printf("readv %s: %s\n", p, ename(errno));
            else
                printf("readv %s: %ld |%.3s|%.*s| %ld |%.3s|%.*s|\n", p, x, a,
                       (int)(x > 3 ? x - 3 : 0), b, y, c, (int)(y > 3 ? y - 3 : 0), d);
            close(fd);
        } else if (!strcmp(cmd, "write")) {
            int fd = open(p, O_WRONLY | O_CREAT, 0644);
            printf("write %s: %s\n", p, fd < 0 ? ename(errno) : "opened");
        } else if (!strcmp(cmd, "access")) {
            printf("access %s: %s %s %s\n", p,
                   access(p, R_OK) ? ename(errno) : "ok",
                   access(p, W_OK) ? ename(errno) : "ok",
                   access(p, X_OK) ? ename(errno) : "ok");
        } else if (!strcmp(cmd, "cd")) {
            char cwd[256];
            if (chdir(p))
                printf("cd %s: %s\n", p, ename(errno));
            else
                printf("cd: %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : ename(errno));
        } else if (!strcmp(cmd, "tree")) {
            tree(p);
        } else {
            fprintf(stderr, "files: unknown command %s\n", cmd);
            return 2;
        }
    }
    return 0;
}
