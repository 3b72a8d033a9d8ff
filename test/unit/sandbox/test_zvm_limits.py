# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Every limit ends a run with its own reason, and nothing is left behind."""
import os

import pytest

from zerocloud.executor.result import LauncherStatus, Reason
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

MiB = 1 << 20


@pytest.mark.parametrize('flavor', ['glibc', 'musl'])
def test_memory_limit_is_exact_and_deterministic(programs, sandbox, flavor):
    prog = programs.build('limits', flavor)
    limits = mf.Limits(memory=64 * MiB)
    first, out, _ = sandbox.run(prog, ['alloc'], limits=limits)
    assert first.reason is Reason.MEMORY
    assert first.exit_code == 1
    blocks = int(out.split()[1])
    # 64 MiB minus the 8 MiB stack and the program: 50-odd blocks, always
    # the same number.
    assert 40 < blocks < 56
    again, out2, _ = sandbox.run(prog, ['alloc'], limits=limits)
    assert out2 == out
    assert again.deterministic() == first.deterministic()


def test_more_memory_more_blocks(programs, sandbox):
    prog = programs.build('limits')
    _, small, _ = sandbox.run(prog, ['alloc'],
                              limits=mf.Limits(memory=32 * MiB))
    _, big, _ = sandbox.run(prog, ['alloc'],
                            limits=mf.Limits(memory=96 * MiB))
    # 64 MiB more is 63 more blocks of 1 MiB + malloc's header page.
    assert int(big.split()[1]) - int(small.split()[1]) == 63


def test_cpu_limit(programs, sandbox):
    result, _, _ = sandbox.run(programs.build('limits'), ['spin'],
                               limits=mf.Limits(cpu=1))
    assert result.reason is Reason.CPU
    assert result.signal == 9
    assert result.cpu_user_ms + result.cpu_sys_ms >= 950


def test_wall_timeout_of_a_guest_blocked_in_read(programs):
    r, w = os.pipe()
    try:
        result = launcher.run(programs.build('limits'), ['limits', 'block'],
                              channels=[mf.Channel('/dev/stdin', mf.READ, r)],
                              limits=mf.Limits(timeout=0.5))
    finally:
        os.close(r)
        os.close(w)
    assert result.reason is Reason.TIMEOUT
    assert result.signal == 9
    assert result.launcher_status is LauncherStatus.OK


@pytest.mark.parametrize('flavor', ['glibc', 'musl'])
def test_total_output_cap(programs, sandbox, flavor):
    result, out, _ = sandbox.run(programs.build('limits', flavor), ['flood'],
                                 limits=mf.Limits(max_output=100000))
    assert result.reason is Reason.OUTPUT_LIMIT
    assert out == b'x' * 100000
    assert result.channel('/dev/stdout').bytes_written == 100000
    assert 'total output' in result.message


def test_per_channel_output_cap(programs, memfd):
    out = memfd()
    result = launcher.run(programs.build('limits'), ['l', 'write', '5000'],
                          channels=[mf.Channel('/dev/stdout', mf.WRITE, out,
                                               4096)])
    assert result.reason is Reason.OUTPUT_LIMIT
    assert result.message == '/dev/stdout'
    assert memfd.read(out) == b'y' * 4096


def test_exactly_at_the_cap_is_fine(programs, memfd):
    out = memfd()
    result = launcher.run(programs.build('limits'), ['l', 'write', '4096'],
                          channels=[mf.Channel('/dev/stdout', mf.WRITE, out,
                                               4096)],
                          limits=mf.Limits(max_output=4096))
    assert result.reason is Reason.OK
    assert len(memfd.read(out)) == 4096


def test_output_digest_matches(programs, sandbox):
    import hashlib
    result, out, _ = sandbox.run(programs.build('limits'),
                                 ['write', '1000000'])
    assert result.reason is Reason.OK
    assert result.channel('/dev/stdout').sha256 == \
        hashlib.sha256(out).hexdigest()
    assert len(out) == 1000000


def test_crash_is_a_signal(programs, sandbox):
    result, _, _ = sandbox.run(programs.build('limits'), ['crash'])
    assert (result.reason, result.signal) == (Reason.SIGNAL, 11)


def test_reader_gone_gives_sigpipe_and_output_error(programs):
    # The guest dies of SIGPIPE as on Unix; the run's reason is the root
    # cause, the output that could not be delivered.
    r, w = os.pipe()
    os.close(r)
    try:
        result = launcher.run(programs.build('limits'), ['l', 'flood'],
                              channels=[mf.Channel('/dev/stdout', mf.WRITE,
                                                   w)])
    finally:
        os.close(w)
    assert (result.reason, result.signal) == (Reason.OUTPUT_ERROR, 13)
    assert result.message == '/dev/stdout: write failed: EPIPE'
    assert result.channel('/dev/stdout').bytes_written == 0


def _children():
    with open('/proc/self/task/%d/children' % os.getpid()) as f:
        return f.read().split()


def test_nothing_left_behind(programs, sandbox):
    fds = sorted(os.listdir('/proc/self/fd'))
    kids = _children()
    prog = programs.build('limits')
    for case, limits in [('spin', mf.Limits(timeout=0.3)),
                         ('flood', mf.Limits(max_output=10)),
                         ('alloc', mf.Limits(memory=16 * MiB)),
                         ('crash', None)]:
        sandbox.run(prog, [case], limits=limits)
    # Nothing new remains (something older may close meanwhile).
    assert set(os.listdir('/proc/self/fd')) - set(fds) == set()
    assert set(_children()) - set(kids) == set()
