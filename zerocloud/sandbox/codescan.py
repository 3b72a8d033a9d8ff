# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The instruction scan of the static validator.

:func:`_scan` looks for instructions the sandbox cannot make deterministic
(:data:`FORBIDDEN`) in a program's executable pages, and counts the
allowed-but-noted ones (:data:`ALLOWED_NOTED`).  Every byte offset is
searched for their encodings, so bytes hidden inside other instructions are
seen; capstone decodes each hit.  A forbidden hit is then judged: refused
(a :class:`~zerocloud.exceptions.ValidationError` with code
``instruction``) when it can be executed as an instruction, otherwise
reported as hidden.  :func:`zerocloud.sandbox.validator.validate` states
the rule; that module checks the ELF structure, calls :func:`_scan`, and
re-exports the public names defined here.

This module does not import the validator: the few helpers both need
(:func:`_error`, the page arithmetic, ``ET_EXEC``) live here.
"""
import bisect
import collections
import re
import struct
import threading

import capstone

from zerocloud.exceptions import ValidationError

PAGE = 4096
ET_EXEC = 2
SHT_SYMTAB = 2

#: Symbols read at most (only to place instruction hits in functions).
MAX_SYMBOLS = 1 << 20
#: Code is decoded at most this far before and after a forbidden encoding
#: (x86 decoding resynchronizes within a few instructions).
MAX_DECODE = 4096
#: Encodings of forbidden instructions a program may hold, at most (real
#: programs: glibc's hello 4, the python image's interpreter 19): each
#: costs milliseconds to judge, so a program crafted to hold thousands
#: would tie up a validator for minutes.
MAX_FORBIDDEN_ENCODINGS = 1024
#: Bytes of data segments searched, at most, for stored addresses of
#: hidden encodings (each search is one ``bytes.find``).
MAX_DATA_SEARCH = 1 << 30

#: Instructions refused wherever they can be executed, and why.
FORBIDDEN = {
    'rdrand': 'hardware random numbers',
    'rdseed': 'hardware random numbers',
    'rdpid': 'reads the number of the CPU the program runs on',
    'rdpmc': 'reads hardware performance counters',
    'lsl': 'with the per-CPU segment selector it reads the CPU and NUMA '
           'node number (how the vDSO implements getcpu)',
}

#: Instructions allowed but counted in the result, and why they are allowed.
ALLOWED_NOTED = {
    'cpuid': 'answers come from the host CPU; glibc uses it at start-up',
    'rdtsc': 'faults at run time (PR_SET_TSC); glibc contains one',
    'rdtscp': 'faults at run time (PR_SET_TSC)',
}

_SHDR = struct.Struct('<IIQQQQIIQQ')
_SYM = struct.Struct('<IBBHQQ')

#: Every opcode that could decode to a FORBIDDEN or ALLOWED_NOTED
#: instruction, whatever precedes it; capstone decides the rest.
_PATTERN = re.compile(
    rb'\x0f(?:\xc7[\xf0-\xff]'             # rdrand /6, rdseed|rdpid /7
    rb'|\x33'                               # rdpmc
    rb'|\x03'                               # lsl
    rb'|\x01\xf9|\x31|\xa2)')               # rdtscp, rdtsc, cpuid
#: Legacy prefixes and REX: bytes that may precede an opcode.
_PREFIXES = frozenset(b'\x26\x2e\x36\x3e\x64\x65\x66\x67\xf0\xf2\xf3'
                      + bytes(range(0x40, 0x50)))
_BRANCH = re.compile(r'j|call|loop|xbegin')
#: Where a rel32 branch (call, jmp, jcc, xbegin) may start.
_REL32 = re.compile(rb'(?=[\xe8\xe9]|\x0f[\x80-\x8f]|\xc7\xf8)')
#: ModRM bytes of a rip-relative operand (mod 00, r/m 101).
_RIPMODRM = re.compile(rb'[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]')
_RIPREL = re.compile(r'\[rip(?: ([+-]) (0x[0-9a-f]+|\d+))?\]')


# --- shared with the validator (which imports them from here) ------------

def _error(code, message, **attrs):
    err = ValidationError(message)
    err.code = code
    for name, value in attrs.items():
        setattr(err, name, value)
    return err


def _page_down(n):
    return n & ~(PAGE - 1)


def _page_up(n):
    return (n + PAGE - 1) & ~(PAGE - 1)


# --- the scan ------------------------------------------------------------

def _executable_images(data, loads):
    """The executable pages as (first address, bytes) runs.

    Mapping is page-granular, so whole pages are scanned: file bytes next to
    a segment on its first and last page are executable too.  Contiguous
    executable pages are joined, because an instruction may cross from one
    segment into the next.
    """
    runs = []
    for seg in sorted(loads, key=lambda s: s.vaddr):
        if 'x' not in seg.flags:
            continue
        head = seg.vaddr - _page_down(seg.vaddr)
        start = seg.offset - head
        end = min(_page_up(seg.offset + seg.filesz), len(data))
        chunk = data[start:end]
        base = _page_down(seg.vaddr)
        # Zero-filled pages are not materialized (they hide nothing), so
        # only a run whose last page is all file bytes is joined to the next.
        if runs and runs[-1][0] + len(runs[-1][1]) == base and \
                len(runs[-1][1]) % PAGE == 0:
            runs[-1] = (runs[-1][0], runs[-1][1] + chunk)
        else:
            runs.append((base, chunk))
    return runs


class _Code:
    """Decodes code around hits, lazily; one per validation."""

    def __init__(self, data, runs, loads, e_shoff, entry):
        self.data = data
        self.runs = runs
        self.data_segments = [
            (seg.offset, data[seg.offset:seg.offset + seg.filesz])
            for seg in loads if 'x' not in seg.flags]
        shdrs = _sections(data, e_shoff)
        self.symbols = _symbols(data, shdrs, runs)  # sorted (address, name)
        self.symbol_addrs = [a for a, _ in self.symbols]
        self.sections = _code_sections(shdrs)
        self.starts = {}                # address -> (size, mnemonic, ops)
        # address -> what points at it: the entry point, or the address of
        # a branch or of an instruction with a rip-relative operand.
        self.targets = {entry: 'the entry point'}
        self.progress = {}              # region -> decoded up to
        self.cs = _disassembler()

    def run_of(self, addr):
        for base, img in self.runs:
            if base <= addr < base + len(img):
                return base, img
        return None, b''

    def read(self, addr, size):
        base, img = self.run_of(addr)
        return img[addr - base:addr - base + size]

    def decode_one(self, addr):
        base, img = self.run_of(addr)
        i = addr - base
        for insn in self.cs.disasm_lite(img[i:i + 15], addr, 1):
            return insn
        return None

    def region(self, addr):
        """Where to decode from and to: the function around ``addr``.

        Bounded by the executable section holding ``addr`` (an empty region
        when there are sections but none holds it: data in an executable
        segment is not decoded), by the nearest symbols around it, and by
        :data:`MAX_DECODE` bytes on either side.
        """
        base, img = self.run_of(addr)
        lo, hi = base, base + len(img)
        if self.sections:
            for start, end in self.sections:
                if start <= addr < end:
                    lo, hi = max(lo, start), min(hi, end)
                    break
            else:
                return addr, addr
        k = bisect.bisect_right(self.symbol_addrs, addr)
        if k:
            lo = max(lo, self.symbol_addrs[k - 1])
        if k < len(self.symbol_addrs):
            hi = min(hi, self.symbol_addrs[k])
        return max(lo, addr - MAX_DECODE), min(hi, addr + MAX_DECODE)

    def where(self, addr):
        k = bisect.bisect_right(self.symbol_addrs, addr)
        if not k:
            return ''
        sym_addr, name = self.symbols[k - 1]
        return ' in %s+%#x' % (_symbol_name(self.data, name),
                               addr - sym_addr)

    def in_region_bytes(self, addr, needle):
        """Whether ``needle`` occurs in the bytes of the region of addr."""
        lo, hi = self.region(addr)
        base, img = self.run_of(addr)
        return img.find(needle, lo - base, hi - base) >= 0

    def decode(self, addr, upto=None):
        """Decode the region of addr linearly from its start, at least up
        to ``upto`` (to its end by default); resume where we stopped."""
        lo, hi = self.region(addr)
        pos = self.progress.get((lo, hi), lo)
        stop = hi if upto is None else min(hi, upto)
        base, img = self.run_of(addr)
        starts, targets = self.starts, self.targets
        while pos < stop:
            done = pos
            chunk = img[pos - base:hi - base]
            for a, size, mnemonic, ops in self.cs.disasm_lite(chunk, pos):
                starts[a] = (size, mnemonic, ops)
                done = a + size
                if ops and ops[0] == '0' and ops[:2] == '0x' and \
                        _BRANCH.match(mnemonic):
                    targets.setdefault(int(ops, 16), '%#x' % a)
                elif ops and 'rip' in ops:
                    m = _RIPREL.search(ops)
                    if m:
                        disp = int(m.group(2), 0) if m.group(2) else 0
                        sign = -1 if m.group(1) == '-' else 1
                        targets.setdefault(done + sign * disp, '%#x' % a)
                if done >= stop:
                    break
            pos = done if done > pos else pos + 1
        self.progress[(lo, hi)] = pos

    def may_point_at(self, addrs):
        """Whether some bytes in the region of addrs, decoded at any
        offset, form a direct branch or rip-relative operand aimed at one
        of them: a cheap filter before decoding the whole region."""
        lo, hi = self.region(addrs[0])
        base, img = self.run_of(addrs[0])
        wanted = set(addrs)
        for o in range(max(lo, addrs[0] - 130) - base,
                       min(hi, addrs[-1] + 127) - base - 1):
            b = img[o]
            if (0x70 <= b <= 0x7f or 0xe0 <= b <= 0xe3 or b == 0xeb) and \
                    base + o + 2 + (img[o + 1] ^ 0x80) - 0x80 in wanted:
                return True
        for m in _REL32.finditer(img, lo - base, hi - base):
            o = m.start()
            n = 1 if img[o] in (0xe8, 0xe9) else 2
            rel = int.from_bytes(img[o + n:o + n + 4], 'little', signed=True)
            if base + o + n + 4 + rel in wanted:
                return True
        for m in _RIPMODRM.finditer(img, lo - base, hi - base):
            p = m.start()
            rel = int.from_bytes(img[p + 1:p + 5], 'little', signed=True)
            if any(base + p + 5 + imm + rel in wanted for imm in (0, 1, 2, 4)):
                return True
        return False


_local = threading.local()


def _disassembler():
    """This thread's capstone handle (a handle is not thread-safe)."""
    cs = getattr(_local, 'cs', None)
    if cs is None:
        cs = _local.cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    return cs


def _sections(data, e_shoff):
    """Section headers as tuples, or [] when absent or implausible."""
    if not e_shoff:
        return []
    shentsize, shnum = struct.unpack_from('<HH', data, 58)
    if shentsize != _SHDR.size or e_shoff + shnum * _SHDR.size > len(data):
        return []
    return [_SHDR.unpack_from(data, e_shoff + i * _SHDR.size)
            for i in range(shnum)]


def _symbols(data, shdrs, runs):
    """(address, name offset) of code symbols, sorted; best effort.

    Read with struct, not pyelftools: iterating glibc's 2,000 symbols with
    pyelftools takes ~100 ms, this ~1 ms.  Names are read only for messages
    (:func:`_symbol_name`).
    """
    lo = min(base for base, _ in runs)
    hi = max(base + len(img) for base, img in runs)
    symbols = []
    for _, sh_type, _, _, off, size, link, _, _, entsize in shdrs:
        if sh_type != SHT_SYMTAB or entsize != _SYM.size or \
                off + size > len(data) or link >= len(shdrs):
            continue
        str_off, str_size = shdrs[link][4], shdrs[link][5]
        count = min(size // _SYM.size, MAX_SYMBOLS)
        for name, info, _, _, value, _ in _SYM.iter_unpack(
                data[off:off + count * _SYM.size]):
            if info & 0xf in (0, 2) and lo <= value < hi:
                symbols.append((value, (str_off, str_size, name)))
    symbols.sort()
    return symbols


def _symbol_name(data, where):
    str_off, str_size, name = where
    if not 0 <= name < str_size:
        return '?'
    start = str_off + name
    end = data.find(b'\0', start, min(str_off + str_size, len(data)))
    raw = data[start:end] if end >= 0 else b''
    return raw[:200].decode('utf-8', 'replace') or '?'


def _code_sections(shdrs):
    """[(address, end)] of allocated executable sections."""
    return [(addr, addr + size)
            for _, _, flags, addr, _, size, _, _, _, _ in shdrs
            if flags & 0x6 == 0x6 and size]


def _prefix_start(img, i):
    start = i
    while start > max(0, i - 14) and img[start - 1] in _PREFIXES:
        start -= 1
    return start


def _scan(data, loads, e_shoff, e_type, entry):
    runs = _executable_images(data, loads)
    exec_bytes = sum(len(img) for _, img in runs)
    candidates = 0
    noted = collections.Counter()
    forbidden = []
    cs = _disassembler()
    for base, img in runs:
        m = _PATTERN.search(img)
        while m:
            i = m.start()
            candidates += 1
            for a, _, mnemonic, ops in cs.disasm_lite(img[i:i + 15],
                                                      base + i, 1):
                if mnemonic in FORBIDDEN:
                    forbidden.append((base, img, i))
                elif mnemonic in ALLOWED_NOTED:
                    noted[mnemonic] += 1
            m = _PATTERN.search(img, i + 1)
    hidden = ()
    if len(forbidden) > MAX_FORBIDDEN_ENCODINGS:
        raise _error('too-many-hidden', '%d encodings of forbidden '
                     'instructions (more than %d): too many to check that '
                     'none of them can run' % (len(forbidden),
                                               MAX_FORBIDDEN_ENCODINGS),
                     count=len(forbidden))
    if forbidden:
        code = _Code(data, runs, loads, e_shoff, entry)
        hidden = _judge(code, forbidden, e_type)
    confirmed = sum(noted.values())
    return exec_bytes, candidates, confirmed, dict(noted), hidden


def _judge(code, forbidden, e_type):
    """Raise for the first forbidden encoding that can be executed; return
    descriptions of the others (hidden inside other instructions)."""
    hits = []
    for base, img, i in forbidden:
        addr = base + i
        starts = range(base + _prefix_start(img, i), addr + 1)
        # On the instruction stream of its function.
        code.decode(addr, addr + 1)
        for start in starts:
            insn = code.starts.get(start)
            if insn and start + insn[0] > addr:
                raise _refusal(code, addr, start, '')
        # Hidden, but a direct branch or a rip-relative operand points at it.
        if code.may_point_at(starts):
            code.decode(addr)
        for start in starts:
            source = code.targets.get(start)
            if source is not None:
                raise _refusal(code, addr, start, ', hidden%s, reached from '
                               '%s' % (_covering(code, start), source))
            # An ET_EXEC address as an immediate near it (mov $addr, %eax).
            if e_type == ET_EXEC and start < 1 << 32 and \
                    code.in_region_bytes(start, struct.pack('<I', start)):
                raise _refusal(code, addr, start, ', hidden%s, whose address '
                               'is used by its function'
                               % _covering(code, start))
        hits.append((addr, starts))
    # Hidden, but its address is stored in a data segment (a function
    # pointer, a relocation addend).
    data_bytes = sum(len(chunk) for _, chunk in code.data_segments)
    searches = sum(len(starts) for _, starts in hits)
    if data_bytes * searches > MAX_DATA_SEARCH:
        raise _error('too-many-hidden', '%d encodings of forbidden '
                     'instructions hidden in code beside %d bytes of data: '
                     'too many to check that no stored address reaches one'
                     % (len(hits), data_bytes), count=len(hits))
    for addr, starts in hits:
        for start in starts:
            found = _stored(code.data_segments, struct.pack('<Q', start))
            if found is not None:
                raise _refusal(code, addr, start, ', hidden%s, whose '
                               'address is stored at file offset %#x' % (
                                   _covering(code, start), found))
    return tuple(_describe(code, addr) for addr, _ in hits)


def _stored(segments, needle):
    """File offset of the first 8-byte aligned copy of ``needle`` in the
    data segments, or None.  Pointers are stored aligned (data, GOT,
    init arrays, relocation addends); unaligned, the same eight bytes turn
    up by chance in other data: glibc 2.36's static programs without stdio
    have a hidden ``lsl`` whose address is also two ``.eh_frame`` fields'
    bytes side by side.  A segment's file offset and address agree modulo
    the page size, so aligned offsets are aligned addresses."""
    for offset, chunk in segments:
        found = chunk.find(needle, -offset % 8)
        while found >= 0:
            if (offset + found) % 8 == 0:
                return offset + found
            found = chunk.find(needle, found + 1)
    return None


def _describe(code, addr):
    _, size, mnemonic, ops = code.decode_one(addr)
    return '%s%s at %#x (bytes %s)%s' % (
        mnemonic, ' ' + ops if ops else '', addr,
        code.read(addr, size).hex(' '), code.where(addr))


def _refusal(code, addr, start, how):
    """The ValidationError for the forbidden encoding at addr, executed
    from start (addr or a prefix before it)."""
    insn = code.decode_one(start)
    if insn is None or insn[0] + insn[1] <= addr or insn[2] not in FORBIDDEN:
        start, insn = addr, code.decode_one(addr)
    _, size, mnemonic, ops = insn
    raw = code.read(start, size)
    return _error(
        'instruction', 'forbidden instruction %s%s at %#x (bytes %s)%s%s: %s'
        % (mnemonic, ' ' + ops if ops else '', start, raw.hex(' '),
           code.where(start), how, FORBIDDEN[mnemonic]),
        address=start, mnemonic=mnemonic, bytes=raw.hex())


def _covering(code, addr):
    for back in range(1, 16):
        insn = code.starts.get(addr - back)
        if insn and insn[0] > back:
            return ' inside `%s %s` at %#x' % (insn[1], insn[2], addr - back)
    return ''
