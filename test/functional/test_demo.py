# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""README's first command: 'zerocloud demo' runs the MapReduce word count and
shows the node table and the top words of the whole corpus."""
import collections
import json
import os
import re
import subprocess
import sys

import pytest

from zerocloud import demo
from zerocloud.exceptions import ZeroCloudError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _count(texts):
    """wc_map's words: runs of ASCII letters, digits and apostrophes,
    lower-cased."""
    counts = collections.Counter()
    for text in texts:
        counts.update(w.lower() for w in re.findall(r"[A-Za-z0-9']+", text))
    return counts


def test_demo_runs_the_mapreduce_and_prints_the_top_words(tmp_path):
    # From another directory: the example sources are found by the package.
    proc = subprocess.run([sys.executable, '-m', 'zerocloud.cli', 'demo'],
                          capture_output=True, text=True, timeout=300,
                          cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert '->  200 OK' in out

    rows = [line.split() for line in out.splitlines()
            if re.match(r'(map|reduce)-\d+ ', line)]
    mappers = [r for r in rows if r[0].startswith('map-')]
    reducers = [r for r in rows if r[0].startswith('reduce-')]
    assert len(mappers) == len(demo.CORPUS) >= 8
    assert [r[0] for r in reducers] == [
        'reduce-%d' % i for i in range(1, demo.REDUCERS + 1)]
    assert all(r[2:4] == ['0', 'ok'] for r in rows), rows
    assert 'where the nodes ran:' in out

    counts = _count(demo.CORPUS.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = out.split('top %d words' % demo.TOP)[1].split('\n\n')[0]
    shown = [line.split() for line in shown.splitlines()[1:]]
    assert [(w, int(n)) for n, w in shown] == ranked[:demo.TOP]
    assert ('%d objects, %d mappers, %d reducers, %d distinct words, '
            '%d words' % (len(demo.CORPUS), len(demo.CORPUS), demo.REDUCERS,
                          len(counts), sum(counts.values()))) in out
    # One output opened as a web page: its rows are words of the corpus
    # with their counts, most frequent first.
    opened = re.search(r'GET /open/AUTH_test/counts/reduce-1\.txt\?top=3  ->'
                       r'  200 OK  \(text/html; charset=utf-8, \d+ bytes\)\n'
                       r'  rows: (.*)\n', out)
    assert opened, out
    rows = [r.split() for r in opened.group(1).split(', ')]
    assert len(rows) == 3
    assert all(counts[w] == int(n) for w, n in rows)
    assert [int(n) for _, n in rows] == sorted(
        (int(n) for _, n in rows), reverse=True)
    assert 'its run directory is gone' in out


def test_merge_counts_refuses_a_word_in_two_reducers():
    merged = demo.merge_counts({'r1': 'the 3\na 1\n', 'r2': 'data 2\n'})
    assert merged == {'the': 3, 'a': 1, 'data': 2}
    with pytest.raises(ZeroCloudError, match='"the" is in both r1 and r2'):
        demo.merge_counts({'r1': 'the 3\n', 'r2': 'the 1\n'})
    with pytest.raises(ZeroCloudError, match='line 1'):
        demo.merge_counts({'r1': 'the three\n'})


def test_the_demo_s_page_template_is_the_documented_example():
    path = os.path.join(ROOT, 'examples', 'jobs', 'wordpage.json')
    with open(path) as f:
        assert json.load(f) == demo.PAGE_TEMPLATE
