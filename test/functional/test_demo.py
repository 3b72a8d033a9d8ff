# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""README's first command: 'zerocloud demo' runs the job and shows results."""
import os
import subprocess
import sys

from zerocloud import demo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _expected_top(text, n=5):
    import collections
    import re
    counts = collections.Counter(re.findall(r"[a-z0-9']+", text.lower()))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ''.join('%d %s\n' % (c, w) for w, c in ranked)


def test_demo_prints_the_node_table_and_every_count():
    proc = subprocess.run([sys.executable, '-m', 'zerocloud.cli', 'demo'],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert '->  200 OK' in out
    assert out.count(' ok ') == len(demo.CORPUS)   # one row per node
    for name, text in demo.CORPUS.items():
        obj = name[:-4] + '.count'
        section = out.split('counts/%s:\n' % obj)[1]
        assert section.startswith(_expected_top(text)), obj
    assert 'its run directory is gone' in out
