# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Static validation of a program before its first run.

ZeroVM refused to run a binary its validator had not accepted and told the
user why; zerocloud does the same.  :func:`validate` reads a program (a path
or its bytes) and returns a :class:`ValidationResult`, or raises
:class:`~zerocloud.exceptions.ValidationError` whose message names the
problem.  The error also carries ``code`` (a short name of the failed check,
see :data:`CHECKS`) and ``sha256``; for a refused instruction also
``address``, ``mnemonic`` and ``bytes`` (hex).

What is checked (``doc/validator.rst`` says what is not, and why):

* the file: not empty, at most :data:`MAX_FILE_SIZE` bytes, ELF magic,
  ``ELFCLASS64``, little-endian, ``EM_X86_64``, ``ET_EXEC`` or ``ET_DYN``,
  a complete header and program header table, at most :data:`MAX_PHDRS`
  program headers;
* linking: no ``PT_INTERP`` and no ``DT_NEEDED`` (``ET_DYN`` without them is
  a static-pie);
* the memory image: loadable segments inside the file, page-congruent,
  within the address space the launcher leaves to guests, not overlapping
  (not even sharing a page), at most :data:`MAX_IMAGE_SIZE` bytes in all;
  no segment both writable and executable, no executable stack; the entry
  point inside an executable segment;
* the code: no instruction whose result the sandbox cannot make
  deterministic (:data:`FORBIDDEN`).  Every byte offset of the executable
  pages is scanned for their encodings, so bytes hidden inside other
  instructions are seen; capstone then decodes each hit and decides whether
  it is executable as an instruction (see :func:`validate`).  The scan lives
  in :mod:`zerocloud.sandbox.codescan`; its public names (:data:`FORBIDDEN`,
  :data:`ALLOWED_NOTED`, :data:`MAX_DECODE`) are re-exported here.

Results are cached by the program's sha256 (:class:`ValidationCache`): a
binary is validated once, and a cached reject stays a reject.
"""
import collections
import dataclasses
import hashlib
import json
import os
import re
import struct
import tempfile
import threading
import time

import capstone
from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

from zerocloud.exceptions import ValidationError
# The instruction scan, and the helpers it shares with this module; the
# public names are re-exported (validator.FORBIDDEN etc. stay valid).
from zerocloud.sandbox.codescan import (  # noqa: F401 (re-exports)
    ALLOWED_NOTED, ET_EXEC, FORBIDDEN, MAX_DECODE, MAX_SYMBOLS, PAGE,
    SHT_SYMTAB, _error, _page_down, _page_up, _scan)

__all__ = ['validate', 'validate_cached', 'ValidationResult', 'Segment',
           'ValidationCache', 'DEFAULT_CACHE', 'FORBIDDEN', 'ALLOWED_NOTED',
           'CHECKS', 'VALIDATOR_VERSION']

#: Bumped whenever a rule changes, so that on-disk cache entries written by
#: an older validator are not trusted.
VALIDATOR_VERSION = 3

#: Larger files are refused without being read.
MAX_FILE_SIZE = 256 * 1024 * 1024
#: Static programs have about 10 program headers.
MAX_PHDRS = 64
#: Bound on the sum of the loadable segments' memory sizes (and on the span
#: of a static-pie image): the launcher maps this much before the guest runs.
MAX_IMAGE_SIZE = 1024 * 1024 * 1024
#: ``ET_EXEC`` segments may not start below Linux's default
#: ``vm.mmap_min_addr``.
MIN_ADDRESS = 0x10000
#: Guest segments must end below the guest mmap area: ZVM_MMAP_BOTTOM in
#: zerocloud/native/zvm.h for ET_EXEC; static-pie images are placed at
#: ZVM_PIE_BASE, so their own addresses must stay below the difference.
#: (test_validator checks these against zvm.h.)
MAX_ADDRESS = 0x200000000000
PIE_BASE = 0x100000000000
#: Size of ``PT_DYNAMIC`` we read at most (entries of 16 bytes).
MAX_DYNAMIC_ENTRIES = 4096

#: The ``code`` of every ValidationError, in the order they are checked.
CHECKS = (
    'unreadable', 'empty', 'too-large', 'not-elf', 'truncated', 'elf-class',
    'byte-order', 'elf-version', 'machine', 'elf-type', 'bad-header',
    'too-many-phdrs', 'no-segments', 'dynamic', 'segment-bounds',
    'segment-address', 'segment-alignment', 'wx-segment', 'exec-stack',
    'segment-overlap', 'entry', 'instruction', 'too-many-hidden',
    'malformed',
)

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_TLS = 1, 2, 3, 7
PT_GNU_STACK = 0x6474e551
PF_X, PF_W, PF_R = 1, 2, 4
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5
ET_DYN = 3
EM_X86_64 = 62

_EHDR = struct.Struct('<16sHHIQQQIHHHHHH')
_PHDR = struct.Struct('<IIQQQQQQ')
_DYN = struct.Struct('<qQ')


@dataclasses.dataclass(frozen=True)
class Segment:
    """One ``PT_LOAD`` segment: where it goes and what it may do."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: str          # 'r-x', 'rw-', ...

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """An accepted program.

    ``exec_bytes`` counts the bytes of executable pages scanned;
    ``candidates`` the byte offsets where a watched encoding starts;
    ``instructions_confirmed`` those capstone decoded as a watched
    instruction (counted per mnemonic in ``noted``: allowed ones at any byte
    offset); ``hidden`` describes forbidden encodings that were found only
    inside other instructions and that nothing is seen to reach, which are
    accepted (see doc/validator.rst).  ``cached`` is true when the result
    came from a cache; ``elapsed_ms`` is then the original validation time.
    """

    sha256: str
    size: int
    format: str         # 'static' or 'static-pie'
    entry: int
    segments: tuple
    exec_bytes: int
    candidates: int
    instructions_confirmed: int
    noted: dict
    hidden: tuple
    elapsed_ms: float
    cached: bool = False

    def to_dict(self):
        d = dataclasses.asdict(self)
        d['segments'] = [s.to_dict() for s in self.segments]
        d['noted'] = dict(self.noted)
        d['hidden'] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d['segments'] = tuple(Segment(**s) for s in d['segments'])
        d['hidden'] = tuple(d['hidden'])
        return cls(**d)

    def summary(self):
        """One line for humans: the CLI prints it after ``ok``."""
        noted = ', '.join('%s %d' % kv for kv in sorted(self.noted.items()))
        text = ('%s, entry %#x, %d segments (%s), %d executable bytes '
                'scanned, %d instructions confirmed%s, %d hidden encodings '
                'ignored, '
                'sha256 %s, %.1f ms%s' % (
                    self.format, self.entry, len(self.segments),
                    ' '.join(s.flags for s in self.segments),
                    self.exec_bytes, self.instructions_confirmed,
                    ' (%s)' % noted if noted else '', len(self.hidden),
                    self.sha256[:16], self.elapsed_ms,
                    ', cached' if self.cached else ''))
        return text


def _error_dict(err):
    d = {k: v for k, v in vars(err).items() if not k.startswith('_')}
    d['message'] = str(err)
    return d


def _error_from_dict(d):
    d = dict(d)
    return _error(d.pop('code', 'malformed'), d.pop('message', ''), **d)


def _flags(p_flags):
    return ''.join(c if p_flags & bit else '-'
                   for c, bit in (('r', PF_R), ('w', PF_W), ('x', PF_X)))


# --- reading ---------------------------------------------------------------

def _stat_key(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path_or_bytes):
    """(bytes, stat key or None): the key identifies an unchanged file."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        if len(data) > MAX_FILE_SIZE:
            raise _error('too-large', 'file is %d bytes, more than the %d '
                         'allowed' % (len(data), MAX_FILE_SIZE))
        return data, None
    try:
        with open(path_or_bytes, 'rb') as f:
            before = os.fstat(f.fileno())
            if before.st_size > MAX_FILE_SIZE:
                raise _error('too-large', 'file is %d bytes, more than the '
                             '%d allowed' % (before.st_size, MAX_FILE_SIZE))
            data = f.read(MAX_FILE_SIZE + 1)
            key = _stat_key(before)
            if _stat_key(os.fstat(f.fileno())) != key:
                key = None      # changed while we read it
            return data, key
    except OSError as exc:
        raise _error('unreadable', 'cannot read: %s' % (
            exc.strerror or exc,)) from None


def _known_file(path_or_bytes, cache):
    """The cached digest of an unchanged file, without reading it."""
    if cache is None or isinstance(path_or_bytes,
                                   (bytes, bytearray, memoryview)):
        return None
    try:
        return cache.digest_of(_stat_key(os.stat(path_or_bytes)))
    except OSError:
        return None


# --- the ELF structure -----------------------------------------------------

def _check_header(data):
    if not data:
        raise _error('empty', 'empty file: not a program')
    if len(data) > MAX_FILE_SIZE:
        raise _error('too-large', 'file is %d bytes, more than the %d '
                     'allowed' % (len(data), MAX_FILE_SIZE))
    if not data.startswith(b'\x7fELF'[:len(data)]) or len(data) < 4:
        raise _error('not-elf', 'not an ELF file (starts with %s)'
                     % data[:4].hex(' '))
    if len(data) < _EHDR.size:
        raise _error('truncated', 'truncated ELF header: %d bytes, need %d'
                     % (len(data), _EHDR.size))
    ident = data[:16]
    if ident[4] != 2:
        raise _error('elf-class', 'not ELFCLASS64 (EI_CLASS is %d%s): only '
                     '64-bit programs run' % (
                         ident[4], ', 32-bit' if ident[4] == 1 else ''))
    if ident[5] != 1:
        raise _error('byte-order', 'not little-endian (EI_DATA is %d)'
                     % ident[5])
    hdr = _EHDR.unpack_from(data)
    (_, e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, _,
     _, e_phentsize, e_phnum, _, _, _) = hdr
    if ident[6] != 1 or e_version != 1:
        raise _error('elf-version', 'unknown ELF version %d/%d'
                     % (ident[6], e_version))
    if e_machine != EM_X86_64:
        names = {v: k for k, v in ENUM_E_MACHINE.items()}
        raise _error('machine', 'machine is %s (%d), not EM_X86_64' % (
            names.get(e_machine, 'unknown'), e_machine))
    if e_type not in (ET_EXEC, ET_DYN):
        names = {v: k for k, v in ENUM_E_TYPE.items()}
        raise _error('elf-type', 'ELF type %s (%d) is not a program: need '
                     'ET_EXEC or ET_DYN' % (names.get(e_type, 'unknown'),
                                            e_type))
    if e_phentsize != _PHDR.size:
        raise _error('bad-header', 'program header entry size is %d, not %d'
                     % (e_phentsize, _PHDR.size))
    if e_phnum > MAX_PHDRS:
        raise _error('too-many-phdrs', '%d program headers, more than the '
                     '%d allowed' % (e_phnum, MAX_PHDRS))
    if e_phnum == 0:
        raise _error('no-segments', 'no program headers: nothing to load')
    end = e_phoff + e_phnum * _PHDR.size
    if end > len(data):
        raise _error('truncated', 'truncated file: the program header table '
                     'ends at byte %d of %d' % (end, len(data)))
    return e_type, e_entry, e_phoff, e_phnum, e_shoff


def _phdrs(data, phoff, phnum):
    return [_PHDR.unpack_from(data, phoff + i * _PHDR.size)
            for i in range(phnum)]


def _file_range(data, what, offset, size):
    if offset + size > len(data):
        raise _error('segment-bounds', '%s (file bytes %d..%d) extends past '
                     'the end of the file (%d bytes)'
                     % (what, offset, offset + size, len(data)))
    return data[offset:offset + size]


def _check_linking(data, e_type, phdrs):
    for p_type, _, off, _, _, filesz, _, _ in phdrs:
        if p_type == PT_INTERP:
            interp = _file_range(data, 'PT_INTERP', off, min(filesz, 4096))
            raise _error('dynamic', 'dynamically linked: requests the '
                         'interpreter %s; link with -static or -static-pie'
                         % interp.split(b'\0')[0].decode('utf-8', 'replace'))
    for p_type, _, off, _, _, filesz, _, _ in phdrs:
        if p_type != PT_DYNAMIC:
            continue
        dyn = _file_range(data, 'PT_DYNAMIC', off, filesz)
        needed, strtab = [], None
        for i in range(min(len(dyn) // _DYN.size, MAX_DYNAMIC_ENTRIES)):
            tag, val = _DYN.unpack_from(dyn, i * _DYN.size)
            if tag == DT_NULL:
                break
            if tag == DT_NEEDED:
                needed.append(val)
            elif tag == DT_STRTAB:
                strtab = val
        if needed:
            raise _error('dynamic', 'dynamically linked: needs %s; link with '
                         '-static or -static-pie'
                         % _dyn_name(data, phdrs, strtab, needed[0]))
    return 'static' if e_type == ET_EXEC else 'static-pie'


def _dyn_name(data, phdrs, strtab, index):
    for p_type, _, off, vaddr, _, filesz, _, _ in phdrs:
        if p_type == PT_LOAD and strtab is not None and \
                vaddr <= strtab < vaddr + filesz:
            start = off + strtab - vaddr + index
            name = data[start:start + 256].split(b'\0')[0]
            if name:
                return name.decode('utf-8', 'replace')
    return 'a shared library'


def _check_segments(e_type, e_entry, phdrs, size):
    loads = []
    total = 0
    for p_type, p_flags, off, vaddr, _, filesz, memsz, _ in phdrs:
        what = 'segment at %#x' % vaddr
        if p_type == PT_GNU_STACK and p_flags & PF_X:
            raise _error('exec-stack', 'asks for an executable stack '
                         '(PT_GNU_STACK %s); the sandbox never maps writable '
                         'memory executable' % _flags(p_flags))
        if p_type == PT_TLS and memsz > MAX_IMAGE_SIZE:
            raise _error('too-large', 'thread-local storage of %d bytes, '
                         'more than the %d allowed' % (memsz, MAX_IMAGE_SIZE))
        if p_type != PT_LOAD:
            continue
        if off + filesz > size:
            raise _error('segment-bounds', '%s (file bytes %d..%d) extends '
                         'past the end of the file (%d bytes)'
                         % (what, off, off + filesz, size))
        if filesz > memsz:
            raise _error('segment-bounds', '%s has more file bytes (%d) than '
                         'memory bytes (%d)' % (what, filesz, memsz))
        total += memsz
        if memsz > MAX_IMAGE_SIZE or total > MAX_IMAGE_SIZE:
            raise _error('too-large', 'loadable segments need %d bytes of '
                         'memory, more than the %d allowed'
                         % (max(memsz, total), MAX_IMAGE_SIZE))
        limit = MAX_ADDRESS - (PIE_BASE if e_type == ET_DYN else 0)
        if vaddr + memsz > limit or (
                e_type == ET_EXEC and vaddr < MIN_ADDRESS):
            raise _error('segment-address', '%s (%d bytes) is outside the '
                         'guest address range %#x..%#x'
                         % (what, memsz, MIN_ADDRESS, limit))
        if (vaddr - off) % PAGE:
            raise _error('segment-alignment', '%s is at file offset %#x: '
                         'address and offset differ modulo the page size'
                         % (what, off))
        if p_flags & PF_W and p_flags & PF_X:
            raise _error('wx-segment', '%s is both writable and executable '
                         '(%s)' % (what, _flags(p_flags)))
        loads.append(Segment(vaddr, memsz, off, filesz, _flags(p_flags)))
    if not loads:
        raise _error('no-segments', 'no loadable (PT_LOAD) segment')
    ordered = sorted(loads, key=lambda s: s.vaddr)
    for prev, seg in zip(ordered, ordered[1:]):
        if seg.vaddr < prev.vaddr + prev.memsz:
            raise _error('segment-overlap', 'segments at %#x and %#x overlap'
                         % (prev.vaddr, seg.vaddr))
        if _page_down(seg.vaddr) < _page_up(prev.vaddr + prev.memsz):
            raise _error('segment-overlap', 'segments at %#x and %#x share '
                         'the page at %#x' % (prev.vaddr, seg.vaddr,
                                              _page_down(seg.vaddr)))
    span = _page_up(ordered[-1].vaddr + ordered[-1].memsz) - \
        _page_down(ordered[0].vaddr)
    if span > MAX_IMAGE_SIZE:
        raise _error('too-large', 'loadable segments span %d bytes, more '
                     'than the %d allowed' % (span, MAX_IMAGE_SIZE))
    if not any('x' in s.flags and s.vaddr <= e_entry < s.vaddr + s.memsz
               for s in loads):
        raise _error('entry', 'entry point %#x is outside every executable '
                     'segment' % e_entry)
    return tuple(loads)


# --- the public API --------------------------------------------------------

def _validate_data(data, digest):
    started = time.perf_counter()
    e_type, e_entry, e_phoff, e_phnum, e_shoff = _check_header(data)
    phdrs = _phdrs(data, e_phoff, e_phnum)
    fmt = _check_linking(data, e_type, phdrs)
    loads = _check_segments(e_type, e_entry, phdrs, len(data))
    exec_bytes, candidates, confirmed, noted, hidden = _scan(
        data, loads, e_shoff, e_type, e_entry)
    return ValidationResult(
        sha256=digest, size=len(data), format=fmt, entry=e_entry,
        segments=loads, exec_bytes=exec_bytes, candidates=candidates,
        instructions_confirmed=confirmed, noted=noted, hidden=hidden,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3))


def validate(path_or_bytes, cache=None):
    """Validate a program; return a ValidationResult or raise ValidationError.

    ``path_or_bytes`` is a path (str or path-like) or the program's bytes.
    With a :class:`ValidationCache`, a program validated before (same
    sha256) is answered from it, and a cached reject is raised again; a
    file whose device, inode, size, mtime and ctime are unchanged since it
    was last hashed is not even read again (ctime cannot be set by a user,
    so a rewritten file is always hashed anew).

    A forbidden encoding found at some byte offset (the raw scan) is
    refused when it is on the instruction stream of its function (decoded
    linearly from the nearest preceding symbol, the start of its executable
    section, or :data:`MAX_DECODE` bytes before it), when the entry point,
    a direct branch or a rip-relative operand decoded there points at it,
    when its ``ET_EXEC`` address appears in its function's bytes, or when
    its address is stored in a data segment; otherwise it is hidden inside
    other instructions, accepted, and reported in ``hidden``.
    """
    digest = _known_file(path_or_bytes, cache)
    known = cache.get(digest) if digest else None
    if known is None:
        data, key = _read(path_or_bytes)
        digest = hashlib.sha256(data).hexdigest()
        if cache is not None:
            if key is not None:
                cache.remember_file(key, digest)
            known = cache.get(digest)
    if cache is not None:
        if isinstance(known, ValidationError):
            raise _error_from_dict(_error_dict(known))
        if known is not None:
            return dataclasses.replace(known, cached=True)
    try:
        result = _validate_data(data, digest)
    except ValidationError as exc:
        exc.sha256 = digest
        if cache is not None:
            cache.put(digest, exc)
        raise
    except (struct.error, IndexError, ValueError, OverflowError,
            capstone.CsError) as exc:
        err = _error('malformed', 'malformed program: %s' % exc)
        err.sha256 = digest
        if cache is not None:
            cache.put(digest, err)
        raise err from None
    if cache is not None:
        cache.put(digest, result)
    return result


class ValidationCache:
    """Outcomes of validation keyed by sha256: in memory, and optionally
    in a directory (one JSON file per digest, written atomically).

    The directory is trusted: whoever can write it decides what is
    accepted, so it must be writable by the service user only.  Entries
    written by another :data:`VALIDATOR_VERSION`, or unreadable, are
    ignored.
    """

    def __init__(self, maxsize=1024, directory=None):
        self.maxsize = maxsize
        self.directory = directory
        self._lru = collections.OrderedDict()
        self._files = collections.OrderedDict()     # stat key -> digest
        self._lock = threading.Lock()

    def digest_of(self, stat_key):
        """The sha256 of a file last seen with this stat key, or None."""
        with self._lock:
            return self._files.get(stat_key)

    def remember_file(self, stat_key, digest):
        with self._lock:
            self._files[stat_key] = digest
            self._files.move_to_end(stat_key)
            while len(self._files) > self.maxsize:
                self._files.popitem(last=False)

    def __len__(self):
        return len(self._lru)

    def clear(self):
        with self._lock:
            self._lru.clear()
            self._files.clear()

    def get(self, digest):
        """A ValidationResult, a ValidationError, or None if unknown."""
        with self._lock:
            if digest in self._lru:
                self._lru.move_to_end(digest)
                return self._lru[digest]
        outcome = self._load(digest)
        if outcome is not None:
            self._remember(digest, outcome)
        return outcome

    def put(self, digest, outcome):
        """Remember a ValidationResult or a ValidationError."""
        self._remember(digest, outcome)
        if self.directory:
            self._store(digest, outcome)

    def _remember(self, digest, outcome):
        with self._lock:
            self._lru[digest] = outcome
            self._lru.move_to_end(digest)
            while len(self._lru) > self.maxsize:
                self._lru.popitem(last=False)

    def _path(self, digest):
        if not re.fullmatch('[0-9a-f]{64}', digest):
            raise ValueError('not a sha256 hex digest: %r' % (digest,))
        return os.path.join(self.directory, digest + '.json')

    def _load(self, digest):
        if not self.directory:
            return None
        try:
            with open(self._path(digest)) as f:
                record = json.load(f)
            if record.get('version') != VALIDATOR_VERSION:
                return None
            if 'error' in record:
                return _error_from_dict(record['error'])
            return ValidationResult.from_dict(record['result'])
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _store(self, digest, outcome):
        record = {'version': VALIDATOR_VERSION}
        if isinstance(outcome, ValidationError):
            record['error'] = _error_dict(outcome)
        else:
            record['result'] = dataclasses.replace(
                outcome, cached=False).to_dict()
        os.makedirs(self.directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix='.tmp')
        try:
            with os.fdopen(fd, 'w') as f:
                json.dump(record, f, sort_keys=True)
            os.replace(tmp, self._path(digest))
        except BaseException:
            os.unlink(tmp)
            raise


#: The process-wide cache used by :func:`validate_cached`.
DEFAULT_CACHE = ValidationCache()


def validate_cached(path_or_bytes, cache=DEFAULT_CACHE):
    """:func:`validate` through a cache (the process-wide one by default)."""
    return validate(path_or_bytes, cache=cache)
