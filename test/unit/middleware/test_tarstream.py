# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import io
import tarfile

import pytest

from zerocloud.exceptions import SpecError
from zerocloud.middleware import tarstream


def archive(members, fmt=tarfile.PAX_FORMAT, **info_kw):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for k, v in info_kw.items():
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Trickle(io.BytesIO):
    """Returns at most 7 bytes per read, like a slow socket."""

    def read(self, n=-1):
        return super().read(min(n, 7) if n and n > 0 else 7)


def read_all(data, limit=1 << 20):
    reader = tarstream.TarReader(Trickle(data))
    out = []
    while True:
        member = reader.next()
        if member is None:
            return out
        out.append((member[0], reader.read_bytes(limit)))


@pytest.mark.parametrize('fmt', [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT,
                                 tarfile.USTAR_FORMAT])
def test_reads_what_tarfile_writes(fmt):
    members = [('spec.json', b'{}'), ('exec', b'\x7fELF' * 300),
               ('in/1', b''), ('in/x', b'y' * 513)]
    assert read_all(archive(members, fmt)) == members


def test_pax_long_names_and_float_mtimes():
    name = 'in/' + 'n' * 150
    data = archive([(name, b'abc')], mtime=1.5, uname='\u00e9')
    assert read_all(data) == [(name, b'abc')]


def test_gnu_long_names():
    name = 'in/' + 'g' * 150
    assert read_all(archive([(name, b'z')], tarfile.GNU_FORMAT)) == \
        [(name, b'z')]


def test_skipping_a_member_and_copying_one():
    data = archive([('a', b'1' * 1000), ('b', b'2' * 70000)])
    reader = tarstream.TarReader(io.BytesIO(data))
    assert reader.next() == ('a', 1000)
    assert reader.next() == ('b', 70000)
    out = io.BytesIO()
    assert reader.copy_to(out, 70000) == 70000
    assert out.getvalue() == b'2' * 70000
    assert reader.next() is None


def test_member_over_its_bound_is_refused_before_reading():
    data = archive([('exec', b'x' * 5000)])
    reader = tarstream.TarReader(io.BytesIO(data))
    reader.next()
    with pytest.raises(SpecError) as info:
        reader.copy_to(io.BytesIO(), 4999)
    assert info.value.status == 413
    with pytest.raises(SpecError):
        reader.read_bytes(10)


def test_huge_pax_header_is_refused():
    data = archive([('x', b'')], pax_headers={
        'comment': 'c' * (tarstream.MAX_HEADER_BYTES + 1)})
    with pytest.raises(SpecError) as info:
        read_all(data)
    assert info.value.status == 413


@pytest.mark.parametrize('cut', [100, 512 + 10, 512 + 600])
def test_truncated_and_corrupt_archives(cut):
    data = archive([('a', b'1' * 1000)])
    with pytest.raises(SpecError):
        read_all(data[:cut])


def test_a_negative_size_is_refused_before_any_read():
    # Once read(-8): the whole rest of the stream in memory at once.
    reads = []

    class Recording(io.BytesIO):
        def read(self, n=-1):
            reads.append(n)
            return super().read(n)
    block = bytearray(512)
    block[0:9], block[124:136] = b'PaxHeader', b'-10'.ljust(11) + b'\0'
    block[156:157], block[257:265] = b'x', b'ustar\x0000'
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\0 ' % sum(block)
    reader = tarstream.TarReader(Recording(bytes(block) + b'\0' * 50000))
    with pytest.raises(SpecError, match='bad number'):
        reader.next()
    assert all(n >= 0 for n in reads)


def test_bad_checksum_and_non_files():
    data = bytearray(archive([('a', b'1')]))
    data[0] ^= 1
    with pytest.raises(SpecError, match='checksum'):
        read_all(bytes(data))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as t:
        link = tarfile.TarInfo('l')
        link.type = tarfile.SYMTYPE
        link.linkname = '/etc/passwd'
        t.addfile(link)
    with pytest.raises(SpecError, match='regular'):
        read_all(buf.getvalue())


def test_missing_end_blocks_are_tolerated():
    data = archive([('a', b'1')])
    assert read_all(data[:1024]) == [('a', b'1')]


def test_written_members_read_back_with_tarfile():
    body = b''
    for name, data in [('report.json', b'{}'), ('out/3', b'x' * 700)]:
        body += tarstream.member_header(name, len(data)) + data + \
            tarstream.padding(len(data))
    body += tarstream.END
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert t.getnames() == ['report.json', 'out/3']
        assert t.extractfile('out/3').read() == b'x' * 700
    # As the proxy reads it: stream mode, from a socket-like trickle.
    with tarfile.open(fileobj=Trickle(body), mode='r|') as t:
        assert [(m.name, len(t.extractfile(m).read())) for m in t] == \
            [('report.json', 2), ('out/3', 700)]


@pytest.mark.parametrize('name', ['report.json', 'out/0', 'out/123',
                                  'x' * 99, 'x' * 100, 'x' * 101,
                                  'caf\u00e9/out'])
def test_member_header_is_tarfiles(name):
    # The fast path patches a cached size-0 header; it must give the bytes
    # tarfile writes, PAX records (long or non-ASCII names, >= 8 GiB)
    # included.
    for size in (0, 1, 511, 512, 65536, 123456789, 8 ** 11 - 1, 8 ** 11,
                 2 ** 40):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        want = info.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape')
        assert tarstream.member_header(name, size) == want
        assert tarstream.member_header(name, size) == want   # cached
