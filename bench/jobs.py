#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs against the embedded cluster, against plain Swift baselines.

    python3 bench/jobs.py [--objects 1000] [--runs 30]

1. Latency: a single-object job (examples/wordcount.c on one 10 KB object,
   the answer in the body) against a plain GET of the same object; medians.
   Target: at most 3x the GET.
2. Throughput: a per-object map over N small objects (one sandbox per
   object, outputs written back) against doing the same from a client with
   swiftclient: download each object, run the same program natively,
   upload the result.  Target: at least 2x the client's objects/s.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import swiftclient  # noqa: E402

from zerocloud import client  # noqa: E402
from zerocloud.saio import Cluster  # noqa: E402

WORDS = b'the quick brown fox jumps over the lazy dog and runs away\n'


def _timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def latency(url, token, runs):
    swiftclient.put_object(url, token, 'data', 'one.txt',
                           WORDS * (10240 // len(WORDS)))
    job = json.dumps([{'name': 'one',
                       'exec': {'path': 'swift://~/exec/wordcount'},
                       'devices': [{'name': 'stdin',
                                    'path': 'swift://~/data/one.txt'},
                                   {'name': 'stdout'}]}])
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)

    def get():
        conn.get_object('data', 'one.txt')

    def run():
        answer = client.submit(url, token, job)
        assert answer.status == 200, answer.body

    get(), run()    # warm up: the validator cache, connections
    return _timed(get, runs), _timed(run, runs)


def throughput(url, token, program, n, tmp):
    for i in range(n):
        swiftclient.put_object(url, token, 'many', 'o%05d.txt' % i,
                               WORDS * (1 + i % 7))
    job = json.dumps([{'name': 'map',
                       'exec': {'path': 'swift://~/exec/wordcount'},
                       'devices': [
                           {'name': 'stdin', 'path': 'swift://~/many/*.txt'},
                           {'name': 'stdout',
                            'path': 'swift://~/counts/*.count'}]}])
    t = time.perf_counter()
    answer = client.submit(url, token, job)
    job_secs = time.perf_counter() - t
    assert answer.status == 200, answer.body[:500]

    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
    t = time.perf_counter()
    for i in range(n):
        _, body = conn.get_object('many', 'o%05d.txt' % i)
        out = subprocess.run([program], input=body, check=True,
                             stdout=subprocess.PIPE).stdout
        conn.put_object('clientcounts', 'o%05d.count' % i, out)
    client_secs = time.perf_counter() - t
    return n / job_secs, n / client_secs


def _samples(tmp, overrides):
    """The shipped samples, with proxy filter options changed if asked."""
    if not overrides:
        return None
    etc = os.path.join(ROOT, 'etc')
    dest = os.path.join(tmp, 'etc')
    shutil.copytree(etc, dest)
    path = os.path.join(dest, 'proxy-server.conf-sample')
    with open(path) as f:
        text = f.read()
    section = '[filter:zerocloud_proxy]\n'
    text = text.replace(section, section + ''.join(
        o.replace('=', ' = ', 1) + '\n' for o in overrides), 1)
    with open(path, 'w') as f:
        f.write(text)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--objects', type=int, default=1000)
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--proxy-option', action='append', default=[],
                    metavar='NAME=VALUE',
                    help='override a [filter:zerocloud_proxy] option of the '
                         'sample for this run')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='zc-bench-')
    try:
        program = os.path.join(tmp, 'wordcount')
        subprocess.run([os.environ.get('BENCH_CC', 'gcc'), '-static', '-O2',
                        '-o', program,
                        os.path.join(ROOT, 'examples', 'wordcount.c')],
                       check=True)
        with Cluster(sample_dir=_samples(tmp, args.proxy_option)) as cluster:
            url, token = swiftclient.get_auth(cluster.auth_url,
                                              'test:tester', 'testing')
            for c in ('data', 'exec', 'many', 'counts', 'clientcounts'):
                swiftclient.put_container(url, token, c)
            with open(program, 'rb') as f:
                swiftclient.put_object(url, token, 'exec', 'wordcount', f)
            get, job = latency(url, token, args.runs)
            zc_rate, client_rate = throughput(url, token, program,
                                              args.objects, tmp)
        print('| measure | baseline | zerocloud | ratio |')
        print('|---|---|---|---|')
        print('| single-object job vs GET (median ms) | %.1f | %.1f | '
              '%.2fx |' % (get * 1000, job * 1000, job / get))
        print('| per-object map over %d objects (objects/s) vs client '
              'download-run-upload | %.0f | %.0f | %.2fx |'
              % (args.objects, client_rate, zc_rate, zc_rate / client_rate))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
