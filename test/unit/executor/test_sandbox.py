# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The real executor with real programs."""
import json
import os

from zerocloud.executor.base import NodeJob, parse_spec
from zerocloud.executor.sandbox import SandboxExecutor
from zerocloud.sandbox import manifest as mf


def spec(argv, channels):
    return parse_spec(json.dumps({
        'version': 1, 'node': 'n-1', 'argv': argv, 'channels': channels,
    }).encode())


def fd_count():
    return len(os.listdir('/proc/self/fd'))


def test_runs_a_program_with_input_fds_and_output_files(tmp_path, programs,
                                                        memfd):
    wc = programs.build('wordcount')
    text = b'b a b\n'
    s = spec(['wc'], [
        {'alias': '/dev/stdin', 'direction': 'r', 'kind': 'object',
         'local': True},
        {'alias': '/dev/stdout', 'direction': 'w', 'kind': 'response'},
        {'alias': '/dev/stderr', 'direction': 'w', 'kind': 'object',
         'limit': 10}])
    fds = fd_count()
    stdin = memfd(text)
    executor = SandboxExecutor()
    out = executor.run(NodeJob(s, wc, {0: stdin}, str(tmp_path),
                               mf.Limits(timeout=5)))
    assert out.result.ok
    assert sorted(out.outputs) == [1, 2]
    with open(out.outputs[1], 'rb') as f:
        assert f.read() == b'2 b\n1 a\n'
    assert os.path.dirname(out.outputs[1]) == str(tmp_path)
    assert fd_count() == fds + 1        # only the caller's own memfd


def test_limits_come_from_the_job(tmp_path, programs):
    s = spec(['limits', 'spin'], [])
    out = SandboxExecutor().run(NodeJob(
        s, programs.build('limits'), {}, str(tmp_path),
        mf.Limits(timeout=0.3)))
    assert out.result.reason.value == 'timeout'
    assert out.outputs == {}
