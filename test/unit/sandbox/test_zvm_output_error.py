# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""An output that does not reach its destination ends the run with reason
``output-error``, and the report never counts bytes that were lost."""
import hashlib
import os
import subprocess
import sys
import threading

from zerocloud.executor.result import Reason
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
OUT = '/dev/out/o'


def zc(*args):
    p = subprocess.run([sys.executable, '-m', 'zerocloud.cli', 'run'] +
                       [str(a) for a in args], capture_output=True,
                       stdin=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    return p.returncode, p.stdout, p.stderr


def run_to_full(programs, sandbox, disposition, action):
    full = os.open('/dev/full', os.O_WRONLY | os.O_CLOEXEC)
    try:
        return sandbox.run(programs.build('outerr'), [disposition, action],
                           extra=[mf.Channel(OUT, mf.WRITE, full)])
    finally:
        os.close(full)


def test_small_write_to_a_full_disk(programs, sandbox):
    # The guest hands over all its bytes and exits 0 before the relay's
    # write fails: that used to be reason "ok".
    for disposition in ('dfl', 'ign'):
        result, _, _ = run_to_full(programs, sandbox, disposition, 'small')
        assert result.reason is Reason.OUTPUT_ERROR
        assert result.message == OUT + ': write failed: ENOSPC'
        assert result.exit_code == 0
        out = result.channel(OUT)
        assert out.bytes_written == 0
        assert out.sha256 == hashlib.sha256(b'').hexdigest()
        assert not result.ok


def test_sigpipe_default_kills_and_reason_is_output_error(programs,
                                                          sandbox):
    result, _, err = run_to_full(programs, sandbox, 'dfl', 'flood')
    assert result.reason is Reason.OUTPUT_ERROR
    assert result.signal == 13 and result.exit_code is None
    assert err == b''
    assert result.channel(OUT).bytes_written == 0


def test_sigpipe_ignored_returns_epipe(programs, sandbox):
    result, _, err = run_to_full(programs, sandbox, 'ign', 'flood')
    assert result.reason is Reason.OUTPUT_ERROR
    assert result.exit_code == 3 and result.signal == 0
    assert err.startswith(b'outerr: write ') and \
        err.endswith(b': Broken pipe\n')
    assert result.message == OUT + ': write failed: ENOSPC'


def test_sigpipe_back_to_default_kills_on_the_next_epipe_only(programs,
                                                              sandbox):
    result, _, err = run_to_full(programs, sandbox, 'ign', 'flood-dfl')
    assert err.endswith(b': Broken pipe\nstill here\n')
    assert result.signal == 13
    assert result.reason is Reason.OUTPUT_ERROR


def test_raise_sigpipe_follows_the_disposition(programs, sandbox):
    prog = programs.build('outerr')
    result, out, _ = sandbox.run(prog, ['ign', 'raise'])
    assert result.reason is Reason.OK and out == b'survived\n'
    result, out, _ = sandbox.run(prog, ['dfl', 'raise'])
    assert result.reason is Reason.SIGNAL and result.signal == 13
    assert out == b''


def test_partial_output_counts_only_what_the_reader_got(programs):
    # The reader takes the first 10000 bytes and goes away; only then does
    # the guest (told through stdin) write more, which cannot arrive.
    dest_r, dest_w = os.pipe()
    in_r, in_w = os.pipe()
    got = []

    def reader():
        data = b''
        while len(data) < 10000:
            chunk = os.read(dest_r, 10000 - len(data))
            if not chunk:
                break
            data += chunk
        got.append(data)
        os.close(dest_r)
        os.write(in_w, b'x')
        os.close(in_w)

    t = threading.Thread(target=reader)
    t.start()
    try:
        result = launcher.run(
            programs.build('outerr'), ['outerr', 'ign', 'sync'],
            channels=[mf.Channel('/dev/stdin', mf.READ, in_r),
                      mf.Channel(OUT, mf.WRITE, dest_w)],
            limits=mf.Limits(timeout=30))
    finally:
        os.close(in_r)
        os.close(dest_w)
        t.join()
    assert got == [b'a' * 10000]
    assert result.reason is Reason.OUTPUT_ERROR
    assert result.message == OUT + ': write failed: EPIPE'
    assert result.exit_code == 3
    out = result.channel(OUT)
    assert out.bytes_written == 10000
    assert out.sha256 == hashlib.sha256(got[0]).hexdigest()


def test_cli_exit_status_and_message(programs, tmp_path):
    report = tmp_path / 'report.json'
    status, _, err = zc('--no-validate', '--out', 'o=/dev/full',
                        '--report', report, programs.build('outerr'),
                        'dfl', 'small')
    assert status == 125
    assert err.endswith(b': output error: /dev/out/o: write failed: '
                        b'ENOSPC\n')
    assert b'"output-error"' in report.read_bytes()
