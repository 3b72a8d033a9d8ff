# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The python system image (zerocloud/images): a static CPython and its
standard library in a tar, run from the image in the real sandbox."""
import os
import sys
import tarfile

import pytest

from zerocloud import images
from zerocloud.executor.result import Reason
from zerocloud.sandbox import image
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf
from zerocloud.sandbox import validator


def run_python(python_image, args, stdin=b'', seed=0):
    idx = image.index_file(python_image)
    fds = []
    try:
        tar = os.open(python_image, os.O_RDONLY | os.O_CLOEXEC)
        fds.append(tar)
        prog = image.extract(tar, idx.find('bin/python'))
        fds.append(prog)
        i = os.memfd_create('i', os.MFD_CLOEXEC)
        o = os.memfd_create('o', os.MFD_CLOEXEC)
        e = os.memfd_create('e', os.MFD_CLOEXEC)
        fds += [i, o, e]
        os.write(i, stdin)
        os.lseek(i, 0, os.SEEK_SET)
        channels = [mf.Channel('/dev/stdin', mf.READ, i),
                    mf.Channel('/dev/stdout', mf.WRITE, o),
                    mf.Channel('/dev/stderr', mf.WRITE, e),
                    mf.Channel('/dev/python', mf.READ, tar, image=idx)]
        result = launcher.run('/proc/self/fd/%d' % prog, ['python'] + args,
                              None, channels, seed,
                              mf.Limits(memory=256 << 20, timeout=60))
        out = []
        for fd in (o, e):
            os.lseek(fd, 0, os.SEEK_SET)
            out.append(os.read(fd, 1 << 20).decode())
        return result, out[0], out[1]
    finally:
        for fd in fds:
            os.close(fd)


def test_the_image_holds_the_interpreter_and_the_standard_library(
        python_image):
    with tarfile.open(python_image) as tar:
        names = tar.getnames()
        python = tar.getmember('bin/python')
    assert python.mode == 0o755 and python.size > 1 << 20
    lib = [n for n in names if n.startswith('lib/python3.')]
    assert any(n.endswith('/os.py') for n in lib)
    assert any(n.endswith('/lib-dynload') for n in lib)
    assert not any('/test/' in n or n.endswith('.so') for n in names)
    assert names == sorted(names)


def test_the_standard_library_comes_compiled_unchecked(python_image):
    with tarfile.open(python_image) as tar:
        names = set(tar.getnames())
        pyc = [n for n in names if n.endswith('.pyc')]
        header = tar.extractfile(next(
            n for n in pyc if n.endswith('/__pycache__/os.cpython-%d%d.pyc'
                                         % sys.version_info[:2]))).read(16)
    assert len(pyc) > 300
    # PEP 552 flags: hash-based (bit 0), not checked against the source
    # (bit 1 clear): the image never changes under a job.
    assert int.from_bytes(header[4:8], 'little') == 1
    assert all(n.replace('/__pycache__', '').rsplit('.', 2)[0] + '.py'
               in names for n in pyc)


def test_another_python_s_library_is_compiled_by_the_image_s_own(
        python_image, tmp_path):
    root = tmp_path / 'root'
    with tarfile.open(python_image) as tar:
        tar.extractall(root, filter='tar')
    extra = tmp_path / 'extra'
    extra.mkdir()
    (extra / 'mod.py').write_text('X = 42\n')
    images._compile(str(extra), '/lib/extra', '0.0',
                    str(root / 'bin' / 'python'), str(root))
    pyc, = (extra / '__pycache__').iterdir()
    assert pyc.name.startswith('mod.cpython-')
    assert int.from_bytes(pyc.read_bytes()[4:8], 'little') == 1


def test_the_interpreter_passes_the_validator(python_image, tmp_path):
    with tarfile.open(python_image) as tar:
        tar.extract('bin/python', tmp_path)
    result = validator.validate(str(tmp_path / 'bin' / 'python'))
    assert result.format == 'static'


def test_python_runs_in_the_sandbox(python_image):
    result, out, err = run_python(python_image, ['-c', '''
import sys, collections, json, re, decimal, fractions, statistics
words = re.findall(r"[a-z]+", sys.stdin.read())
print(json.dumps(collections.Counter(words).most_common(2)))
print(decimal.Decimal(1) / 7, fractions.Fraction(1, 3) + 1,
      statistics.mean([1, 2, 4]))
print(sorted(__import__("os").listdir("/dev")))
'''], stdin=b'the cat and the hat and the bat')
    assert result.reason is Reason.OK, err
    assert err == ''
    assert out.splitlines() == [
        '[["the", 3], ["and", 2]]',
        '0.1428571428571428571428571429 4/3 2.3333333333333335',
        "['in', 'out', 'python', 'stderr', 'stdin', 'stdout']"]


def test_python_is_deterministic(python_image):
    code = ['-c', 'import random, time, uuid, os; '
            'print(random.random(), time.time(), uuid.uuid4(), '
            'hash("x"), os.urandom(4).hex(), {"b": 1, "a": 2})']
    first = run_python(python_image, code)
    again = run_python(python_image, code)
    other = run_python(python_image, code, seed=7)
    assert first[0].reason is Reason.OK, first[2]
    assert first[1] == again[1]
    assert first[1] != other[1]


def test_a_failing_script_exits_1_with_its_traceback(python_image):
    result, out, err = run_python(python_image, ['-c', '1/0'])
    assert (result.reason, result.exit_code) == (Reason.EXIT, 1)
    assert err.rstrip().endswith('ZeroDivisionError: division by zero')


def test_what_the_sandbox_does_not_offer_is_an_os_error(python_image):
    result, out, err = run_python(python_image, ['-c', '''
import socket, subprocess, os
for what, call in [("socket", lambda: socket.socket()),
                   ("fork", os.fork),
                   ("write", lambda: open("/lib/x.py", "w")),
                   ("host", lambda: open("/etc/passwd"))]:
    try:
        call()
        print(what, "ok")
    except OSError as exc:
        print(what, type(exc).__name__, exc.errno)
'''])
    assert result.reason is Reason.OK, err
    assert out.splitlines() == [
        'socket OSError 38', 'fork OSError 38',
        'write OSError 30', 'host FileNotFoundError 2']


def test_a_missing_library_is_named(tmp_path):
    with pytest.raises(images.ImageBuildError,
                       match='/nope.a not found: the static library'):
        images.build_python(str(tmp_path / 'x.tar'), libpython='/nope.a')
    assert not os.path.exists(tmp_path / 'x.tar')


def test_a_failed_link_shows_the_command(tmp_path):
    bad = tmp_path / 'libbad.a'
    bad.write_bytes(b'!<arch>\n')
    with pytest.raises(images.ImageBuildError, match='linking the static '
                       'interpreter failed'):
        images.build_python(str(tmp_path / 'x.tar'), libpython=str(bad))


def test_zerocloud_run_runs_a_python_script(python_image, tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    script = tmp_path / 'hello.py'
    script.write_bytes(b'#!/usr/bin/env python3\n'
                       b'import sys\nprint("hello", sys.argv[1:])\n')
    proc = subprocess.run(
        [sys.executable, '-m', 'zerocloud.cli', 'run', '--image',
         'python=%s' % python_image, str(script), 'a', 'b c'],
        capture_output=True, env=dict(os.environ, PYTHONPATH=root))
    assert (proc.returncode, proc.stderr) == (0, b'')
    assert proc.stdout == b"hello ['a', 'b c']\n"
