# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Stopping a run from outside: launcher.Cancel, SIGTERM to zvm, and a
zvm whose parent dies.

Programs get a 60 s timeout and are aborted after a fraction of a second:
a run that was not stopped would end with reason ``timeout`` (or hang the
test), never with ``aborted``.
"""
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from zerocloud.executor.base import NodeJob, NodeSpec
from zerocloud.executor.result import LauncherStatus, Reason
from zerocloud.executor.sandbox import SandboxExecutor
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

LONG = mf.Limits(timeout=60)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _open_fds():
    return sorted(os.listdir('/proc/self/fd'))


def _alive(pid):
    """True unless pid is gone or a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _wait_for(predicate, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def launched(monkeypatch):
    """The Popen objects launcher.run creates, as they are created."""
    procs = []
    real = subprocess.Popen

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            procs.append(self)
    monkeypatch.setattr(launcher.subprocess, 'Popen', Recording)
    return procs


def test_abort_stops_a_busy_guest(programs, memfd):
    prog = programs.build('limits')
    launcher.find_zvm()     # built before the clock starts
    out = memfd()
    before = _open_fds()
    cancel = launcher.Cancel()
    timer = threading.Timer(0.3, cancel.abort, ['node map-2 failed'])
    timer.start()
    try:
        result = launcher.run(prog, ['limits', 'spin'],
                              channels=[mf.Channel('/dev/stdout', mf.WRITE,
                                                   out)],
                              limits=LONG, cancel=cancel)
    finally:
        timer.cancel()
    assert result.reason is Reason.ABORTED
    assert result.message == 'node map-2 failed'
    assert result.signal == 9 and result.exit_code is None
    assert result.launcher_status is LauncherStatus.OK
    assert 0 < result.wall_ms < 60000   # from zvm's report: it ran
    # zvm's own report: numbers are there.
    assert result.channel('/dev/stdout').bytes_written == 0
    assert cancel.cancelled and cancel.message == 'node map-2 failed'
    assert _open_fds() == before


def test_abort_keeps_what_was_relayed(programs):
    """Abort once the guest's first write came through: the report counts
    and hashes it."""
    r, w = os.pipe()
    cancel = launcher.Cancel()
    got = []

    def reader():
        got.append(os.read(r, 100))
        cancel.abort('stop')
        while os.read(r, 100):
            pass
    t = threading.Thread(target=reader)
    t.start()
    try:
        result = launcher.run(programs.build('limits'), ['limits', 'hang'],
                              channels=[mf.Channel('/dev/stdout', mf.WRITE,
                                                   w)],
                              limits=LONG, cancel=cancel)
    finally:
        os.close(w)
        t.join(10)
        os.close(r)
    assert got == [b'started\n']
    assert result.reason is Reason.ABORTED
    assert result.message == 'stop'
    ch = result.channel('/dev/stdout')
    assert ch.bytes_written == 8
    assert ch.sha256 == hashlib.sha256(b'started\n').hexdigest()


def test_abort_before_start_runs_nothing(launched):
    cancel = launcher.Cancel()
    assert cancel.abort('too late') is True
    assert cancel.abort('again') is False
    assert cancel.message == 'too late'
    # Not even the program is looked at.
    result = launcher.run('/nonexistent/program', seed=5, cancel=cancel)
    assert result.reason is Reason.ABORTED
    assert result.message == 'too late'
    assert result.seed == 5 and result.channels == ()
    assert launched == []


def test_abort_after_the_run_changes_nothing(programs, memfd):
    out = memfd()
    cancel = launcher.Cancel()
    result = launcher.run(programs.build('limits'), ['l', 'write', '5'],
                          channels=[mf.Channel('/dev/stdout', mf.WRITE, out)],
                          limits=LONG, cancel=cancel)
    assert result.reason is Reason.OK
    assert cancel.abort('late') is True
    assert result.reason is Reason.OK and result.message == ''
    assert memfd.read(out) == b'yyyyy'


def test_a_cancel_that_is_never_used(programs, memfd):
    out = memfd()
    result = launcher.run(programs.build('limits'), ['l', 'write', '3'],
                          channels=[mf.Channel('/dev/stdout', mf.WRITE, out)],
                          cancel=launcher.Cancel())
    assert result.ok
    assert memfd.read(out) == b'yyy'


def test_a_launcher_deaf_to_sigterm_is_killed(programs, launched,
                                              monkeypatch, children_of):
    """zvm stopped (SIGSTOP) cannot act on SIGTERM: SIGKILL after the grace,
    and its guest dies with it."""
    monkeypatch.setattr(launcher, 'ABORT_GRACE', 0.2)
    before = _open_fds()
    cancel = launcher.Cancel()
    guests = []

    def stop_then_abort():
        zvm = _wait_for(lambda: launched and launched[0].pid)
        guests.extend(_wait_for(lambda: children_of(zvm)))
        os.kill(zvm, signal.SIGSTOP)
        cancel.abort('job aborted')
    t = threading.Thread(target=stop_then_abort)
    t.start()
    try:
        result = launcher.run(programs.build('limits'), ['limits', 'spin'],
                              limits=LONG, cancel=cancel)
    finally:
        t.join(10)
    assert result.reason is Reason.ABORTED
    assert result.message == 'job aborted'
    assert result.launcher_status is LauncherStatus.LAUNCHER
    assert result.signal == 9
    assert guests
    assert _wait_for(lambda: not any(_alive(g) for g in guests))
    assert _open_fds() == before


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_stop_signal_to_zvm_writes_a_report(programs, memfd, launched, sig,
                                            children_of):
    prog = programs.build('limits')
    launcher.find_zvm()
    out = memfd()

    def stop():
        # Once zvm has forked its guest it reads its stop signals.
        zvm = _wait_for(lambda: launched and launched[0].pid)
        _wait_for(lambda: children_of(zvm))
        time.sleep(0.1)
        launched[0].send_signal(sig)
    t = threading.Thread(target=stop)
    t.start()
    try:
        result = launcher.run(prog, ['limits', 'spin'],
                              channels=[mf.Channel('/dev/stdout', mf.WRITE,
                                                   out)],
                              limits=LONG)
    finally:
        t.join(10)
    assert result.reason is Reason.ABORTED
    assert result.message == 'stopped by %s' % signal.Signals(sig).name
    assert result.launcher_status is LauncherStatus.OK
    assert launched[0].returncode == 0
    assert result.channel('/dev/stdout').bytes_written == 0


def test_the_guest_can_still_signal_itself(programs):
    """zvm blocks its stop signals; the guest must not inherit that."""
    result = launcher.run(programs.build('limits'), ['limits', 'raise'],
                          limits=LONG)
    assert result.reason is Reason.SIGNAL
    assert result.signal == signal.SIGTERM


def test_sigsys_still_works_after_the_mask_change(programs, sandbox):
    result, out, _ = sandbox.run(programs.build('limits'), ['write', '4'])
    assert result.ok and out == b'yyyy'


def test_executor_passes_cancel_through(tmp_path, programs):
    cancel = launcher.Cancel()
    cancel.abort('another node failed')
    spec = NodeSpec(node='n', account='a', argv=('limits', 'spin'), env={},
                    seed=0, limits={}, channels=())
    out = SandboxExecutor().run(NodeJob(spec, programs.build('limits'), {},
                                        str(tmp_path), LONG), cancel=cancel)
    assert out.result.reason is Reason.ABORTED
    assert out.result.message == 'another node failed'


def test_zvm_exits_when_its_parent_is_already_gone(programs, zvm_manifest):
    """The manifest names a parent that is not zvm's: zvm stops at once."""
    proc, report = zvm_manifest(programs.build('limits'), ['limits', 'spin'],
                                parent=1 << 22)
    assert proc.returncode == LauncherStatus.LAUNCHER
    assert b'parent process is gone' in proc.stderr
    assert report == b''


PARENT = textwrap.dedent('''
    import os, subprocess, sys
    from zerocloud.sandbox import launcher
    from zerocloud.sandbox import manifest as mf
    real = subprocess.Popen

    class Telling(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            os.write(1, b'%d\\n' % self.pid)
    launcher.subprocess.Popen = Telling
    launcher.run(sys.argv[1], ['limits', 'spin'],
                 limits=mf.Limits(timeout=60))
''')


def test_zvm_and_guest_die_with_their_parent(programs, children_of):
    env = dict(os.environ, PYTHONPATH=ROOT)
    parent = subprocess.Popen([sys.executable, '-c', PARENT,
                               programs.build('limits')],
                              stdout=subprocess.PIPE, env=env)
    try:
        zvm = int(parent.stdout.readline())
        guests = _wait_for(lambda: children_of(zvm))
        assert guests and _alive(zvm)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    assert _wait_for(lambda: not _alive(zvm))
    assert _wait_for(lambda: not any(_alive(g) for g in guests))


EVENTLET = textwrap.dedent('''
    import sys, warnings
    warnings.simplefilter('ignore')
    import eventlet
    eventlet.patcher.monkey_patch(all=False, socket=True, select=True,
                                  thread=True)
    import select
    assert not hasattr(select, 'poll')      # patched: green select only
    from eventlet import tpool
    from zerocloud.sandbox import launcher
    from zerocloud.sandbox import manifest as mf
    lim = mf.Limits(timeout=60)
    ok = tpool.execute(launcher.run, sys.argv[1], ['limits', 'write', '0'],
                       limits=lim, cancel=launcher.Cancel())
    cancel = launcher.Cancel()
    # abort() runs on the hub while run() waits in a real thread.
    eventlet.spawn_after(0.3, cancel.abort, 'from the hub')
    aborted = tpool.execute(launcher.run, sys.argv[1], ['limits', 'spin'],
                            limits=lim, cancel=cancel)
    print(ok.reason.value, aborted.reason.value, aborted.message)
''')


def test_under_eventlet_from_a_tpool_thread(programs):
    pytest.importorskip('eventlet')
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', EVENTLET,
                           programs.build('limits')], env=env, timeout=60,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b'ok aborted from the hub\n'
