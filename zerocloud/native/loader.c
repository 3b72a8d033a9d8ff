/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * loader.c -- map a static x86-64 ELF (ET_EXEC or static-pie ET_DYN) at fixed
 * addresses and build its initial stack, argv, envp and auxv.
 *
 * The guest is never execve'd: exec would map the vDSO (host time without a
 * syscall), drop the SIGSYS handler, and need execveat in the policy.  The
 * auxv therefore has no AT_SYSINFO_EHDR, so libc falls back to real syscalls,
 * which the policy traps.  Every check here returns an "invalid binary"
 * error; nothing a file contains may crash the launcher.
 */
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/stat.h>
#include <asm/mman.h>
#include <elf.h>

#include "zvm.h"


#define MAX_PHNUM 64
#define GUEST_ID 1000           /* the fixed uid/gid the guest sees */

static Elf64_Phdr phdrs[MAX_PHNUM];

static uint64_t page_down(uint64_t v) { return v & ~(ZVM_PAGE - 1); }
static uint64_t page_up(uint64_t v) { return (v + ZVM_PAGE - 1) & ~(ZVM_PAGE - 1); }

static int bad(char *err, size_t cap, int *invalid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t cap, int *invalid, const char *fmt, ...)
{
    struct sbuf b;
    va_list ap;
    sb_init(&b, err, cap);
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    *invalid = 1;
    return -1;
}

static int failed(char *err, size_t cap, const char *what, long rc)
{
    struct sbuf b;
    sb_init(&b, err, cap);
    sb_printf(&b, "%s: %s", what, errname(rc));
    return -1;
}

static long pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        long r = SC4(__NR_pread64, fd, (char *)buf + got, n - got, off + got);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}

static int prot_of(uint32_t flags)
{
    return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
           ((flags & PF_X) ? PROT_EXEC : 0);
}

/* Checks that need no mapping: header, program headers, ranges. */
static int check_elf(int fd, Elf64_Ehdr *eh, uint64_t *base, uint64_t fsize,
                     char *err, size_t cap, int *invalid)
{
    long r = pread_all(fd, eh, sizeof(*eh), 0);
    uint64_t lo = UINT64_MAX, hi = 0, prev_end = 0;
    int i, nload = 0, entry_ok = 0;

    if (r < 0)
        return failed(err, cap, "reading the program", r);
    if (r < 4 || memcmp(eh->e_ident, ELFMAG, SELFMAG))
        return bad(err, cap, invalid, "not an ELF file");
    if ((size_t)r < sizeof(*eh))
        return bad(err, cap, invalid, "truncated ELF header");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return bad(err, cap, invalid, "not a 64-bit ELF (ELFCLASS64 required)");
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return bad(err, cap, invalid, "not a little-endian ELF");
    if (eh->e_machine != EM_X86_64)
        return bad(err, cap, invalid, "not an x86-64 ELF (e_machine %u)",
                   (unsigned)eh->e_machine);
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        return bad(err, cap, invalid, "not an executable (e_type %u)",
                   (unsigned)eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return bad(err, cap, invalid, "bad program header size %u",
                   (unsigned)eh->e_phentsize);
    if (eh->e_phnum == 0 || eh->e_phnum > MAX_PHNUM)
        return bad(err, cap, invalid, "%u program headers (1..%d allowed)",
                   (unsigned)eh->e_phnum, MAX_PHNUM);
    if (eh->e_phoff > fsize ||
        fsize - eh->e_phoff < (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))
        return bad(err, cap, invalid, "program headers past the end of the file");
    r = pread_all(fd, phdrs, eh->e_phnum * sizeof(Elf64_Phdr), eh->e_phoff);
    if (r < 0)
        return failed(err, cap, "reading program headers", r);
    if ((size_t)r != eh->e_phnum * sizeof(Elf64_Phdr))
        return bad(err, cap, invalid, "truncated program headers");

    *base = eh->e_type == ET_DYN ? ZVM_PIE_BASE : 0;
    for (i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr *ph = &phdrs[i];
        uint64_t start, end;
        if (ph->p_type == PT_INTERP)
            return bad(err, cap, invalid,
                       "dynamically linked (PT_INTERP): only static programs run");
        if (ph->p_type != PT_LOAD)
            continue;
        nload++;
        if (ph->p_filesz > ph->p_memsz)
            return bad(err, cap, invalid, "segment %d: file size above memory size", i);
        if (ph->p_offset > fsize || fsize - ph->p_offset < ph->p_filesz)
            return bad(err, cap, invalid, "segment %d: past the end of the file", i);
        if ((ph->p_offset & (ZVM_PAGE - 1)) != (ph->p_vaddr & (ZVM_PAGE - 1)))
            return bad(err, cap, invalid, "segment %d: offset and address misaligned", i);
        if ((ph->p_flags & PF_W) && (ph->p_flags & PF_X))
            return bad(err, cap, invalid,
                       "segment %d: writable and executable (W^X)", i);
        if (ph->p_memsz > ZVM_MMAP_BOTTOM)
            return bad(err, cap, invalid, "segment %d: absurd size (%lu bytes)", i,
                       (uint64_t)ph->p_memsz);
        if (ph->p_vaddr > ZVM_MMAP_BOTTOM)
            return bad(err, cap, invalid,
                       "segment %d: address 0x%lx outside the guest range", i,
                       (uint64_t)ph->p_vaddr);
        start = *base + ph->p_vaddr;
        end = start + ph->p_memsz;
        if (start < ZVM_GUEST_LOW || end > ZVM_MMAP_BOTTOM || end < start)
            return bad(err, cap, invalid,
                       "segment %d: address 0x%lx outside the guest range", i,
                       (uint64_t)start);
        if (page_down(start) < prev_end)
            return bad(err, cap, invalid,
                       "segment %d: overlaps or shares a page with the previous one", i);
        prev_end = page_up(end);
        if (start < lo)
            lo = start;
        if (end > hi)
            hi = end;
        if ((ph->p_flags & PF_X) && *base + eh->e_entry >= start &&
            *base + eh->e_entry < start + ph->p_filesz)
            entry_ok = 1;
    }
    if (!nload)
        return bad(err, cap, invalid, "no loadable segment");
    if (!entry_ok)
        return bad(err, cap, invalid, "entry point 0x%lx outside every executable segment",
                   (uint64_t)eh->e_entry);
    return 0;
}

static int map_segments(int fd, const Elf64_Ehdr *eh, uint64_t base,
                        struct loaded *ld, char *err, size_t cap)
{
    int i;
    ld->mapped_bytes = 0;
    ld->load_end = 0;
    for (i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr *ph = &phdrs[i];
        uint64_t start, file_end, mem_end, mstart;
        int prot;
        long r;
        if (ph->p_type != PT_LOAD)
            continue;
        start = base + ph->p_vaddr;
        file_end = start + ph->p_filesz;
        mem_end = start + ph->p_memsz;
        mstart = page_down(start);
        prot = prot_of(ph->p_flags);
        if (ph->p_filesz) {
            /* Writable while we zero the partial page after the file data. */
            int tmp = prot | (ph->p_memsz > ph->p_filesz ? PROT_WRITE : 0);
            r = SC6(__NR_mmap, mstart, page_up(file_end) - mstart,
                    tmp, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
                    fd, page_down(ph->p_offset));
            if (r < 0)
                return failed(err, cap, "mapping a segment", r);
            if (ph->p_memsz > ph->p_filesz && (file_end & (ZVM_PAGE - 1)))
                memset((void *)file_end, 0, page_up(file_end) - file_end);
            if (tmp != prot) {
                r = SC3(__NR_mprotect, mstart, page_up(file_end) - mstart, prot);
                if (r < 0)
                    return failed(err, cap, "protecting a segment", r);
            }
        }
        if (page_up(mem_end) > page_up(file_end)) {
            uint64_t a = ph->p_filesz ? page_up(file_end) : mstart;
            r = SC6(__NR_mmap, a, page_up(mem_end) - a, prot,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (r < 0)
                return failed(err, cap, "mapping a segment's bss", r);
        }
        ld->mapped_bytes += page_up(mem_end) - mstart;
        if (page_up(mem_end) > ld->load_end)
            ld->load_end = page_up(mem_end);
    }
    /* AT_PHDR: PT_PHDR if present, else the loaded bytes holding e_phoff. */
    ld->phdr = 0;
    for (i = 0; i < eh->e_phnum; i++)
        if (phdrs[i].p_type == PT_PHDR)
            ld->phdr = base + phdrs[i].p_vaddr;
    for (i = 0; !ld->phdr && i < eh->e_phnum; i++)
        if (phdrs[i].p_type == PT_LOAD && eh->e_phoff >= phdrs[i].p_offset &&
            eh->e_phoff < phdrs[i].p_offset + phdrs[i].p_filesz)
            ld->phdr = base + phdrs[i].p_vaddr + (eh->e_phoff - phdrs[i].p_offset);
    ld->phent = sizeof(Elf64_Phdr);
    ld->phnum = eh->e_phnum;
    ld->entry = base + eh->e_entry;
    return 0;
}

/* The initial stack, from the top down: 16 AT_RANDOM bytes, the platform
 * string, argv and env strings, padding, auxv, envp, argv, argc. */
static int build_stack(struct loaded *ld, char *err, size_t cap, int *invalid)
{
    uint64_t lo = ZVM_STACK_TOP - ZVM_STACK_SIZE, top = ZVM_STACK_TOP;
    uint64_t strbytes = 0, p, random, platform, *sp;
    uint64_t argv_at[ZVM_MAX_ARGS], env_at[ZVM_MAX_ENV];
    size_t words;
    int i, nauxv = 0;
    long r;
    struct { uint64_t k, v; } auxv[24];

    for (i = 0; i < M.argc; i++)
        strbytes += strlen(M.argv[i]) + 1;
    for (i = 0; i < M.envc; i++)
        strbytes += strlen(M.envp[i]) + 1;
    if (strbytes > ZVM_STACK_SIZE / 4)
        return bad(err, cap, invalid, "arguments and environment too large (%lu bytes)",
                   strbytes);
    r = SC6(__NR_mmap, lo, ZVM_STACK_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (r < 0)
        return failed(err, cap, "mapping the guest stack", r);

    p = top - 16;
    random = p;
    prng_bytes((void *)random, 16);
    p -= 8;
    platform = p;
    memcpy((void *)platform, "x86_64", 7);
    for (i = 0; i < M.argc; i++) {
        size_t n = strlen(M.argv[i]) + 1;
        p -= n;
        memcpy((void *)p, M.argv[i], n);
        argv_at[i] = p;
    }
    for (i = 0; i < M.envc; i++) {
        size_t n = strlen(M.envp[i]) + 1;
        p -= n;
        memcpy((void *)p, M.envp[i], n);
        env_at[i] = p;
    }
    p &= ~15UL;

#define AUX(key, val) do { auxv[nauxv].k = (key); auxv[nauxv].v = (val); nauxv++; } while (0)
    AUX(AT_PHDR, ld->phdr);
    AUX(AT_PHENT, ld->phent);
    AUX(AT_PHNUM, ld->phnum);
    AUX(AT_PAGESZ, ZVM_PAGE);
    AUX(AT_BASE, 0);
    AUX(AT_FLAGS, 0);
    AUX(AT_ENTRY, ld->entry);
    AUX(AT_UID, GUEST_ID);
    AUX(AT_EUID, GUEST_ID);
    AUX(AT_GID, GUEST_ID);
    AUX(AT_EGID, GUEST_ID);
    AUX(AT_SECURE, 0);
    AUX(AT_CLKTCK, 100);
    AUX(AT_HWCAP, 0);
    AUX(AT_HWCAP2, 0);
    AUX(AT_RANDOM, random);
    AUX(AT_PLATFORM, platform);
    AUX(AT_EXECFN, argv_at[0]);
    AUX(AT_NULL, 0);
#undef AUX

    words = 1 + (size_t)M.argc + 1 + (size_t)M.envc + 1 + 2 * (size_t)nauxv;
    if (words & 1)
        p -= 8;
    p -= words * 8;
    sp = (uint64_t *)p;
    *sp++ = (uint64_t)M.argc;
    for (i = 0; i < M.argc; i++)
        *sp++ = argv_at[i];
    *sp++ = 0;
    for (i = 0; i < M.envc; i++)
        *sp++ = env_at[i];
    *sp++ = 0;
    for (i = 0; i < nauxv; i++) {
        *sp++ = auxv[i].k;
        *sp++ = auxv[i].v;
    }
    ld->sp = p;
    return 0;
}

int load_guest(int fd, struct loaded *out, char *err, size_t cap, int *invalid)
{
    struct stat st;
    Elf64_Ehdr eh;
    uint64_t base = 0;
    long r;

    *invalid = 0;
    r = SC2(__NR_fstat, fd, &st);
    if (r < 0)
        return failed(err, cap, "fstat of the program", r);
    if ((st.st_mode & 0170000) != 0100000)
        return bad(err, cap, invalid, "the program is not a regular file");
    memset(&eh, 0, sizeof(eh));
    if (check_elf(fd, &eh, &base, (uint64_t)st.st_size, err, cap, invalid))
        return -1;
    {   /* Refuse before mapping anything that cannot fit the limit. */
        uint64_t need = 0;
        int i;
        for (i = 0; i < eh.e_phnum; i++)
            if (phdrs[i].p_type == PT_LOAD)
                need += page_up(phdrs[i].p_vaddr + phdrs[i].p_memsz) -
                        page_down(phdrs[i].p_vaddr);
        if (need + ZVM_STACK_SIZE > M.memory) {
            struct sbuf b;
            sb_init(&b, err, cap);
            sb_printf(&b, "the program's segments (%lu bytes) and its stack "
                      "do not fit the memory limit (%lu bytes)", need, M.memory);
            return -2;
        }
    }
    if (map_segments(fd, &eh, base, out, err, cap))
        return -1;
    return build_stack(out, err, cap, invalid);
}
