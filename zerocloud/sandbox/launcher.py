# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Find the ``zvm`` launcher, run a program in it, read its report.

:func:`run` is the one entry point: it opens the program, hands the launcher
a manifest and the channel fds (no shell, no temp files: manifest, report and
the launcher's own diagnostics live in memfds), enforces the wall clock from
outside as well (the launcher enforces it first, and its child dies with it),
and returns a :class:`~zerocloud.executor.result.RunResult`.

A run can be stopped from another thread through a :class:`Cancel`: the
launcher gets SIGTERM (through a pidfd, so a recycled pid is never hit),
kills the guest and still writes its report, with reason ``aborted``.

The object server calls :func:`run` in an ``eventlet.tpool`` worker thread
of a monkey-patched process, where green primitives must not be used:
waiting (``poll`` on a pidfd) and :class:`Cancel`'s lock use the unpatched
modules then (:func:`_unpatched`).  Without eventlet the standard ones are
used, and eventlet is not imported.
"""
import dataclasses
import importlib
import math
import os
import signal
import subprocess
import sys
import threading
import time

from zerocloud.exceptions import LauncherNotFound, SandboxError
from zerocloud.executor.result import (LauncherStatus, Reason, RunResult)
from zerocloud.native import build as native_build
from zerocloud.sandbox import manifest as mf

__all__ = ['find_zvm', 'run', 'Cancel', 'OUTER_GRACE', 'ABORT_GRACE']

#: Seconds the outer watchdog waits past the launcher's own timeout.
OUTER_GRACE = 5.0
#: Seconds an aborted launcher gets to write its report before SIGKILL.
ABORT_GRACE = 2.0

_lock = threading.Lock()
_found = None


def _cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'zerocloud', 'zvm-' +
                        native_build.source_digest()[:16])


def find_zvm():
    """Path of a zvm built from this package's sources.

    ``$ZEROCLOUD_ZVM`` wins.  Otherwise the binary next to the sources is
    used when its stamp matches them; else it is rebuilt (in place when the
    package dir is writable, else in ``~/.cache/zerocloud``).
    """
    global _found
    override = os.environ.get('ZEROCLOUD_ZVM')
    if override:
        if not os.access(override, os.X_OK):
            raise LauncherNotFound('ZEROCLOUD_ZVM=%s is not executable'
                                   % override)
        return override
    with _lock:
        if _found and os.access(_found, os.X_OK):
            return _found
        native = native_build.NATIVE_DIR
        candidates = [native, _cache_dir()]
        for d in candidates:
            if native_build.is_current(d):
                _found = os.path.join(d, native_build.BINARY)
                return _found
        if not native_build.sources():
            raise LauncherNotFound('no zvm binary and no sources to build it '
                                   'in %s' % native)
        out = native if os.access(native, os.W_OK) else candidates[1]
        try:
            _found = native_build.build(out, quiet=True)
        except (native_build.BuildError, OSError) as e:
            raise LauncherNotFound(str(e))
        return _found


def _unpatched(name):
    """Module ``name`` as the standard library has it.

    Under eventlet's monkey patching ``select`` loses ``poll`` and
    ``_thread`` hands out green locks, neither of which works in a real OS
    thread (``eventlet.tpool``); ``eventlet.patcher.original`` returns the
    untouched module (cached by eventlet).  eventlet is only asked when
    something already imported it.
    """
    patcher = sys.modules.get('eventlet.patcher')
    if patcher is not None:
        return patcher.original(name)
    return importlib.import_module(name)


def _signal(pidfd, sig):
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass            # already reaped: nothing to stop


class Cancel:
    """Stops a :func:`run` from any thread: ``cancel.abort(message)``.

    * before the run starts: :func:`run` starts nothing and returns at
      once a result with reason ``aborted``;
    * while it runs: the launcher gets SIGTERM, kills the guest and writes
      its report (what the guest wrote so far, counted and hashed), and
      :func:`run` returns it with reason ``aborted`` and ``message``; a
      launcher still alive :data:`ABORT_GRACE` seconds later is killed;
    * after it ended: nothing happens (the result stands).

    :meth:`abort` never blocks for long: it takes a lock that is only held
    for a few syscalls, sends a signal and writes an eventfd.  It returns
    True the first time, False when already aborted.  One Cancel serves
    one run at a time (a node); it cannot be reset.
    """

    def __init__(self):
        # A real lock even in a monkey-patched process: abort() runs on the
        # hub thread while run() holds the lock in a worker thread.
        self._lock = _unpatched('_thread').allocate_lock()
        self._cancelled = False
        self._message = None
        self._pidfd = None      # the launcher of the run in progress
        self._wake = None       # its waiter's eventfd

    @property
    def cancelled(self):
        return self._cancelled

    @property
    def message(self):
        return self._message

    def abort(self, message='aborted'):
        with self._lock:
            if self._cancelled:
                return False
            self._message = str(message)
            self._cancelled = True
            if self._pidfd is not None:
                _signal(self._pidfd, signal.SIGTERM)
                os.eventfd_write(self._wake, 1)
        return True

    def _attach(self, pidfd, wake):
        """run(): the launcher started.  True if aborted already."""
        with self._lock:
            if self._pidfd is not None:
                raise RuntimeError('this Cancel is already attached to a '
                                   'running launcher')
            self._pidfd, self._wake = pidfd, wake
            return self._cancelled

    def _detach(self):
        with self._lock:
            self._pidfd = self._wake = None

    def __repr__(self):
        return '<Cancel %s>' % ('aborted: %r' % self._message
                                if self._cancelled else 'armed')


def _synthetic(reason, message, seed, wall_ms, status, sig=0):
    return RunResult(reason=reason, exit_code=None, signal=sig,
                     message=message, cpu_user_ms=0, cpu_sys_ms=0,
                     wall_ms=wall_ms, max_rss_kb=0, seed=seed, channels=(),
                     launcher_status=status)


def _wait(proc, pidfd, wake, outer):
    """Wait for the launcher on its pidfd; kill it when it overstays.

    Returns ``'exited'``, ``'timeout'`` (killed at ``outer`` seconds) or
    ``'killed'`` (aborted and still alive after :data:`ABORT_GRACE`);
    the launcher has been reaped in every case.
    """
    sel = _unpatched('select')
    poller = sel.poll()
    poller.register(pidfd, sel.POLLIN)
    if wake is not None:
        poller.register(wake, sel.POLLIN)
    now = time.monotonic()
    deadline = now + outer if outer else None
    kill_at = None
    outcome = 'exited'
    while True:
        ends = [t for t in (deadline, kill_at) if t is not None]
        ms = max(0, math.ceil((min(ends) - now) * 1000)) if ends else None
        ready = {fd for fd, _ in poller.poll(ms)}
        if pidfd in ready:
            break
        now = time.monotonic()
        if wake in ready:
            os.eventfd_read(wake)
            poller.unregister(wake)
            kill_at = now + ABORT_GRACE
        if kill_at is not None and now >= kill_at:
            outcome = 'killed'
        elif deadline is not None and now >= deadline:
            outcome = 'timeout'
        else:
            continue
        _signal(pidfd, signal.SIGKILL)  # its child dies with it (PDEATHSIG)
        break
    proc.wait()
    return outcome


def _read_all(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b''.join(chunks)
        chunks.append(b)


def run(program, argv=None, env=None, channels=(), seed=0, limits=None,
        clock=None, zvm=None, cancel=None, time_slice_ms=None):
    """Run ``program`` (a path to a static x86-64 ELF) in the sandbox.

    ``channels`` are :class:`zerocloud.sandbox.manifest.Channel` objects
    whose fds stay owned by the caller.  Returns a RunResult whatever the
    program did; raises :class:`SandboxError` only when the launcher itself
    could not run (bad manifest, missing launcher), and ``OSError`` when the
    program cannot be opened.

    ``cancel`` (a :class:`Cancel`) lets another thread stop the run; an
    aborted run's result has reason ``aborted`` and the abort's message.
    A Cancel aborted before the call makes it return such a result at once,
    without looking at the arguments or starting anything.

    ``time_slice_ms`` is the CPU time slice the guest asks the scheduler
    for (1-100 ms; ``None``: the kernel's default).  It changes when the
    guest is switched out, never what it computes.
    """
    if cancel is not None and cancel.cancelled:
        return _synthetic(Reason.ABORTED, cancel.message, seed, 0,
                          LauncherStatus.OK)
    limits = limits or mf.Limits()
    zvm = zvm or find_zvm()
    argv = list(argv) if argv else [os.path.basename(str(program))]
    opened = []
    try:
        prog_fd = os.open(program, os.O_RDONLY | os.O_CLOEXEC)
        opened.append(prog_fd)
        report = os.memfd_create('zvm-report', os.MFD_CLOEXEC)
        opened.append(report)
        errfd = os.memfd_create('zvm-stderr', os.MFD_CLOEXEC)
        opened.append(errfd)
        mfd = os.memfd_create('zvm-manifest', os.MFD_CLOEXEC)
        opened.append(mfd)
        # Fresh numbers >= 3 for every channel: the caller's 0/1/2 may be
        # channels, and the launcher's own 0/1/2 are not the guest's.
        moved = []
        for c in channels:
            d = os.dup(c.fd)
            opened.append(d)
            moved.append(dataclasses.replace(c, fd=d))
        text = mf.build(prog_fd, report, argv, env, moved, seed, limits,
                        clock, parent=os.getpid(),
                        slice_us=int(time_slice_ms * 1000)
                        if time_slice_ms else None)
        os.write(mfd, text)
        os.lseek(mfd, 0, os.SEEK_SET)
        pass_fds = [prog_fd, report, mfd] + [c.fd for c in moved]
        wake = None
        if cancel is not None:
            wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            opened.append(wake)
        t0 = time.monotonic()
        # zvm dies when the thread that forks it exits (PR_SET_PDEATHSIG):
        # this one, which waits for it below.
        proc = subprocess.Popen([zvm, str(mfd)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errfd,
                                pass_fds=pass_fds, env={})
        try:
            # Unreaped until _wait(), so the pid is still zvm's.
            pidfd = os.pidfd_open(proc.pid)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        opened.append(pidfd)
        # The launcher holds its own copies now.
        for d in [mfd] + [c.fd for c in moved]:
            os.close(d)
            opened.remove(d)
        outer = (limits.timeout + OUTER_GRACE) if limits.timeout else None
        try:
            if cancel is not None and cancel._attach(pidfd, wake):
                # Aborted between the check above and now.
                _signal(pidfd, signal.SIGTERM)
                os.eventfd_write(wake, 1)
            outcome = _wait(proc, pidfd, wake, outer)
        finally:
            if cancel is not None:
                cancel._detach()
            if proc.returncode is None:     # interrupted: leave nothing
                _signal(pidfd, signal.SIGKILL)
                proc.wait()
        wall_ms = int((time.monotonic() - t0) * 1000)
        if outcome == 'timeout':
            return _synthetic(
                Reason.TIMEOUT, 'the launcher did not finish %.1fs after '
                'the timeout and was killed' % OUTER_GRACE, seed, wall_ms,
                LauncherStatus.LAUNCHER, 9)
        status = proc.returncode
        diag = _read_all(errfd).decode('utf-8', 'replace').strip()
        data = _read_all(report)
        aborted = cancel is not None and cancel.cancelled
        if aborted and (status < 0 or not data):
            # Killed before it could report (SIGTERM before zvm blocked it,
            # or SIGKILL after ABORT_GRACE).
            return _synthetic(Reason.ABORTED, cancel.message, seed, wall_ms,
                              LauncherStatus.LAUNCHER, 9 * (status == -9))
        if status < 0:
            raise SandboxError('zvm was killed by signal %d' % -status)
        try:
            lstatus = LauncherStatus(status)
        except ValueError:
            raise SandboxError('zvm exited with unknown status %d: %s'
                               % (status, diag))
        if not data:
            raise SandboxError(diag or 'zvm wrote no report (status %d)'
                               % status)
        result = RunResult.from_report(data, lstatus)
        if aborted and result.reason is Reason.ABORTED:
            result = dataclasses.replace(result, message=cancel.message)
        return result
    finally:
        for fd in opened:
            os.close(fd)
