# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Fixtures shared by every test directory.

``programs``
    Compiles the C sources of ``test/programs/`` and ``examples/`` once per
    session: ``programs.build('probe', 'glibc')`` returns the path of a
    static binary.  Flavors: ``glibc`` (gcc -static), ``pie``
    (gcc -static-pie), ``musl`` (musl-gcc -static; skips when musl-gcc is
    absent), ``dynamic`` (plain gcc, for negative tests).
``sandbox``
    ``sandbox.run(path, args, stdin=b'', **kw)`` runs a program in the real
    zvm with stdin from memory and stdout/stderr captured; returns
    ``(RunResult, stdout bytes, stderr bytes)``.
``memfd``
    ``memfd(data)`` -> an fd holding ``data``, closed after the test.
``children_of``
    ``children_of(pid)`` -> the pids whose parent is ``pid`` (whichever of
    its threads forked them).
``zvm_manifest``
    ``zvm_manifest(program, argv, extra=b'', **build_kwargs)`` runs the
    launcher itself on the manifest ``manifest.build`` makes, with
    ``extra`` lines appended; returns ``(CompletedProcess with stderr,
    report bytes)``.
``statsd``
    A UDP socket on 127.0.0.1 standing for a StatsD server:
    ``statsd.conf`` is the ``log_statsd_*`` options that send to it,
    ``statsd.metrics(wait)`` the ``(name, value, type)`` received since
    the last call (``module_statsd``: the same, one per test module, for
    the servers of a module's cluster).
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [os.path.join(HERE, 'programs'),
           os.path.join(os.path.dirname(HERE), 'examples')]

FLAVORS = {
    'glibc': ['gcc', '-static'],
    'pie': ['gcc', '-static-pie', '-fPIE'],
    'musl': ['musl-gcc', '-static'],
    'dynamic': ['gcc'],
}


class Programs:
    def __init__(self, out_dir):
        self.out_dir = str(out_dir)
        self.built = {}

    def source(self, name):
        for d in SOURCES:
            path = os.path.join(d, name + '.c')
            if os.path.exists(path):
                return path
        raise FileNotFoundError(name)

    def build(self, name, flavor='glibc', extra=()):
        key = (name, flavor, tuple(extra))
        if key in self.built:
            return self.built[key]
        cmd = FLAVORS[flavor]
        if shutil.which(cmd[0]) is None:
            pytest.skip('%s is not installed' % cmd[0])
        out = os.path.join(self.out_dir, '%s-%s%s' % (
            name, flavor, '-x' * bool(extra)))
        subprocess.run(cmd + ['-O2', '-o', out, self.source(name)] +
                       list(extra), check=True)
        self.built[key] = out
        return out


@pytest.fixture(scope='session')
def programs(tmp_path_factory):
    return Programs(tmp_path_factory.mktemp('programs'))


def _memfd(data=b''):
    fd = os.memfd_create('test', os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    out = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b''.join(out)
        out.append(b)


class Sandbox:
    """Runs programs in the real launcher with in-memory channels."""

    def run(self, program, args=(), stdin=b'', env=None, seed=0,
            limits=None, extra=(), argv0=None, time_slice_ms=None):
        fds = []
        try:
            i, o, e = _memfd(stdin), _memfd(), _memfd()
            fds += [i, o, e]
            channels = [mf.Channel('/dev/stdin', mf.READ, i),
                        mf.Channel('/dev/stdout', mf.WRITE, o),
                        mf.Channel('/dev/stderr', mf.WRITE, e)]
            channels += list(extra)
            argv = [argv0 or os.path.basename(program)] + list(args)
            result = launcher.run(program, argv, env, channels, seed, limits,
                                  time_slice_ms=time_slice_ms)
            return result, _read(o), _read(e)
        finally:
            for fd in fds:
                os.close(fd)


@pytest.fixture(scope='session')
def images_dir(tmp_path_factory):
    """A system_images_dir with lua.tar and python.tar (``zerocloud image``)
    as far as they can be built, built once: ``(dir, {kind: why not})``."""
    from zerocloud import images
    where = tmp_path_factory.mktemp('images')
    problems = {}
    for kind, build in sorted(images.BUILDERS.items()):
        try:
            build(str(where / (kind + '.tar')))
        except images.ImageBuildError as exc:
            problems[kind] = str(exc)
    return str(where), problems


def _image(images_dir, kind):
    where, problems = images_dir
    if kind in problems:
        pytest.skip('cannot build the %s image: %s' % (kind, problems[kind]))
    return os.path.join(where, kind + '.tar')


@pytest.fixture(scope='session')
def python_image(images_dir):
    """The python system image's path.

    It needs Debian's libpython3.X-dev, which .ci/run installs like
    musl-tools; elsewhere the tests that need it skip, naming what is
    missing."""
    return _image(images_dir, 'python')


@pytest.fixture(scope='session')
def lua_image(images_dir):
    """The lua system image's path (Debian's liblua5.4-dev, as above)."""
    return _image(images_dir, 'lua')


@pytest.fixture(scope='session')
def sandbox():
    return Sandbox()


@pytest.fixture
def memfd():
    """memfd(data) -> fd, closed after the test; read back with .read."""
    opened = []

    def make(data=b''):
        fd = _memfd(data)
        opened.append(fd)
        return fd
    make.read = _read
    yield make
    for fd in opened:
        os.close(fd)


def _children_of(pid):
    out = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


@pytest.fixture(scope='session')
def children_of():
    return _children_of


@pytest.fixture
def zvm_manifest(memfd):
    def run(program, argv, extra=b'', **build_kwargs):
        prog = os.open(program, os.O_RDONLY)
        report = memfd()
        try:
            text = mf.build(prog, report, argv, **build_kwargs) + extra
            man = memfd(text)
            proc = subprocess.run([launcher.find_zvm(), str(man)],
                                  pass_fds=[prog, report, man], timeout=30,
                                  stderr=subprocess.PIPE)
        finally:
            os.close(prog)
        return proc, memfd.read(report)
    return run


class StatsdServer:
    """Collects StatsD datagrams (``name:value|type``, one or more lines
    each) sent to a UDP port on 127.0.0.1."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.conf = {'log_statsd_host': '127.0.0.1',
                     'log_statsd_port': str(self.sock.getsockname()[1])}

    def metrics(self, wait=0.2):
        """Everything received until nothing came for ``wait`` seconds."""
        found = []
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return found
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return found
            for line in data.decode().splitlines():
                name, _, rest = line.partition(':')
                value, _, kind = rest.partition('|')
                found.append((name, float(value), kind.split('|')[0]))
            deadline = time.monotonic() + wait

    def close(self):
        self.sock.close()


@pytest.fixture
def statsd():
    server = StatsdServer()
    yield server
    server.close()


@pytest.fixture(scope='module')
def module_statsd():
    server = StatsdServer()
    yield server
    server.close()
