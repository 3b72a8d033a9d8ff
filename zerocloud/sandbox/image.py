# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Read-only images: an uncompressed tar whose files the guest sees.

A channel that carries an :class:`Index` (``Channel.image``) is an image:
besides being readable as a stream at its own device path (``/dev/image``,
``/dev/python``), its tar's directories and regular files appear in the
guest's file system from ``/`` (``bin/python`` in the tar is
``/bin/python`` in the guest), read-only, beside ``/dev``.  The launcher
reads a file's bytes straight from the tar with ``pread``: nothing is
extracted.  When several images hold the same path, the first image among
the channels wins (:func:`merge`).

What an image may hold: directories, regular files, hard links to its
regular files and symbolic links that resolve inside the image to one of
its regular files (the guest sees a copy of the target, not a link).
Other links and special files are left out; members that would escape the
image (``..``) or land under ``/dev`` (the channels' directory) are
errors.  Only the permission bits of a member are kept; nothing is ever
writable.
"""
import dataclasses
import fcntl
import os
import posixpath
import threading

from zerocloud.exceptions import ManifestError

__all__ = ['Entry', 'Index', 'ImageError', 'TarError', 'index_tar',
           'tar_members', 'index_file',
           'index_fd',
           'merge', 'extract', 'MAX_ENTRIES', 'MAX_PATH']

#: Mirrors ZVM_MAX_FILES: directories and files of all images of one run.
MAX_ENTRIES = 65536
#: Mirrors ZVM_MAX_PATH: a guest path is shorter than this, in bytes.
MAX_PATH = 256
#: Symbolic links followed in a row before giving up on a member.
_MAX_HOPS = 16


class ImageError(ManifestError):
    """An image that cannot be used: not a tar, or a member that is not
    allowed.  The message names the member."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """A directory (``size`` 0, ``offset`` None) or a regular file whose
    bytes are ``offset .. offset + size`` of the tar."""
    path: str           #: absolute guest path, ``/lib/python3.11/os.py``
    isdir: bool
    offset: int = None
    size: int = 0
    perm: int = 0o755


@dataclasses.dataclass(frozen=True)
class Index:
    """The entries of one tar, sorted by path (as UTF-8 bytes)."""
    entries: tuple

    def find(self, path):
        """The entry at a guest path (``bin/python`` and ``/bin/python``
        are the same), or None."""
        inner = _normal(path.lstrip('/'))
        if inner is None:
            return None         # it would leave the image
        want = '/' + inner if inner else ''
        for entry in self.entries:
            if entry.path == want:
                return entry
        return None


def _normal(name):
    """``./a//b/`` -> ``a/b``; '' for the root; None for ``..``."""
    parts = []
    for part in name.split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            return None
        parts.append(part)
    return '/'.join(parts)


_BLOCK = 512
#: Most bytes of one PAX extended header or GNU long name / link name.
MAX_EXTENDED_HEADER = 64 * 1024
_REGULAR, _HARD, _SYMBOLIC, _DIRECTORY = (b'0', b'\0', b'7'), b'1', b'2', b'5'
#: Types whose members carry no data (links, directories, devices, FIFOs);
#: a member of a type unknown here is skipped over its data, as tarfile
#: does.
_NO_DATA = (_HARD, _SYMBOLIC, _DIRECTORY, b'3', b'4', b'6')


@dataclasses.dataclass
class _Member:
    """One member of an image's tar, as :func:`tar_members` reads it."""
    name: str
    kind: bytes         #: the ustar type flag
    mode: int
    linkname: str
    size: int
    offset_data: int

    def isdir(self):
        return self.kind == _DIRECTORY

    def isreg(self):
        return self.kind in _REGULAR

    def islnk(self):
        return self.kind == _HARD

    def issym(self):
        return self.kind == _SYMBOLIC


class TarError(ImageError):
    """Why the bytes are not a tar this reader takes."""


def _number(field):
    if field[:1] and field[0] & 0x80:           # GNU base-256
        if field[0] & 0x40:
            raise TarError('a negative number')
        return int.from_bytes(bytes([field[0] & 0x7f]) + field[1:], 'big')
    text = field.split(b'\0', 1)[0].strip(b' ')
    if text and not text.isdigit():
        # int() takes "-10": a negative size would seek backwards, to the
        # same header, forever.
        raise TarError('a bad number field')
    try:
        return int(text or b'0', 8)
    except ValueError:
        raise TarError('a bad number field') from None


def _pax_records(data):
    """``{keyword: value}`` of a PAX extended header, read in one pass
    (Python 3.11.7's tarfile takes quadratic time on some: CVE-2024-6232).
    """
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b' ', pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise TarError('a malformed PAX header')
        length = int(data[pos:space])
        record = data[space + 1:pos + length]
        if length <= space - pos or pos + length > len(data) \
                or not record.endswith(b'\n') or b'=' not in record:
            raise TarError('a malformed PAX header')
        key, value = record[:-1].split(b'=', 1)
        records[key.decode('utf-8', 'replace')] = value
        pos += length
    return records


def tar_members(fileobj):
    """The members of the tar ``fileobj`` (seekable), in order: ustar,
    GNU long names and PAX headers, in one pass whose work is linear in
    the size of the headers.  Sparse members are refused (an image's file
    is a run of the tar's bytes).

    :raises TarError: not a tar this reader takes.
    """
    def read(n):
        data = fileobj.read(n)
        if len(data) != n:
            raise TarError('it ends in the middle of a member')
        return data

    def extended(size):
        if size > MAX_EXTENDED_HEADER:
            raise TarError('an extended header of %d bytes (at most %d)'
                           % (size, MAX_EXTENDED_HEADER))
        data = read(size)
        fileobj.seek(-size % _BLOCK, os.SEEK_CUR)
        return data

    start = fileobj.tell()
    total = fileobj.seek(0, os.SEEK_END)
    fileobj.seek(start)
    pax, long_name, long_link = {}, None, None
    first = True
    while True:
        block = fileobj.read(_BLOCK)
        if not block or block == b'\0' * _BLOCK:
            if first and not block:
                raise TarError('it is empty')
            return
        if len(block) < _BLOCK:
            raise TarError('it ends in the middle of a header')
        first = False
        if _number(block[148:156]) != \
                sum(block[:148]) + 8 * 32 + sum(block[156:]):
            raise TarError('a header checksum does not match')
        kind = block[156:157]
        size = _number(block[124:136])
        if kind == b'x':
            pax = _pax_records(extended(size))
            continue
        if kind == b'g':
            extended(size)      # global: nothing an image needs
            continue
        if kind in (b'L', b'K'):
            text = extended(size).split(b'\0', 1)[0].decode(
                'utf-8', 'surrogateescape')
            if kind == b'L':
                long_name = text
            else:
                long_link = text
            continue
        if kind == b'S' or any(k.startswith('GNU.sparse.') for k in pax):
            raise TarError('a sparse member')
        name = block[0:100].split(b'\0', 1)[0]
        prefix = block[345:500].split(b'\0', 1)[0]
        if block[257:262] == b'ustar' and prefix:
            name = prefix + b'/' + name
        name = name.decode('utf-8', 'surrogateescape')
        link = block[157:257].split(b'\0', 1)[0].decode(
            'utf-8', 'surrogateescape')
        if long_name is not None:
            name = long_name
        if long_link is not None:
            link = long_link
        if 'path' in pax:
            name = pax['path'].decode('utf-8', 'surrogateescape')
        if 'linkpath' in pax:
            link = pax['linkpath'].decode('utf-8', 'surrogateescape')
        if 'size' in pax:
            if not pax['size'].isdigit():
                raise TarError('a bad PAX size')
            size = int(pax['size'])
        if kind == _DIRECTORY:
            name = name.rstrip('/')
        if kind in _NO_DATA:
            size = 0
        offset = fileobj.tell()
        if offset + size > total:
            raise TarError('it ends in the middle of a member')
        yield _Member(name, kind, _number(block[100:108]), link, size, offset)
        fileobj.seek(offset + size + (-size % _BLOCK))
        pax, long_name, long_link = {}, None, None


def index_tar(fileobj, what='image'):
    """Index an uncompressed tar read from a seekable binary file.

    :raises ImageError: not an uncompressed tar, or a member the guest
        cannot be given (``..``, ``/dev``, a name too long, a sparse
        file).
    """
    members = []
    try:
        for m in tar_members(fileobj):
            members.append(m)
            if len(members) > MAX_ENTRIES:
                raise ImageError('%s has more than %d members'
                                 % (what, MAX_ENTRIES))
    except TarError as exc:
        raise ImageError('%s is not an uncompressed tar archive (%s)'
                         % (what, exc)) from None
    files = {}      # name -> (offset, size, perm)
    dirs = {}       # name -> perm
    links = {}      # name -> (target name, hard)
    for m in members:
        name = _normal(m.name)
        if name is None:
            raise ImageError('%s: member %r leaves the image' % (what, m.name))
        if name == '':
            continue
        if name == 'dev' or name.startswith('dev/'):
            raise ImageError('%s: member %r is under /dev, the channels\' '
                             'directory' % (what, m.name))
        if len(name.encode('utf-8', 'surrogateescape')) + 1 >= MAX_PATH:
            raise ImageError('%s: member %r: paths are at most %d bytes'
                             % (what, m.name, MAX_PATH - 2))
        for table in (files, dirs, links):
            table.pop(name, None)   # a later member replaces an earlier one
        if m.isdir():
            dirs[name] = m.mode & 0o7777
        elif m.isreg():
            files[name] = (m.offset_data, m.size, m.mode & 0o7777)
        elif m.islnk():
            links[name] = (_normal(m.linkname), True)
        elif m.issym():
            target = m.linkname
            if not target.startswith('/'):
                target = posixpath.join('/', posixpath.dirname(name), target)
            # Inside the image "/.." is "/", as on a real root.
            links[name] = (_normal(posixpath.normpath(target).lstrip('/')),
                           False)
    for name, (target, hard) in links.items():
        for _ in range(_MAX_HOPS):
            if target is None or target not in links:
                break
            target = links[target][0]
        if target in files:
            files[name] = files[target]
    for name in list(files) + list(dirs):
        parent = posixpath.dirname(name)
        while parent and parent not in dirs:
            if parent in files:
                raise ImageError('%s: %r is a file and a directory'
                                 % (what, parent))
            dirs[parent] = 0o755
            parent = posixpath.dirname(parent)
    entries = [Entry('/' + n, True, None, 0, p) for n, p in dirs.items()]
    entries += [Entry('/' + n, False, off, size, p)
                for n, (off, size, p) in files.items() if n not in dirs]
    entries.sort(key=lambda e: e.path.encode('utf-8', 'surrogateescape'))
    if len(entries) > MAX_ENTRIES:
        raise ImageError('%s has %d files and directories, at most %d'
                         % (what, len(entries), MAX_ENTRIES))
    return Index(tuple(entries))


_CACHE = {}
_CACHE_MAX = 32
_CACHE_LOCK = threading.Lock()     # object servers index in worker threads


def index_file(path, what=None):
    """:func:`index_tar` of a tar on disk, cached by the file's identity
    (device, inode, size, mtime): system images are indexed once."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return index_fd(fd, what or path, cache=True)
    finally:
        os.close(fd)


def index_fd(fd, what='image', cache=False):
    """:func:`index_tar` of the tar an open fd reads, whose offset is left
    at 0.  With ``cache``, remembered by the file's identity (device,
    inode, size, mtime), so that a file replaced by another (``mv``) is
    indexed again while the fd and its index always agree."""
    key = None
    if cache:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with _CACHE_LOCK:
            index = _CACHE.get(key)
        if index is not None:
            return index
    with open(os.dup(fd), 'rb') as f:
        try:
            f.seek(0)
            index = index_tar(f, what)
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
    if key is not None:
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = index
    return index


def merge(images):
    """The entries of several images, ``images`` being ``(channel number,
    Index)`` pairs in channel order: the first image holding a path wins.
    Returns ``(entry, channel number)`` pairs sorted by path."""
    seen = {}
    for number, index in images:
        for entry in index.entries:
            if entry.path not in seen:
                seen[entry.path] = (entry, number)
            elif entry.isdir != seen[entry.path][0].isdir:
                raise ImageError('%s is a file in one image and a directory '
                                 'in another' % entry.path)
    if len(seen) > MAX_ENTRIES:
        raise ImageError('the images have %d files and directories, at most '
                         '%d' % (len(seen), MAX_ENTRIES))
    return [seen[p] for p in sorted(
        seen, key=lambda p: p.encode('utf-8', 'surrogateescape'))]


def extract(fd, entry):
    """A sealed memfd holding the bytes of file ``entry`` of the tar open
    as ``fd`` (read with pread: ``fd``'s offset does not move)."""
    out = os.memfd_create('zerocloud-image-file',
                          os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        done = 0
        while done < entry.size:
            chunk = os.pread(fd, min(1 << 20, entry.size - done),
                             entry.offset + done)
            if not chunk:
                raise ImageError('%s: the image ends inside this file'
                                 % entry.path)
            os.write(out, chunk)
            done += len(chunk)
        fcntl.fcntl(out, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE |
                    fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK |
                    fcntl.F_SEAL_SEAL)
        os.lseek(out, 0, os.SEEK_SET)
    except BaseException:
        os.close(out)
        raise
    return out
