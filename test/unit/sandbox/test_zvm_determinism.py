# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Same program, arguments, inputs and seed: the same bytes, every time.

Runs go through ``zerocloud run`` in a subprocess, each from another cwd,
with another host environment, and with stdout on a file, a pipe or a pty;
stdin comes from a file or from a pipe fed in uneven, delayed chunks.
"""
import json
import os
import pty
import subprocess
import sys
import threading
import time
import tty

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
INPUT = b''.join(b'line %d of the input\n' % i for i in range(3000))


def _cmd(program, report, seed):
    return [sys.executable, '-m', 'zerocloud.cli', 'run', '--no-validate',
            '--seed', str(seed), '--env', 'LANG=C', '--report', report,
            program, 'a', 'b c']


def _env(i):
    env = dict(os.environ, PYTHONPATH=ROOT, ZC_NOISE='x' * i,
               TZ='Asia/Tokyo' if i % 2 else 'UTC')
    return env


def _feed_slowly(fd, data):
    """Write in uneven chunks with pauses, so short reads would happen."""
    i, k = 0, 1
    while i < len(data):
        step = 1 + (k * 7919) % 5000
        os.write(fd, data[i:i + step])
        i += step
        k += 1
        if k % 5 == 0:
            time.sleep(0.002)
    os.close(fd)


def _run(program, tmp_path, i, seed=7):
    """One run, varied by i; returns (stdout bytes, report dict)."""
    cwd = tmp_path / ('cwd%d' % i)
    cwd.mkdir()
    report = str(cwd / 'report.json')
    kind = ('file', 'pipe', 'pty')[i % 3]
    stdin_pipe = i % 2 == 1
    if stdin_pipe:
        r, w = os.pipe()
        stdin = r
        feeder = threading.Thread(target=_feed_slowly, args=(w, INPUT))
    else:
        (cwd / 'in').write_bytes(INPUT)
        stdin = os.open(str(cwd / 'in'), os.O_RDONLY)
        feeder = None
    try:
        if kind == 'file':
            with open(cwd / 'out', 'wb') as out:
                proc = subprocess.Popen(_cmd(program, report, seed),
                                        stdin=stdin, stdout=out, cwd=cwd,
                                        env=_env(i))
                _start(feeder)
                assert proc.wait(60) == 0
            data = (cwd / 'out').read_bytes()
        elif kind == 'pipe':
            proc = subprocess.Popen(_cmd(program, report, seed), stdin=stdin,
                                    stdout=subprocess.PIPE, cwd=cwd,
                                    env=_env(i))
            _start(feeder)
            data = proc.communicate(timeout=60)[0]
            assert proc.returncode == 0
        else:
            master, slave = pty.openpty()
            tty.setraw(slave)
            proc = subprocess.Popen(_cmd(program, report, seed), stdin=stdin,
                                    stdout=slave, cwd=cwd, env=_env(i))
            os.close(slave)
            _start(feeder)
            chunks = []
            while True:
                try:
                    b = os.read(master, 65536)
                except OSError:     # EIO: the slave side is closed
                    break
                if not b:
                    break
                chunks.append(b)
            os.close(master)
            assert proc.wait(60) == 0
            data = b''.join(chunks)
    finally:
        os.close(stdin)
        if feeder:
            feeder.join()
    with open(report) as f:
        rep = json.load(f)
    for k in ('cpu_user_ms', 'cpu_sys_ms', 'wall_ms', 'max_rss_kb'):
        rep.pop(k)
    return data, rep


def _start(feeder):
    if feeder:
        feeder.start()


@pytest.mark.parametrize('flavor', ['glibc', 'musl'])
def test_twenty_runs_are_identical(programs, tmp_path, flavor):
    program = programs.build('determinism', flavor)
    first_out, first_rep = _run(program, tmp_path, 0)
    assert b'total %d' % len(INPUT) in first_out
    assert first_rep['reason'] == 'ok'
    for i in range(1, 20):
        out, rep = _run(program, tmp_path, i)
        assert out == first_out, 'run %d differs' % i
        assert rep == first_rep, 'run %d report differs' % i


def test_another_seed_changes_only_randomness(programs, tmp_path):
    program = programs.build('determinism')
    a, _ = _run(program, tmp_path, 0, seed=7)
    b, _ = _run(program, tmp_path, 3, seed=8)
    la, lb = a.splitlines(), b.splitlines()
    differ = {x.split()[0] for x, y in zip(la, lb) if x != y}
    assert differ == {b'getrandom', b'at_random', b'rand'}
