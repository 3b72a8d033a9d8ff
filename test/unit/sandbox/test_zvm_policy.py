# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Probe every allowed and every denied system call in the real sandbox.

One row per call: test/programs/probe.c makes the call and prints what it
got; the table says what the policy (zerocloud/native/policy.c) and the
shim (shim.c) promise.  Rows run for glibc and musl static guests.
"""
import os
import re
import subprocess
import sys
import time

import pytest

from zerocloud.executor.result import Reason
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# (probe case, expected stdout regex) -- the call completes.
ANSWERS = [
    # fd I/O on channels
    ('write', r'hello\nok 6'),
    ('read', r'ok 5'),
    ('readv', r'ok 5'),
    ('writev', r'abc\nok 4'),
    ('pread64', r'err ESPIPE'),            # channels are streams
    ('pwrite64', r'err ESPIPE'),
    ('lseek', r'err ESPIPE'),
    ('close', r'err EBADF'),               # second close of fd 0
    ('dup', r'ok 3'),
    ('dup2', r'ok 9'),
    ('dup3', r'ok 9'),
    ('fcntl', r'ok 5'),
    ('ioctl', r'err ENOTTY'),              # no channel is a tty
    ('poll', r'ok 22'),                    # both fds ready at once
    ('write_read_channel', r'err EBADF'),  # stdin is not writable
    # memory
    ('brk', r'ok 100000'),
    ('mmap', r'ok 1'),
    ('munmap', r'ok 0'),
    ('mremap', r'ok 7'),
    ('madvise', r'ok 0'),
    ('mprotect', r'ok 0'),
    ('mmap_exec', r'err EPERM'),           # W^X
    ('mprotect_exec', r'err EPERM'),       # W^X
    ('mmap_file', r'err ENODEV'),          # no file mappings
    ('mmap_fixed_launcher', r'err EINVAL'),  # the launcher's range
    # process and signals
    ('arch_prctl_set_fs', r'ok 0'),
    ('arch_prctl_set_gs', r'err EPERM'),
    ('rt_sigprocmask', r'ok 0'),           # virtual: SIGSYS stays usable
    ('rt_sigaction_sigsys', r'err EINVAL'),
    ('set_tid_address', r'ok 1'),
    ('set_robust_list', r'ok 0'),
    ('prlimit64', r'ok 8388608'),
    ('ids', r'ok pid=1 tid=1 ppid=0 uid=1000 gid=1000 euid=1000'),
    ('kill', r'err ESRCH'),                # no other process exists
    ('kill_init', r'err ESRCH'),
    ('fork', r'err ENOSYS'),
    ('vfork', r'err ENOSYS'),
    ('clone', r'err ENOSYS'),
    ('execve', r'err ENOSYS'),
    ('execveat', r'err ENOSYS'),
    ('ptrace', r'err ENOSYS'),
    ('prctl', r'err ENOSYS'),
    ('prctl_tsc', r'err ENOSYS'),          # rdtsc stays faulting
    ('seccomp', r'err ENOSYS'),
    ('sched_setattr', r'err ENOSYS'),      # the slice is the operator's
    ('sched_setscheduler', r'err ENOSYS'),
    ('setpriority', r'err ENOSYS'),
    ('socket', r'err ENOSYS'),
    ('statx', r'err ENOSYS'),
    ('unknown', r'err ENOSYS'),
    # the file system
    ('open', r'ok /dev/stdin=fd /dev/stdout=fd /dev/input=ENOENT '
             r'/dev/in/a=ENOENT /dev/out/b=ENOENT dev/stdout=fd '
             r'/dev/\.\./dev/\./stdout=fd'),
    ('open_wrong_mode', r'err EACCES'),
    ('open_host', r'err ENOENT'),
    ('openat_host', r'err ENOENT'),
    ('open_create', r'err ENOENT'),
    ('chdir_host', r'err ENOENT'),
    ('fstat', r'ok mode=10222 size=0 blksize=65536 ino=17 dev=122 '
              r'mtime=1577836800'),
    ('stat', r'ok 16384'),
    ('getcwd', r'ok /'),
    ('listdir', r'ok \. \.\. in out stdin stdout stderr'),
    ('readdir_after_open', r'ok 0'),
    # identity, time, randomness
    ('uname', r'ok Linux zerocloud 6\.1\.0-zerocloud x86_64'),
    ('clock', r'ok 1577836800\.000001000 1\.000002000 1577836800 '
              r'1577836800'),
    ('nanosleep', r'ok 5'),                # virtual: instant, clock jumps
    ('getrandom', r'ok 8 [0-9a-f]{16}'),
    ('vdso_time', r'ok 1577836800'),       # no vDSO: a trapped syscall
    ('vsyscall_time', r'ok 1577836800'),   # legacy vsyscall: trapped too
    ('env', r'ok'),                        # no host environment
    ('auxv', r'ok vdso=0 random=[0-9a-f]{8} execfn=probe'),
]

# (probe case, reason, signal) -- the guest is killed.
KILLS = [
    ('int80', Reason.POLICY, 31),          # i386 ABI: arch check
    ('x32', Reason.POLICY, 31),            # x32 numbers
    ('rdtsc', Reason.SIGNAL, 11),          # PR_SET_TSC: host time
    ('raise', Reason.SIGNAL, 6),           # raise() reaches only itself
]

FLAVORS = ['glibc', 'pie', 'musl']


@pytest.mark.parametrize('flavor', FLAVORS)
@pytest.mark.parametrize('case,expected', ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answers(programs, sandbox, flavor, case, expected):
    probe = programs.build('probe', flavor)
    result, out, err = sandbox.run(probe, [case], stdin=b'hello world',
                                   argv0='probe')
    assert result.reason is Reason.OK, (result, out, err)
    assert re.fullmatch(expected + r'\n', out.decode()), out


@pytest.mark.parametrize('flavor', FLAVORS)
@pytest.mark.parametrize('case,reason,sig', KILLS, ids=[k[0] for k in KILLS])
def test_kills(programs, sandbox, flavor, case, reason, sig):
    probe = programs.build('probe', flavor)
    result, out, _ = sandbox.run(probe, [case])
    assert result.reason is reason
    assert result.signal == sig
    assert result.exit_code is None
    assert out == b''


def test_exit_group_reports_the_code(programs, sandbox):
    result, _, _ = sandbox.run(programs.build('probe'), ['exit_group'])
    assert (result.reason, result.exit_code) == (Reason.EXIT, 42)


def test_channels_are_listed_and_opened(programs, sandbox, memfd):
    extra = [mf.Channel('/dev/in/map-1', mf.READ, memfd(b'abc')),
             mf.Channel('/dev/in/map-2', mf.READ, memfd(b'')),
             mf.Channel('/dev/out/red-1', mf.WRITE, memfd()),
             mf.Channel('/dev/input', mf.READ, memfd(b'x'))]
    probe = programs.build('probe')
    result, out, _ = sandbox.run(probe, ['listdir', '/dev/in'], extra=extra)
    assert out == b'ok . .. map-1 map-2\n'
    result, out, _ = sandbox.run(probe, ['listdir', '/dev/out'], extra=extra)
    assert out == b'ok . .. red-1\n'
    result, out, _ = sandbox.run(probe, ['listdir', '/dev'], extra=extra)
    assert out == b'ok . .. in out stdin stdout stderr input\n'
    result, out, _ = sandbox.run(probe, ['listdir', '/'], extra=extra)
    assert out == b'ok . .. dev\n'


def test_per_channel_read_limit(programs, memfd):
    """150 bytes allowed: 100, then the last 50, then EDQUOT."""
    o = memfd()
    res = launcher.run(programs.build('probe'), ['probe', 'read_limit'],
                       None, [mf.Channel('/dev/stdin', mf.READ,
                                         memfd(b'x' * 300), 150),
                              mf.Channel('/dev/stdout', mf.WRITE, o)])
    assert res.reason is Reason.OK
    assert memfd.read(o) == b'first 100\nok 50\n'
    assert res.channel('/dev/stdin').bytes_read == 150


def test_guest_cannot_see_host_mappings(programs, tmp_path):
    """The running guest's maps: no host stack, vDSO or vvar; fixed layout."""
    probe = programs.build('probe')
    r, w = os.pipe()
    out = tmp_path / 'out'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'zerocloud.cli', 'run', '--no-validate',
         '--stdout', str(out), probe, 'block'], stdin=r,
        env=dict(os.environ, PYTHONPATH=ROOT))
    os.close(r)
    try:
        maps = None
        for _ in range(200):
            if out.exists() and out.read_bytes().startswith(b'ready'):
                maps = _guest_maps(proc.pid)
                if maps:
                    break
            time.sleep(0.05)
        assert maps, 'guest did not start'
    finally:
        os.write(w, b'x')
        os.close(w)
        proc.wait(timeout=30)
    names = [line.split()[5] for line in maps if len(line.split()) > 5]
    for forbidden in ('[stack]', '[vdso]', '[vvar]', '[vvar_vclock]',
                      '[heap]'):
        assert forbidden not in names, maps
    for line in maps:
        start = int(line.split('-')[0], 16)
        assert start < 0x7ff000000000 or start >= 0x800000000000, line


def _guest_maps(pid):
    """maps of the zvm grandchild running the guest, or None."""
    def children(p):
        try:
            with open('/proc/%d/task/%d/children' % (p, p)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []
    for zvm in children(pid):
        for guest in children(zvm):
            try:
                with open('/proc/%d/maps' % guest) as f:
                    return f.read().splitlines()
            except OSError:
                return None
    return None


def test_non_blocking_input_is_waited_for_not_spun_on(programs, memfd):
    """A host pipe in O_NONBLOCK mode: reads still fill the buffer."""
    import fcntl
    import threading
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) |
                os.O_NONBLOCK)

    def feed():
        os.write(w, b'hel')
        time.sleep(0.2)
        os.write(w, b'lo')
        os.close(w)
    t = threading.Thread(target=feed)
    t.start()
    out = memfd()
    try:
        res = launcher.run(programs.build('probe'), ['probe', 'read'],
                           channels=[mf.Channel('/dev/stdin', mf.READ, r),
                                     mf.Channel('/dev/stdout', mf.WRITE,
                                                out)])
    finally:
        t.join()
        os.close(r)
    assert res.reason is Reason.OK
    assert memfd.read(out) == b'ok 5\n'
