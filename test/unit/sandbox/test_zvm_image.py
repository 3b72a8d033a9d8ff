# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Read-only images in the real sandbox: a tar's files seen from ``/``.

test/programs/files.c uses them the way programs do (stdio, opendir,
stat, lseek, pread, chdir) and prints what it got.
"""
import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zerocloud.executor.result import Reason
from zerocloud.exceptions import ManifestError
from zerocloud.sandbox import image
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf
from zerocloud.sandbox.launcher import LauncherStatus


def make_tar(path, members):
    """members: (name, bytes | None for a directory | ('sym'|'lnk', target))
    in tar order, mode 0644 (0755 for names ending in .sh)."""
    with tarfile.open(path, 'w', format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.type = (tarfile.SYMTYPE if data[0] == 'sym'
                             else tarfile.LNKTYPE)
                info.linkname = data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755 if name.endswith('.sh') else 0o644
                tar.addfile(info, io.BytesIO(data))
    return path


BIG = b''.join(b'%d\n' % i for i in range(1, 3001))

MEMBERS = [
    ('etc/', None),
    ('etc/motd', b'hello image'),
    ('lib/py/big.txt', BIG),       # lib and lib/py are implicit
    ('lib/py/mod.py', b'print(1)'),
    ('bin/run.sh', b'#!/bin/sh'),
    ('bin/motd', ('sym', '../etc/motd')),
    ('bin/abs', ('sym', '/etc/motd')),
    ('bin/hard', ('lnk', 'etc/motd')),
    ('bin/dangling', ('sym', '/nowhere')),
    ('bin/up', ('sym', '../../../etc/motd')),   # "/.." is "/"
    ('bin/dirlink', ('sym', '../lib')),          # to a directory: left out
]


@pytest.fixture(scope='module')
def tar_path(tmp_path_factory):
    return make_tar(str(tmp_path_factory.mktemp('img') / 'img.tar'), MEMBERS)


def run_files(programs, tar_path, args, flavor='glibc', extra_images=(),
              name='/dev/image'):
    fds = []
    try:
        o = os.memfd_create('o', os.MFD_CLOEXEC)
        e = os.memfd_create('e', os.MFD_CLOEXEC)
        fds += [o, e]
        channels = [mf.Channel('/dev/stdout', mf.WRITE, o),
                    mf.Channel('/dev/stderr', mf.WRITE, e)]
        for path, tar in [(name, tar_path)] + list(extra_images):
            fd = os.open(tar, os.O_RDONLY | os.O_CLOEXEC)
            fds.append(fd)
            channels.append(mf.Channel(path, mf.READ, fd,
                                       image=image.index_file(tar)))
        result = launcher.run(programs.build('files', flavor),
                              ['files'] + list(args), None, channels)
        os.lseek(o, 0, os.SEEK_SET)
        out = os.read(o, 1 << 20).decode()
        os.lseek(e, 0, os.SEEK_SET)
        assert result.reason is Reason.OK, (result, os.read(e, 10000))
        return result, out
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize('flavor', ['glibc', 'pie', 'musl'])
def test_the_guest_reads_the_image_like_a_file_system(programs, tar_path,
                                                      flavor):
    _, out = run_files(programs, tar_path, [
        'cat', '/etc/motd', 'ls', '/', 'ls', '/bin', 'ls', '/dev',
        'stat', '/etc/motd', 'stat', '/lib/py', 'stat', '/bin/run.sh',
        'seek', '/lib/py/big.txt', '10', '8',
        'seek', '/lib/py/big.txt', '-5', '100',
        'pread', '/etc/motd', '6', '100',
        'pread', '/etc/motd', '99', '5',
        'cat', '/bin/motd', 'cat', '/bin/abs', 'cat', '/bin/hard',
        'cat', '/bin/up', 'stat', '/bin/dangling', 'stat', '/bin/dirlink',
    ], flavor=flavor)
    assert out.splitlines() == [
        'hello image',
        'ls /: ./ ../ dev/ bin/ etc/ lib/',
        'ls /bin: ./ ../ abs hard motd run.sh up',
        'ls /dev: ./ ../ in/ out/ stdout| stderr| image|',
        'stat /etc/motd: file 11 444',
        'stat /lib/py: dir 0 555',
        'stat /bin/run.sh: file 9 555',
        'seek /lib/py/big.txt: 6',
        '7',
        '8',
        '9',
        '|',
        'seek /lib/py/big.txt: 3000',
        '|',
        'pread /etc/motd: image|',
        'pread /etc/motd: |',
        'hello image', 'hello image', 'hello image', 'hello image',
        'stat /bin/dangling: ENOENT',
        'stat /bin/dirlink: ENOENT',
    ]


def test_seeks_stay_within_bounds(programs, tar_path):
    _, out = run_files(programs, tar_path, [
        'lseek', '/etc/motd', 's:5,c:3,e:-100,e:-2',
        'lseek', '/etc/motd',
        's:4611686018427387904,c:1,c:-4611686018427387904',
        'lseek', '/etc/motd', 's:9223372036854775807,3:0,c:-1,s:99',
    ])
    assert out.splitlines() == [
        'lseek /etc/motd: 5 8 EINVAL 9 |ge|',
        'lseek /etc/motd: 4611686018427387904 EINVAL 0 |hell|',
        'lseek /etc/motd: EINVAL EINVAL EINVAL 99 ||',
    ]


@pytest.mark.parametrize('flavor', ['glibc', 'musl'])
def test_vectored_reads(programs, tar_path, flavor):
    _, out = run_files(programs, tar_path, [
        'readv', '/etc/motd', '2', 'readv', '/etc/motd', '8'],
        flavor=flavor)
    assert out.splitlines() == [
        'readv /etc/motd: 7 |llo| ima| 7 |hel|lo i|',
        'readv /etc/motd: 3 |age|| 7 |hel|lo i|',
    ]


def test_nothing_in_an_image_is_writable(programs, tar_path):
    _, out = run_files(programs, tar_path, [
        'write', '/etc/motd', 'write', '/lib', 'write', '/etc/new',
        'write', '/nodir/new',
        'access', '/etc/motd', 'access', '/bin/run.sh', 'access', '/lib',
        'access', '/nowhere'])
    assert out.splitlines() == [
        'write /etc/motd: EROFS',
        'write /lib: EISDIR',
        'write /etc/new: EROFS',
        'write /nodir/new: ENOENT',
        'access /etc/motd: ok EROFS EACCES',
        'access /bin/run.sh: ok EROFS ok',
        'access /lib: ok EROFS ok',
        'access /nowhere: ENOENT ENOENT ENOENT',
    ]


def test_relative_paths_and_the_working_directory(programs, tar_path):
    _, out = run_files(programs, tar_path, [
        'cd', '/lib/py', 'cat', 'mod.py', 'cat', '../../etc/motd',
        'ls', '.', 'cd', '..', 'cd', '/dev', 'cat', '../etc/motd',
        'cd', '/etc/motd', 'cd', '/'])
    assert out.splitlines() == [
        'cd: /lib/py', 'print(1)', 'hello image',
        'ls .: ./ ../ big.txt mod.py',
        'cd: /lib', 'cd: /dev', 'hello image',
        'cd /etc/motd: ENOTDIR', 'cd: /',
    ]


def test_a_walk_of_the_whole_tree(programs, tar_path):
    _, out = run_files(programs, tar_path, ['tree', '/'])
    assert out.splitlines() == [
        '/bin/abs 11', '/bin/hard 11', '/bin/motd 11', '/bin/run.sh 9',
        '/bin/up 11', '/etc/motd 11', '/lib/py/big.txt %d' % len(BIG),
        '/lib/py/mod.py 8']


def test_reads_are_counted_on_the_image_channel(programs, tar_path):
    result, _ = run_files(programs, tar_path, ['cat', '/lib/py/big.txt'])
    assert result.channel('/dev/image').bytes_read == len(BIG)


def test_the_first_image_wins(programs, tar_path, tmp_path):
    other = make_tar(str(tmp_path / 'other.tar'), [
        ('etc/motd', b'from the other image'),
        ('etc/extra', b'only here'),
    ])
    _, out = run_files(programs, tar_path, [
        'cat', '/etc/motd', 'cat', '/etc/extra', 'ls', '/etc'],
        extra_images=[('/dev/python', other)])
    assert out.splitlines() == [
        'hello image', 'only here', 'ls /etc: ./ ../ extra motd']
    _, out = run_files(programs, other, ['cat', '/etc/motd'],
                       extra_images=[('/dev/python', tar_path)])
    assert out.splitlines() == ['from the other image']


def test_a_file_in_one_image_and_a_directory_in_another(tmp_path):
    a = image.index_tar(io.BytesIO(_tar_bytes([('x', b'1')])))
    b = image.index_tar(io.BytesIO(_tar_bytes([('x/y', b'2')])))
    with pytest.raises(image.ImageError, match='/x is a file in one image'):
        image.merge([(0, a), (1, b)])


def _tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf.getvalue()


def test_long_names_and_pax_headers(programs, tmp_path):
    deep = '/'.join(['d%02d' % i for i in range(30)]) + '/f.txt'   # 126 bytes
    path = str(tmp_path / 'pax.tar')
    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(deep, b'deep'), ('caf\u00e9 menu.txt', b'utf8')]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _, out = run_files(programs, path, [
        'cat', '/' + deep, 'cat', '/caf\u00e9 menu.txt'])
    assert out.splitlines() == ['deep', 'utf8']


@pytest.mark.parametrize('members,msg', [
    ([('../etc/passwd', b'x')], 'leaves the image'),
    ([('a/../../b', b'x')], 'leaves the image'),
    ([('dev/stdin', b'x')], 'under /dev'),
    ([('dev', None)], 'under /dev'),
    ([('x' * 300, b'x')], 'at most 254 bytes'),
])
def test_images_the_guest_cannot_be_given(members, msg):
    with pytest.raises(image.ImageError, match=msg):
        image.index_tar(io.BytesIO(_tar_bytes(members)))


def test_too_many_members_stop_the_reading(monkeypatch):
    monkeypatch.setattr(image, 'MAX_ENTRIES', 10)
    data = _tar_bytes([('f%d' % i, b'') for i in range(11)])
    with pytest.raises(image.ImageError, match='more than 10 members'):
        image.index_tar(io.BytesIO(data), 'the image')
    assert len(image.index_tar(io.BytesIO(_tar_bytes(
        [('f%d' % i, b'') for i in range(10)]))).entries) == 10


@pytest.mark.parametrize('data', [b'', b'not a tar at all' * 100])
def test_not_a_tar(data):
    with pytest.raises(image.ImageError, match='not an uncompressed tar'):
        image.index_tar(io.BytesIO(data), 'the image')


def test_a_compressed_tar_is_refused(tmp_path):
    path = str(tmp_path / 'img.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        info = tarfile.TarInfo('a')
        tar.addfile(info, io.BytesIO(b''))
    with open(path, 'rb') as f, pytest.raises(
            image.ImageError, match='not an uncompressed tar'):
        image.index_tar(f)


def test_a_later_member_replaces_an_earlier_one():
    idx = image.index_tar(io.BytesIO(_tar_bytes([
        ('a', b'first'), ('a', b'second!')])))
    assert [(e.path, e.size) for e in idx.entries] == [('/a', 7)]
    assert idx.find('a') == idx.find('/a') == idx.entries[0]
    assert idx.find('b') is None
    # Not found, not a TypeError (an object server's 500).
    assert idx.find('../a') is None and idx.find('/x/../../a') is None


def test_an_image_channel_is_readable():
    with pytest.raises(ManifestError, match='an image is readable'):
        mf.build(3, 4, ['p'], channels=[mf.Channel(
            '/dev/out/x', mf.WRITE, 5, image=image.Index(()))])


def test_the_manifest_lists_the_entries_sorted():
    idx = image.index_tar(io.BytesIO(_tar_bytes([
        ('b/z', b'1'), ('a b', b'22'), ('b/a', b'333')])))
    text = mf.build(3, 4, ['p'], channels=[
        mf.Channel('/dev/stdout', mf.WRITE, 1),
        mf.Channel('/dev/image', mf.READ, 5, image=idx)]).decode()
    lines = [line for line in text.splitlines()
             if line.startswith(('dir ', 'file '))]
    assert [line.rsplit(' ', 3)[0] if line.startswith('file') else line
            for line in lines] == [
        'file /a%20b 1', 'dir /b 493', 'file /b/a 1', 'file /b/z 1']


@pytest.mark.parametrize('lines,msg', [
    (b'dir /b 493\ndir /a 493\n', b'not sorted or duplicate'),
    (b'dir /a 493\ndir /a 493\n', b'not sorted or duplicate'),
    (b'file /a/b 0 0 1 420\n', b'before its directory'),
    (b'file /a 0 0 1 420\nfile /a/b 0 0 1 420\n', b'before its directory'),
    (b'dir /dev 493\n', b'bad image path'),
    (b'dir /dev/x 493\n', b'bad image path'),
    (b'dir / 493\n', b'bad image path'),
    (b'dir /a/../b 493\n', b'bad image path'),
    (b'dir /a/./b 493\n', b'bad image path'),
    (b'dir /a//b 493\n', b'bad image path'),
    (b'dir /a/ 493\n', b'bad image path'),
    (b'dir a 493\n', b'bad image path'),
    (b'dir /a 99999\n', b'bad permission bits'),
    (b'file /a 7 0 1 420\n', b'not a read channel'),
    (b'file /a 1 0 1 420\n', b'not a read channel'),    # stdout
    (b'file /a 0 x 1 420\n', b'bad offset or size'),
    (b'file /a 0 0 1\n', b'file takes PATH CHAN OFFSET SIZE PERM'),
])
def test_zvm_refuses_a_bad_image_index(programs, zvm_manifest, memfd, lines,
                                       msg):
    stdin, stdout = memfd(b''), memfd()
    proc, _ = zvm_manifest(
        programs.build('files'), ['files'],
        channels=[mf.Channel('/dev/stdin', mf.READ, stdin),
                  mf.Channel('/dev/stdout', mf.WRITE, stdout)],
        extra=lines)
    assert proc.returncode == LauncherStatus.MANIFEST, proc.stderr
    assert msg in proc.stderr


_SEGMENT = st.text(alphabet='abcXYZ019._- %', min_size=1, max_size=6).filter(
    lambda s: s not in ('.', '..'))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(
    st.lists(_SEGMENT, min_size=1, max_size=4).map('/'.join),
    st.binary(max_size=40), min_size=1, max_size=60))
def test_any_tree_is_walked_back_as_it_was_packed(programs, tmp_path, tree):
    """A random tree of files (directories implied, some names sharing
    prefixes such as a, a-b, a/b) is listed back exactly by readdir and
    stat, however the entries sort."""
    files = {}
    for path, data in tree.items():
        parts = path.split('/')
        # A path that is also another's directory stays a directory.
        if any('/'.join(parts[:i]) in files for i in range(1, len(parts))) \
                or any(p.startswith(path + '/') for p in tree):
            continue
        if parts[0] == 'dev':
            continue
        files[path] = data
    assume(files)
    tar = str(tmp_path / ('t%d.tar' % abs(hash(tuple(sorted(files))))))
    with tarfile.open(tar, 'w', format=tarfile.PAX_FORMAT) as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    _, out = run_files(programs, tar, ['tree', '/'])
    assert out.splitlines() == ['/%s %d' % (p, len(files[p]))
                                for p in sorted(files, key=lambda p: [
                                    s for s in ('/' + p).split('/')])]


# --- the tar reader (no tarfile: CVE-2024-6232 in Python 3.11.7's) ----------

def _reference(blob):
    """What tarfile itself reads: {name: (kind, size, offset, link)}."""
    got = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode='r:') as tar:
        for m in tar:
            got[m.name] = (m.type, m.size if m.isreg() else 0,
                           m.offset_data, m.linkname)
    return got


@pytest.mark.parametrize('fmt', [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                 tarfile.PAX_FORMAT])
def test_members_are_read_as_tarfile_reads_them(fmt):
    long = 'long/' + 'x' * 120 + '/f'   # past ustar's 100 (and 155) bytes
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as t:
        for name, kind, data, link in [
                ('bin', tarfile.DIRTYPE, None, ''),
                ('bin/tool', tarfile.REGTYPE, b'\x7fELF' * 300, ''),
                ('bin/alias', tarfile.SYMTYPE, None, 'tool'),
                ('bin/hard', tarfile.LNKTYPE, None, 'bin/tool'),
                ('empty', tarfile.REGTYPE, b'', ''),
                ('fifo', tarfile.FIFOTYPE, None, ''),
                (long if fmt != tarfile.USTAR_FORMAT else 'short/f',
                 tarfile.REGTYPE, b'deep', '')]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o751
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)
    blob = buf.getvalue()
    ours = {m.name: (m.kind, m.size, m.offset_data, m.linkname)
            for m in image.tar_members(io.BytesIO(blob))}
    assert ours == _reference(blob)
    idx = image.index_tar(io.BytesIO(blob))
    tool = idx.find('bin/tool')
    assert blob[tool.offset:tool.offset + tool.size] == b'\x7fELF' * 300
    assert tool.perm == 0o751 and idx.find('bin/alias') is not None


def _header(name, size, kind=b'0'):
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b'0000644\0'
    block[124:136] = b'%011o\0' % size if isinstance(size, int) else size
    block[156:157] = kind
    block[257:265] = b'ustar\x0000'
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\0 ' % sum(block)
    return bytes(block)


def _pax(records):
    return _header(b'PaxHeader', len(records), b'x') + records + \
        b'\0' * (-len(records) % 512)


_FILE = _header(b'f', 2) + b'hi' + b'\0' * 510 + b'\0' * 1024


@pytest.mark.parametrize('blob, why', [
    # Seconds to minutes in Python 3.11.7's tarfile (quadratic regexes).
    (_pax(b'1' * 60000) + _FILE, 'a malformed PAX header'),
    (_pax(b'20 GNU.sparse.size=1\n' + b'1' * 60000) + _FILE,
     'a malformed PAX header'),
    # ValueError from tarfile (a 500); sparse files cannot be mapped.
    (_pax(b'25 GNU.sparse.map=1,x,3\n') + _FILE, 'a malformed PAX header'),
    (_pax(b'22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n') + _FILE,
     'a sparse member'),
    (_header(b'f', 0, b'S') + b'\0' * 1024, 'a sparse member'),
    # Accepted by tarfile as a file of -10 bytes.
    (_pax(b'12 size=-10\n') + _FILE, 'a bad PAX size'),
    (_header(b'PaxHeader', 8 ** 11 - 1, b'x') + b'\0' * 1024,
     'an extended header of 8589934591 bytes'),
    (_header(b'f', 5000) + b'x' * 512, 'it ends in the middle of a member'),
    # A negative size sought back onto its own header (65,536 times).
    (_header(b'f', b'-1000'.ljust(11) + b'\0') + b'\0' * 1024,
     'a bad number field'),
    (_header(b'f', 0)[:300], 'it ends in the middle of a header'),
    (b'', 'it is empty'),
])
def test_hostile_tars_are_refused_at_once(blob, why):
    with pytest.raises(image.ImageError) as caught:
        image.index_tar(io.BytesIO(blob), 'device /dev/image')
    assert str(caught.value).startswith(
        'device /dev/image is not an uncompressed tar archive (%s' % why)
