/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * sys.c -- the freestanding runtime: memory and string helpers, a bounded
 * formatter, error reporting.  No libc: the shim runs with the guest's %fs,
 * so nothing here may touch thread-local storage.
 */
#include <asm/unistd.h>
#include <asm/errno.h>

#include "zvm.h"

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp < sp) {
        while (n--)
            *dp++ = *sp++;
    } else {
        while (n--)
            dp[n] = sp[n];
    }
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = d;
    while (n--)
        *dp++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *ap = a, *bp = b;
    for (; n; n--, ap++, bp++)
        if (*ap != *bp)
            return *ap < *bp ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* strcmp over unsigned bytes: the order Python's sorted() gives UTF-8. */
int strcmp_u(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (int)(unsigned char)*a - (int)(unsigned char)*b;
}

/* strcmp_u of the first alen bytes of a (no NUL among them) against b. */
int strcmp_n(const char *a, size_t alen, const char *b)
{
    size_t i;
    for (i = 0; i < alen; i++) {
        if (a[i] != b[i] || !b[i])
            return (int)(unsigned char)a[i] - (int)(unsigned char)b[i];
    }
    return b[i] ? -1 : 0;
}

int startswith(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

/* ---- bounded string builder ---------------------------------------------- */

void sb_init(struct sbuf *b, char *mem, size_t cap)
{
    b->p = mem;
    b->len = 0;
    b->cap = cap;
    b->truncated = 0;
    if (cap)
        mem[0] = 0;
}

void sb_putc(struct sbuf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len++] = c;
        b->p[b->len] = 0;
    } else {
        b->truncated = 1;
    }
}

void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    while (n--)
        sb_putc(b, *s++);
}

void sb_puts(struct sbuf *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

void sb_putu(struct sbuf *b, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        sb_putc(b, tmp[--i]);
}

void sb_puti(struct sbuf *b, int64_t v)
{
    if (v < 0) {
        sb_putc(b, '-');
        sb_putu(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_putu(b, (uint64_t)v);
    }
}

static void sb_putx(struct sbuf *b, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    int i = 0;
    do {
        tmp[i++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (i)
        sb_putc(b, tmp[--i]);
}

/* Supports %s %c %d %i %u %x %% with the l, ll and z length modifiers. */
void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            sb_putc(b, *fmt);
            continue;
        }
        fmt++;
        int longs = 0;
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            sb_puts(b, s ? s : "(null)");
            break;
        }
        case 'c':
            sb_putc(b, (char)va_arg(ap, int));
            break;
        case 'd':
        case 'i':
            sb_puti(b, longs ? va_arg(ap, int64_t) : va_arg(ap, int));
            break;
        case 'u':
            sb_putu(b, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned));
            break;
        case 'x':
            sb_putx(b, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned));
            break;
        case '%':
            sb_putc(b, '%');
            break;
        default:
            sb_putc(b, '?');
            return;
        }
    }
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* A JSON string literal, quotes included. */
void sb_json_str(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sb_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            sb_puts(b, "\\u00");
            sb_putc(b, hex[c >> 4]);
            sb_putc(b, hex[c & 15]);
        } else {
            sb_putc(b, (char)c);
        }
    }
    sb_putc(b, '"');
}

/* ---- errors ---------------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        long r = SC3(__NR_write, fd, p, n);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One "zvm: ...\n" line on stderr. */
static void vwarn(const char *fmt, va_list ap)
{
    char mem[1024];
    struct sbuf b;
    sb_init(&b, mem, sizeof(mem) - 1);
    sb_puts(&b, "zvm: ");
    sb_vprintf(&b, fmt, ap);
    mem[b.len++] = '\n';
    write_all(2, mem, b.len);
}

void warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

void sys_exit(int code)
{
    for (;;)
        SC1(__NR_exit_group, code);
}

void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    sys_exit(status);
}

const char *errname(long err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case EFBIG: return "EFBIG";
    case EDQUOT: return "EDQUOT";
    case ECONNRESET: return "ECONNRESET";
    case ENOTCONN: return "ENOTCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOSYS: return "ENOSYS";
    case ENODEV: return "ENODEV";
    case ENOEXEC: return "ENOEXEC";
    case E2BIG: return "E2BIG";
    default: return "errno";
    }
}
