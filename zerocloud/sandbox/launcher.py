# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Find the ``zvm`` launcher, run a program in it, read its report.

:func:`run` is the one entry point: it opens the program, hands the launcher
a manifest and the channel fds (no shell, no temp files: manifest, report and
the launcher's own diagnostics live in memfds), enforces the wall clock from
outside as well (the launcher enforces it first, and its child dies with it),
and returns a :class:`~zerocloud.executor.result.RunResult`.
"""
import os
import subprocess
import threading

from zerocloud.exceptions import LauncherNotFound, SandboxError
from zerocloud.executor.result import (LauncherStatus, Reason, RunResult)
from zerocloud.native import build as native_build
from zerocloud.sandbox import manifest as mf

__all__ = ['find_zvm', 'run', 'OUTER_GRACE']

#: Seconds the outer watchdog waits past the launcher's own timeout.
OUTER_GRACE = 5.0

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


def _read_all(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b''.join(chunks)
        chunks.append(b)


def run(program, argv=None, env=None, channels=(), seed=0, limits=None,
        clock=None, zvm=None):
    """Run ``program`` (a path to a static x86-64 ELF) in the sandbox.

    ``channels`` are :class:`zerocloud.sandbox.manifest.Channel` objects
    whose fds stay owned by the caller.  Returns a RunResult whatever the
    program did; raises :class:`SandboxError` only when the launcher itself
    could not run (bad manifest, missing launcher), and ``OSError`` when the
    program cannot be opened.
    """
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
            moved.append(mf.Channel(c.path, c.mode, d, c.limit))
        text = mf.build(prog_fd, report, argv, env, moved, seed, limits,
                        clock)
        os.write(mfd, text)
        os.lseek(mfd, 0, os.SEEK_SET)
        pass_fds = [prog_fd, report, mfd] + [c.fd for c in moved]
        proc = subprocess.Popen([zvm, str(mfd)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errfd,
                                pass_fds=pass_fds, env={})
        # The launcher holds its own copies now.
        for d in [mfd] + [c.fd for c in moved]:
            os.close(d)
            opened.remove(d)
        outer = (limits.timeout + OUTER_GRACE) if limits.timeout else None
        try:
            status = proc.wait(timeout=outer)
        except subprocess.TimeoutExpired:
            proc.kill()     # its child dies with it (PR_SET_PDEATHSIG)
            proc.wait()
            return RunResult(
                reason=Reason.TIMEOUT, exit_code=None, signal=9,
                message='the launcher did not finish %.1fs after the '
                        'timeout and was killed' % OUTER_GRACE,
                cpu_user_ms=0, cpu_sys_ms=0,
                wall_ms=int(outer * 1000), max_rss_kb=0, seed=seed,
                channels=(), launcher_status=LauncherStatus.LAUNCHER)
        diag = _read_all(errfd).decode('utf-8', 'replace').strip()
        data = _read_all(report)
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
        return RunResult.from_report(data, lstatus)
    finally:
        for fd in opened:
            os.close(fd)

