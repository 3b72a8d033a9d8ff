# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Hand-made ELF files and a seeded ELF mutator, for the validator's tests.

:func:`tiny_elf` assembles a minimal static x86-64 program (or a variant of
one, to build negative fixtures without a compiler); :func:`mutants` yields
deterministic, structure-aware mutations of ELF files.  Both are reusable:
the sandbox tests feed the accepted mutants to ``zvm``.
"""
import random
import struct

__all__ = ['EXIT_0', 'tiny_elf', 'elf32_header', 'mutants', 'set_field',
           'EHDR_FIELDS', 'PHDR_FIELDS']

#: mov eax, 60 (exit); xor edi, edi; syscall
EXIT_0 = bytes.fromhex('b83c000000 31ff 0f05')

#: ELF64 header fields: name -> (offset, struct format).
EHDR_FIELDS = {
    'e_type': (16, '<H'), 'e_machine': (18, '<H'), 'e_version': (20, '<I'),
    'e_entry': (24, '<Q'), 'e_phoff': (32, '<Q'), 'e_shoff': (40, '<Q'),
    'e_ehsize': (52, '<H'), 'e_phentsize': (54, '<H'), 'e_phnum': (56, '<H'),
    'e_shentsize': (58, '<H'), 'e_shnum': (60, '<H'),
    'e_shstrndx': (62, '<H'),
}
#: ELF64 program header fields: name -> (offset in the entry, format).
PHDR_FIELDS = {
    'p_type': (0, '<I'), 'p_flags': (4, '<I'), 'p_offset': (8, '<Q'),
    'p_vaddr': (16, '<Q'), 'p_paddr': (24, '<Q'), 'p_filesz': (32, '<Q'),
    'p_memsz': (40, '<Q'), 'p_align': (48, '<Q'),
}

_BASE = 0x400000


def tiny_elf(code=EXIT_0, flags=5, e_type=2, machine=62, elf_class=2,
             entry=None, extra_phdrs=(), base=_BASE):
    """A static program: the ELF header, its program headers and ``code``
    in one page-aligned ``PT_LOAD`` segment at ``base`` (flags r-x = 5).

    ``extra_phdrs`` are (p_type, p_flags, offset, vaddr, filesz, memsz)
    tuples appended after the code segment's header.
    """
    phnum = 1 + len(extra_phdrs)
    code_off = 0x1000
    ident = b'\x7fELF' + bytes([elf_class, 1, 1, 0]) + bytes(8)
    if entry is None:
        entry = base + code_off
    ehdr = ident + struct.pack('<HHIQQQIHHHHHH', e_type, machine, 1, entry,
                               64, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs = struct.pack('<IIQQQQQQ', 1, flags, code_off, base + code_off,
                        0, len(code), len(code), 0x1000)
    for p_type, p_flags, off, vaddr, filesz, memsz in extra_phdrs:
        phdrs += struct.pack('<IIQQQQQQ', p_type, p_flags, off, vaddr, 0,
                             filesz, memsz, 0x1000)
    head = ehdr + phdrs
    return head + bytes(code_off - len(head)) + code


def elf32_header():
    """An ELFCLASS32 EM_386 executable header (crafted, not compiled)."""
    ident = b'\x7fELF' + bytes([1, 1, 1, 0]) + bytes(8)
    return ident + struct.pack('<HHIIIIIHHHHHH', 2, 3, 1, 0x8049000, 52, 0,
                               0, 52, 32, 1, 40, 0, 0) + bytes(64)


def set_field(data, offset, fmt, value):
    """data with the field at offset replaced (value wrapped to fit)."""
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    buf = bytearray(data)
    if offset + size <= len(buf):
        struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def _interesting(rng, size, current):
    top = (1 << (8 * size)) - 1
    return rng.choice([
        0, 1, 2, 7, 0x38, 0x40, 0xfff, 0x1000, 0x10000, 0x7fffffff, top,
        top // 2, current + 1, current - 1, current + 0x1000,
        current * 2, current ^ (1 << rng.randrange(8 * size)),
        rng.randrange(top + 1),
    ])


_FORBIDDEN = [bytes.fromhex(h) for h in (
    '0fc7f0', '480fc7f0', '0fc7f8', 'f30fc7f8', '0f33', '0f03c0')]


def _mutate(rng, data):
    kind = rng.randrange(9)
    n = len(data)
    if n < 64:
        kind = 0
    if kind == 0:       # flip bytes anywhere
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if kind in (1, 2):  # an ELF header field
        name = rng.choice(sorted(EHDR_FIELDS))
        off, fmt = EHDR_FIELDS[name]
        cur = struct.unpack_from(fmt, data, off)[0]
        return set_field(data, off, fmt,
                         _interesting(rng, struct.calcsize(fmt), cur))
    phoff, phnum = struct.unpack_from('<Q', data, 32)[0], \
        struct.unpack_from('<H', data, 56)[0]
    if kind in (3, 4, 5) and phnum and phoff + 56 * phnum <= n:
        entry = phoff + 56 * rng.randrange(min(phnum, 64))
        name = rng.choice(sorted(PHDR_FIELDS))
        off, fmt = PHDR_FIELDS[name]
        cur = struct.unpack_from(fmt, data, entry + off)[0]
        if name == 'p_flags':
            value = rng.randrange(8)
        elif name == 'p_type':
            value = rng.choice([0, 1, 2, 3, 4, 6, 7, 0x6474e550,
                                0x6474e551, 0x6474e552, cur])
        else:
            value = _interesting(rng, struct.calcsize(fmt), cur)
        return set_field(data, entry + off, fmt, value)
    if kind == 6:       # truncate
        return data[:rng.randrange(n)]
    if kind == 7:       # a forbidden encoding somewhere
        at = rng.randrange(n)
        patch = rng.choice(_FORBIDDEN)
        return data[:at] + patch + data[at + len(patch):]
    # splice a random slice of the file over another place
    a, b = sorted(rng.randrange(n) for _ in range(2))
    at = rng.randrange(n)
    piece = data[a:min(b, a + 256)]
    return data[:at] + piece + data[at + len(piece):]


def mutants(seed, count, bases=None):
    """Yield ``count`` mutated ELF files (bytes), deterministically.

    Each mutant is one to three mutations of one of ``bases`` (bytes of ELF
    files; by default a few :func:`tiny_elf` variants).
    """
    rng = random.Random(seed)
    bases = list(bases or [
        tiny_elf(),
        tiny_elf(e_type=3, base=0),
        tiny_elf(extra_phdrs=[(1, 6, 0x1000, 0x402000, 0x8, 0x2000),
                              (0x6474e551, 6, 0, 0, 0, 0)]),
    ])
    for _ in range(count):
        data = rng.choice(bases)
        for _ in range(rng.randint(1, 3)):
            data = _mutate(rng, data)
        yield data
