# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Bounded streaming of the execution protocol's tar archives.

:class:`TarReader` reads an uncompressed ustar/PAX stream member by member
from any ``read(n)`` object and never holds more than one block, one
bounded PAX header or one caller-sized chunk in memory: member data is
copied to a file (or returned, for small members) with a size bound that
is checked against the header *before* anything is read.  Python's
``tarfile`` in stream mode reads a PAX header whole, whatever its size,
which is why this reader exists.  Only regular files (and PAX/GNU headers
describing them) are accepted; links, devices and directories are errors.

:func:`member_header` and :data:`END` build the answer's archive (PAX format,
as ``tarfile`` writes it); :func:`padding` pads member data to a block.
"""
import tarfile

from zerocloud.exceptions import SpecError

__all__ = ['BLOCK', 'END', 'TarReader', 'member_header', 'padding']

BLOCK = 512
#: The end of an archive: two zero blocks.
END = b'\0' * (2 * BLOCK)
#: Bound on a PAX extended header or a GNU long name.
MAX_HEADER_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_REGULAR = (b'0', b'\0', b'7')


def padding(size):
    """Zero bytes after ``size`` bytes of member data."""
    return b'\0' * (-size % BLOCK)


def _tarfile_header(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape')


#: Header of a member with size 0, by name: a member's header is this
#: with its size field and checksum replaced (tarfile takes ~25 us a
#: header; answers have one per output channel and one per report).
_TEMPLATES = {}
_MAX_TEMPLATES = 1024
#: Sizes from here on need a PAX ``size`` record (11 octal digits).
_USTAR_SIZE_LIMIT = 8 ** 11


def member_header(name, size):
    """The header block(s) of a regular file member (the bytes that
    ``tarfile`` writes, PAX format, mode 0644, mtime 0)."""
    template = _TEMPLATES.get(name)
    if template is None:
        template = _tarfile_header(name, 0)
        if len(_TEMPLATES) < _MAX_TEMPLATES:
            _TEMPLATES[name] = template
    if len(template) != BLOCK or not 0 <= size < _USTAR_SIZE_LIMIT:
        return _tarfile_header(name, size)    # PAX records: tarfile's way
    # Size at 124..135; checksum at 148..155 (summed as 8 spaces, then
    # written as 6 octal digits, NUL, and the last space kept).
    block = (template[:124] + b'%011o\0' % size + template[136:148]
             + b'        ' + template[156:])
    return block[:148] + b'%06o\0' % sum(block) + block[155:]


def _number(field):
    if field[:1] and field[0] & 0x80:       # GNU base-256
        if field[0] & 0x40:
            raise SpecError('tar: negative number field')
        return int.from_bytes(field[1:], 'big')
    text = field.split(b'\0', 1)[0].strip(b' ')
    if not text.isdigit() and text:
        # int() would take "-10" (and "+1", " 1_0"): a negative size then
        # read the rest of the stream at once.
        raise SpecError('tar: bad number field %r' % field)
    try:
        return int(text or b'0', 8)
    except ValueError:
        raise SpecError('tar: bad number field %r' % field) from None


def _pax(data):
    records = {}
    pos = 0
    while pos < len(data):
        space = data.find(b' ', pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise SpecError('tar: malformed PAX header') from None
        record = data[space + 1:pos + length]
        if length <= 0 or not record.endswith(b'\n') or b'=' not in record:
            raise SpecError('tar: malformed PAX header')
        key, value = record[:-1].split(b'=', 1)
        records[key.decode('utf-8', 'replace')] = value
        pos += length
    return records


class TarReader:
    """Iterate a tar stream: ``next()`` -> ``(name, size)`` or ``None``.

    After ``next()`` the caller reads the member's data with
    :meth:`read_bytes` or :meth:`copy_to`, or skips it by calling ``next()``
    again.  A truncated stream raises :class:`SpecError`.
    """

    def __init__(self, fileobj):
        self._f = fileobj
        self._left = 0          # data bytes of the current member unread
        self._pad = 0

    def _read(self, n):
        chunks = []
        while n:
            data = self._f.read(n)
            if not data:
                raise SpecError('tar: truncated archive')
            chunks.append(data)
            n -= len(data)
        return b''.join(chunks)

    def _skip_rest(self):
        while self._left:
            n = min(self._left, _CHUNK)
            self._read(n)
            self._left -= n
        if self._pad:
            self._read(self._pad)
            self._pad = 0

    def _block(self):
        block = self._f.read(BLOCK)
        if len(block) < BLOCK:
            if block:
                block += self._read(BLOCK - len(block))
            else:
                return None     # plain EOF: tolerate missing end blocks
        return block

    def _aux(self, size):
        if size > MAX_HEADER_BYTES:
            raise SpecError('tar: extended header larger than %d bytes'
                            % MAX_HEADER_BYTES, 413)
        data = self._read(size)
        self._read(-size % BLOCK)
        return data

    def next(self):
        self._skip_rest()
        name = size = None
        while True:
            block = self._block()
            if block is None or block == b'\0' * BLOCK:
                return None
            stored = _number(block[148:156])
            summed = sum(block[:148]) + 8 * 32 + sum(block[156:])
            if stored != summed:
                raise SpecError('tar: bad header checksum')
            kind = block[156:157]
            bsize = _number(block[124:136])
            if kind == b'x':
                pax = _pax(self._aux(bsize))
                if 'path' in pax:
                    name = pax['path'].decode('utf-8', 'surrogateescape')
                if 'size' in pax:
                    try:
                        size = int(pax['size'])
                    except ValueError:
                        raise SpecError('tar: bad PAX size') from None
                continue
            if kind == b'g':
                self._aux(bsize)
                continue
            if kind == b'L':
                name = self._aux(bsize).split(b'\0', 1)[0].decode(
                    'utf-8', 'surrogateescape')
                continue
            if kind not in _REGULAR:
                raise SpecError('tar: only regular files are accepted')
            if name is None:
                base = block[0:100].split(b'\0', 1)[0]
                prefix = block[345:500].split(b'\0', 1)[0]
                if block[257:262] == b'ustar' and prefix:
                    base = prefix + b'/' + base
                name = base.decode('utf-8', 'surrogateescape')
            if size is None:
                size = bsize
            if size < 0:
                raise SpecError('tar: negative size')
            self._left, self._pad = size, -size % BLOCK
            return name, size

    def read_bytes(self, limit):
        """The current member's data (at most ``limit`` bytes, else 413)."""
        if self._left > limit:
            raise SpecError('tar: member larger than %d bytes' % limit, 413)
        data = self._read(self._left)
        self._left = 0
        return data

    def copy_to(self, out, limit):
        """Write the current member's data to file ``out``; return its size.

        Refuses (413) before reading when the member is over ``limit``.
        """
        if self._left > limit:
            raise SpecError('tar: member larger than %d bytes' % limit, 413)
        size = self._left
        while self._left:
            data = self._read(min(self._left, _CHUNK))
            out.write(data)
            self._left -= len(data)
        return size
