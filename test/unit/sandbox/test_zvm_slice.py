# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The time slice a guest asks the scheduler for (manifest ``slice_us``).

The guest's slice is read back with ``sched_getattr`` while it waits on
stdin: the kernel reports a fair task's slice as ``sched_runtime`` (Linux
6.12 and later, which this project's machines run).
"""
import ctypes
import json
import os
import struct
import threading
import time

import pytest

from zerocloud.executor.base import NodeJob, parse_spec
from zerocloud.executor.result import LauncherStatus
from zerocloud.executor.sandbox import SandboxExecutor
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

_libc = ctypes.CDLL(None, use_errno=True)
_NR_SCHED_GETATTR = 315     # x86-64


def _sched(pid):
    """(policy, nice, runtime ns) of ``pid`` from sched_getattr."""
    buf = ctypes.create_string_buffer(56)
    if _libc.syscall(_NR_SCHED_GETATTR, pid, buf, 56, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    _, policy, _, nice, _, runtime = struct.unpack_from('IIQiIQ', buf)
    return policy, nice, runtime


def _state(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


def _while_blocked(programs, children_of, start):
    """Start the ``limits block`` guest with ``start(program, stdin_fd)``
    (which runs it to its end), read zvm's and the guest's sched attributes
    while the guest waits on stdin, then end it with EOF.

    :returns: (zvm's attributes, the guest's, what ``start`` returned).
    """
    program = programs.build('limits')     # no compiler among the children
    launcher.find_zvm()                     # nor zvm's build
    before = set(children_of(os.getpid()))
    r, w = os.pipe()
    box = {}

    def run():
        box['out'] = start(program, r)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        zvm = guest = None
        deadline = time.monotonic() + 20
        while guest is None and time.monotonic() < deadline:
            for pid in set(children_of(os.getpid())) - before:
                kids = children_of(pid)
                if kids:
                    zvm, guest = pid, kids[0]
            time.sleep(0.01)
        assert guest is not None, 'the guest never started'
        # Asleep means in its read of stdin, past ask_for_slice (the child
        # blocks nowhere before the guest's first read).
        while _state(guest) != 'S' and time.monotonic() < deadline:
            time.sleep(0.01)
        attrs = _sched(zvm), _sched(guest)
    finally:
        os.close(w)
        thread.join(30)
        os.close(r)
    return attrs + (box.get('out'),)


def _launch(**kwargs):
    def start(program, stdin):
        return launcher.run(program, ['limits', 'block'],
                            channels=[mf.Channel('/dev/stdin', mf.READ,
                                                 stdin)],
                            limits=mf.Limits(timeout=30), **kwargs)
    return start


def test_a_guest_gets_the_slice_it_was_given(programs, children_of):
    supervisor, guest, result = _while_blocked(programs, children_of,
                                               _launch(time_slice_ms=20))
    assert result.ok
    assert guest[0] == 0 and guest[2] == 20 * 1000 * 1000
    # The supervisor keeps the caller's (default) slice: it relays output
    # and should preempt its guest when it wakes.
    assert supervisor[2] == _sched(0)[2] != guest[2]
    # The policy and nice value stay the caller's.
    assert guest[:2] == supervisor[:2] == _sched(0)[:2]


def test_without_a_slice_the_guest_keeps_the_default(programs, children_of):
    supervisor, guest, result = _while_blocked(programs, children_of,
                                               _launch())
    assert result.ok
    assert guest[2] == supervisor[2] == _sched(0)[2]


def test_the_executor_passes_the_slice_on(programs, children_of, tmp_path):
    spec = parse_spec(json.dumps({
        'version': 1, 'node': 'n-1', 'argv': ['limits', 'block'],
        'channels': [{'alias': '/dev/stdin', 'direction': 'r',
                      'kind': 'object', 'local': True}]}).encode())

    def start(program, stdin):
        return SandboxExecutor(time_slice_ms=7).run(NodeJob(
            spec, program, {0: stdin}, str(tmp_path),
            mf.Limits(timeout=30)))

    _, guest, out = _while_blocked(programs, children_of, start)
    assert out.result.ok
    assert guest[2] == 7 * 1000 * 1000


@pytest.mark.parametrize('value', [b'0', b'100001', b'12x', b'-1'])
def test_zvm_refuses_a_bad_slice(programs, zvm_manifest, value):
    proc, _ = zvm_manifest(programs.build('limits'), ['limits'],
                           extra=b'slice_us %s\n' % value)
    assert proc.returncode == LauncherStatus.MANIFEST
    assert (b'slice_us must be 1..100000' in proc.stderr
            or b'bad number' in proc.stderr)


def test_the_slice_never_changes_what_a_guest_computes(programs, sandbox):
    prog = programs.build('determinism')
    plain, out, err = sandbox.run(prog)
    sliced, out2, err2 = sandbox.run(prog, time_slice_ms=50)
    assert plain.ok and sliced.ok
    assert (out2, err2) == (out, err)
    assert sliced.deterministic() == plain.deterministic()
