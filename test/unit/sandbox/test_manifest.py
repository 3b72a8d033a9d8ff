# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The manifest builder refuses what the launcher would refuse."""
import pytest

from zerocloud.exceptions import ManifestError
from zerocloud.sandbox import manifest as mf


def _build(**kw):
    args = dict(program_fd=3, report_fd=4, argv=['prog'])
    args.update(kw)
    return mf.build(**args).decode()


def test_layout():
    text = _build(argv=['p', 'a b', '100%'], env={'K': 'v=1'},
                  channels=[mf.Channel('/dev/stdout', 'w', 1, 10)],
                  seed=5, limits=mf.Limits(memory=64 << 20, cpu=2,
                                           timeout=1.5, max_output=99))
    assert text.splitlines() == [
        'zvm-manifest 1', 'program 3', 'report 4', 'arg p', 'arg a%20b',
        'arg 100%25', 'env K%3Dv%3D1', 'channel /dev/stdout w 1 10',
        'seed 5', 'memory 67108864', 'cpu 2', 'timeout_ms 1500',
        'max_output 99']


def test_slice_is_optional():
    assert 'slice_us' not in _build()
    assert 'slice_us' not in _build(slice_us=0)
    assert _build(slice_us=20000).splitlines()[-1] == 'slice_us 20000'


@pytest.mark.parametrize('kw,msg', [
    (dict(argv=[]), 'argv'),
    (dict(argv=['a\0b']), 'NUL'),
    (dict(env={'1BAD': 'x'}), 'variable name'),
    (dict(seed=-1), 'seed'),
    (dict(seed=2 ** 64), 'seed'),
    (dict(limits=mf.Limits(memory=1 << 20)), 'memory'),
    (dict(limits=mf.Limits(cpu=0)), 'cpu'),
    (dict(limits=mf.Limits(timeout=0)), 'timeout'),
    (dict(channels=[mf.Channel('/dev/stdin', 'w', 0)]), 'writable'),
    (dict(channels=[mf.Channel('/dev/out/a b', 'w', 1)]), 'valid'),
    (dict(channels=[mf.Channel('/dev/out/..', 'w', 1)]), 'valid'),
    (dict(channels=[mf.Channel('/etc/passwd', 'r', 0)]), 'valid'),
    (dict(channels=[mf.Channel('/dev/in/x', 'r', -1)]), 'fd'),
    (dict(channels=[mf.Channel('/dev/stdout', 'w', 1)] * 2), 'twice'),
    (dict(channels=[mf.Channel('/dev/out/%d' % i, 'w', 1)
                    for i in range(257)]), 'too many'),
    (dict(slice_us=100001), 'slice_us'),
    (dict(slice_us=-5), 'slice_us'),
    (dict(slice_us=2.5), 'slice_us'),
])
def test_refusals(kw, msg):
    with pytest.raises(ManifestError, match=msg):
        _build(**kw)


def test_valid_paths():
    assert mf.valid_path('/dev/in/map-1.x_y', 'r')
    assert not mf.valid_path('/dev/in/map-1', 'w')
    assert mf.valid_path('/dev/output', 'w')
    assert not mf.valid_path('/dev/output', 'r')
    assert not mf.valid_path('/dev/in/', 'r')
