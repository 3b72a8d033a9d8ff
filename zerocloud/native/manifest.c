/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * manifest.c -- parse the manifest into `struct manifest` (data first, then
 * act).  The format is line-based text written by zerocloud/sandbox/manifest.py:
 *
 *   zvm-manifest 1                    first line, always
 *   program FD                        the ELF, opened read-only by the caller
 *   report FD                         where the JSON report goes
 *   arg TEXT                          argv[0], argv[1], ... (percent-encoded)
 *   env TEXT                          "K=V" (percent-encoded)
 *   channel PATH r|w FD LIMIT         a guest device; LIMIT bytes, 0 = none
 *   seed N | memory N | cpu N | timeout_ms N | max_output N | clock N
 *   parent PID                        optional: the caller's pid; zvm exits at
 *                                     once when its parent is no longer it
 *   slice_us N                        optional: the CPU time slice the guest
 *                                     asks the scheduler for, 1..100000 us
 *   dir PATH PERM                     a directory of a read-only image
 *   file PATH CHAN OFFSET SIZE PERM   a file of a read-only image: bytes
 *                                     OFFSET..OFFSET+SIZE of read channel
 *                                     number CHAN (0-based, declared before)
 *
 * Image entries (paths percent-encoded, absolute, never under /dev) come
 * sorted by path in byte order, each after its directory; the guest sees
 * them as a read-only file system beside /dev (shim.c).
 * Numbers are decimal.  Unknown keys and duplicates of single-valued keys
 * are errors: a manifest is generated, so anything unexpected is a bug.
 */
#include "zvm.h"

struct manifest M;

static int fail(char *err, size_t cap, int line, const char *what)
{
    struct sbuf b;
    sb_init(&b, err, cap);
    sb_printf(&b, "manifest line %d: %s", line, what);
    return -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int parse_fd(const char *s, int *out)
{
    uint64_t v;
    if (parse_u64(s, &v) || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode %XX in place; a NUL byte is refused (it cannot live in argv). */
static int pct_decode(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi << 4 | lo);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = 0;
    return 0;
}

/* Guest device paths: /dev/stdin.../dev/output, /dev/in/NAME, /dev/out/NAME
 * with NAME in [A-Za-z0-9_.-]+, not "." or "..". */
static int valid_channel_path(const char *p, int mode)
{
    static const char *const fixed_r[] = {"/dev/stdin", "/dev/input", 0};
    static const char *const fixed_w[] = {"/dev/stdout", "/dev/stderr",
                                          "/dev/output", 0};
    const char *const *f = mode == CH_READ ? fixed_r : fixed_w;
    const char *name;
    for (; *f; f++)
        if (streq(p, *f))
            return 1;
    if (mode == CH_READ && startswith(p, "/dev/in/"))
        name = p + 8;
    else if (mode == CH_READ && startswith(p, "/dev/") && !streq(p, "/dev/in") &&
             !streq(p, "/dev/out") && !streq(p, "/dev/stdout") &&
             !streq(p, "/dev/stderr") && !streq(p, "/dev/output"))
        name = p + 5;   /* an image: /dev/image, /dev/python, ... */
    else if (mode == CH_WRITE && startswith(p, "/dev/out/"))
        name = p + 9;
    else
        return 0;
    if (!*name || streq(name, ".") || streq(name, ".."))
        return 0;
    for (; *name; name++) {
        char c = *name;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* An image path: absolute, no empty, "." or ".." component, no trailing
 * slash, not "/" and nothing under /dev (the channels' own directory). */
static int valid_image_path(const char *p)
{
    const char *c;
    if (p[0] != '/' || !p[1] || strlen(p) >= ZVM_MAX_PATH)
        return 0;
    if (streq(p, "/dev") || startswith(p, "/dev/"))
        return 0;
    for (c = p; *c;) {
        const char *s = ++c;    /* past the slash */
        while (*c && *c != '/')
            c++;
        if (c == s || (c - s == 1 && s[0] == '.') ||
            (c - s == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
    }
    return 1;
}

static struct fentry files[ZVM_MAX_FILES];
static uint32_t root_last;

/* The index of the directory entry named by the first len bytes of p among
 * the entries parsed so far (sorted), or ZVM_NO_ENTRY. */
static uint32_t find_parsed(const char *p, size_t len)
{
    uint32_t lo = 0, hi = M.nfiles;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp_n(p, len, files[mid].path);
        if (!c)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return ZVM_NO_ENTRY;
}

/* "dir PATH PERM" or "file PATH CHAN OFFSET SIZE PERM": one entry of a
 * read-only image; entries come sorted by path, after the channels, each
 * after its directory. */
static const char *parse_entry(char **w, int nw)
{
    int isdir = w[0][0] == 'd';
    struct fentry *f;
    uint64_t perm, v;
    const char *slash;
    uint32_t parent;
    if (nw != (isdir ? 3 : 6))
        return isdir ? "dir takes PATH PERM" : "file takes PATH CHAN OFFSET SIZE PERM";
    if (M.nfiles >= ZVM_MAX_FILES)
        return "too many image entries";
    if (pct_decode(w[1]) || !valid_image_path(w[1]))
        return "bad image path";
    if (M.nfiles && strcmp_u(files[M.nfiles - 1].path, w[1]) >= 0)
        return "image entries not sorted or duplicate";
    if (parse_u64(w[nw - 1], &perm) || perm > 07777)
        return "bad permission bits";
    f = &files[M.nfiles];
    memset(f, 0, sizeof(*f));
    f->path = w[1];
    f->perm = (uint16_t)perm;
    f->isdir = (uint8_t)isdir;
    f->first_child = f->next_sibling = f->last_child = ZVM_NO_ENTRY;
    if (!isdir) {
        if (parse_u64(w[2], &v) || v >= (uint64_t)M.nchannels ||
            M.ch[v].mode != CH_READ)
            return "file: CHAN is not a read channel";
        f->chan = (uint16_t)v;
        if (parse_u64(w[3], &f->off) || parse_u64(w[4], &f->size) ||
            f->off > (1ULL << 62) || f->size > (1ULL << 62))
            return "file: bad offset or size";
    }
    slash = w[1] + strlen(w[1]);
    while (*--slash != '/')
        ;
    parent = ZVM_NO_ENTRY;
    if (slash != w[1]) {
        parent = find_parsed(w[1], (size_t)(slash - w[1]));
        if (parent == ZVM_NO_ENTRY || !files[parent].isdir)
            return "image entry before its directory";
    }
    f->parent = parent;
    {   /* Children come in path order, so appending keeps them sorted. */
        uint32_t *first = parent == ZVM_NO_ENTRY ? &M.root_first : &files[parent].first_child;
        uint32_t *last = parent == ZVM_NO_ENTRY ? &root_last : &files[parent].last_child;
        if (*first == ZVM_NO_ENTRY)
            *first = M.nfiles;
        else
            files[*last].next_sibling = M.nfiles;
        *last = M.nfiles;
    }
    M.nfiles++;
    return 0;
}

/* Split a line into at most n space-separated words; returns the count. */
static int split(char *line, char **words, int n)
{
    int k = 0;
    while (*line && k < n) {
        while (*line == ' ')
            *line++ = 0;
        if (!*line)
            break;
        words[k++] = line;
        while (*line && *line != ' ')
            line++;
    }
    while (*line == ' ')
        *line++ = 0;
    return *line ? -1 : k;
}

int manifest_parse(char *text, size_t len, char *err, size_t errcap)
{
    enum { S_PROGRAM, S_REPORT, S_SEED, S_MEMORY, S_CPU, S_TIMEOUT,
           S_MAXOUT, S_CLOCK, S_PARENT, S_SLICE, S_N };
    static const char *const single[S_N] = {
        "program", "report", "seed", "memory", "cpu", "timeout_ms",
        "max_output", "clock", "parent", "slice_us"};
    int seen[S_N] = {0};
    int lineno = 0;
    char *p = text, *end = text + len;

    /* M is in .bss and parsed once per process: already zero.  Not
     * clearing it again spares ~25 page faults at every start. */
    M.program_fd = M.report_fd = -1;
    M.memory = 256UL << 20;
    M.clock = 1577836800;   /* 2020-01-01T00:00:00Z */
    M.files = files;
    M.root_first = root_last = ZVM_NO_ENTRY;

    while (p < end) {
        char *nl = p, *w[6];
        int nw, i;
        while (nl < end && *nl != '\n')
            nl++;
        if (nl == end)
            return fail(err, errcap, lineno + 1, "missing final newline");
        *nl = 0;
        lineno++;
        for (char *q = p; q < nl; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return fail(err, errcap, lineno, "control character");
        nw = split(p, w, 6);
        p = nl + 1;
        if (nw < 0)
            return fail(err, errcap, lineno, "too many words");
        if (lineno == 1) {
            if (nw != 2 || !streq(w[0], "zvm-manifest") || !streq(w[1], "1"))
                return fail(err, errcap, lineno,
                            "expected 'zvm-manifest 1' (version mismatch?)");
            continue;
        }
        if (nw == 0)
            continue;
        if (streq(w[0], "arg") || streq(w[0], "env")) {
            int is_arg = w[0][0] == 'a';
            /* An empty value has no word: use the line's end, a NUL in
             * the (writable) text, which pct_decode writes to. */
            char *v = nw == 2 ? w[1] : p - 1;
            if (nw > 2)
                return fail(err, errcap, lineno, "arg/env takes one word");
            if (pct_decode(v))
                return fail(err, errcap, lineno, "bad percent-encoding");
            if (is_arg) {
                if (M.argc >= ZVM_MAX_ARGS)
                    return fail(err, errcap, lineno, "too many args");
                M.argv[M.argc++] = v;
            } else {
                if (M.envc >= ZVM_MAX_ENV)
                    return fail(err, errcap, lineno, "too many env entries");
                M.envp[M.envc++] = v;
            }
            continue;
        }
        if (streq(w[0], "dir") || streq(w[0], "file")) {
            const char *why = parse_entry(w, nw);
            if (why)
                return fail(err, errcap, lineno, why);
            continue;
        }
        if (streq(w[0], "channel")) {
            struct channel *c;
            if (nw != 5)
                return fail(err, errcap, lineno,
                            "channel takes PATH MODE FD LIMIT");
            if (M.nchannels >= ZVM_MAX_CHANNELS)
                return fail(err, errcap, lineno, "too many channels");
            c = &M.ch[M.nchannels];
            if (streq(w[2], "r"))
                c->mode = CH_READ;
            else if (streq(w[2], "w"))
                c->mode = CH_WRITE;
            else
                return fail(err, errcap, lineno, "channel mode must be r or w");
            if (strlen(w[1]) >= ZVM_MAX_PATH || !valid_channel_path(w[1], c->mode))
                return fail(err, errcap, lineno, "bad channel path for its mode");
            for (i = 0; i < M.nchannels; i++)
                if (streq(M.ch[i].path, w[1]))
                    return fail(err, errcap, lineno, "duplicate channel");
            memcpy(c->path, w[1], strlen(w[1]) + 1);
            if (parse_fd(w[3], &c->host_fd))
                return fail(err, errcap, lineno, "bad channel fd");
            if (parse_u64(w[4], &c->limit))
                return fail(err, errcap, lineno, "bad channel limit");
            M.nchannels++;
            continue;
        }
        for (i = 0; i < S_N; i++)
            if (streq(w[0], single[i]))
                break;
        if (i == S_N)
            return fail(err, errcap, lineno, "unknown key");
        if (nw != 2)
            return fail(err, errcap, lineno, "key takes one value");
        if (seen[i]++)
            return fail(err, errcap, lineno, "duplicate key");
        {
            uint64_t v;
            if (parse_u64(w[1], &v))
                return fail(err, errcap, lineno, "bad number");
            switch (i) {
            case S_PROGRAM:
            case S_REPORT:
                if (v > 65535)
                    return fail(err, errcap, lineno, "bad fd");
                if (i == S_PROGRAM)
                    M.program_fd = (int)v;
                else
                    M.report_fd = (int)v;
                break;
            case S_SEED: M.seed = v; break;
            case S_MEMORY: M.memory = v; break;
            case S_CPU: M.cpu_seconds = v; break;
            case S_TIMEOUT: M.timeout_ms = v; break;
            case S_MAXOUT: M.max_output = v; break;
            case S_CLOCK: M.clock = v; break;
            case S_PARENT: M.parent = v; break;
            case S_SLICE:
                if (v == 0 || v > ZVM_MAX_SLICE_US)
                    return fail(err, errcap, lineno, "slice_us must be 1..100000");
                M.slice_us = v;
                break;
            }
        }
    }
    if (lineno == 0)
        return fail(err, errcap, 1, "empty manifest");
    if (!seen[S_PROGRAM])
        return fail(err, errcap, lineno, "no program");
    if (!seen[S_REPORT])
        return fail(err, errcap, lineno, "no report fd");
    if (M.argc == 0)
        return fail(err, errcap, lineno, "no argv[0]");
    if (M.memory < ZVM_STACK_SIZE + (1UL << 20))
        return fail(err, errcap, lineno, "memory limit below 9 MiB");
    if (M.memory > (1UL << 40))
        return fail(err, errcap, lineno, "memory limit above 1 TiB");
    return 0;
}
