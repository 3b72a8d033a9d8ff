#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs against the embedded cluster, against plain Swift baselines.

    python3 bench/jobs.py [--objects 1000] [--runs 30] [--rounds 3]

1. Latency: a single-object job (examples/wordcount.c on one 10 KB object,
   the answer in the body) against a plain GET of the same object, one of
   each in turn --runs times; medians.  Target: at most 3x the GET.
2. Throughput: a per-object map over N small objects (one sandbox per
   object, outputs written back) against doing the same from a client with
   swiftclient: download each object, run the same program natively,
   upload the result.  Target: at least 2x the client's objects/s.  The
   two are timed in --rounds rounds, one of each per round (which goes
   first alternates), so that both see the same machine: this VM's speed
   drifts by 20-40% within minutes.  The ratio is the median of the
   rounds' ratios.
3. The same single object opened (``GET /open/...``: its content type's
   job template in ``.zvm`` runs examples/wordcount.c on it), timed in
   turn with the two of (1).  No target: what a browser's request costs
   beside a job POSTed.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import swiftclient  # noqa: E402

from zerocloud import client  # noqa: E402
from zerocloud.saio import Cluster  # noqa: E402

WORDS = b'the quick brown fox jumps over the lazy dog and runs away\n'


def _timed_in_turn(fns, runs):
    """Run the functions one after the other, ``runs`` times; the median
    seconds of each."""
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, times):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def latency(url, token, runs):
    swiftclient.put_object(url, token, 'data', 'one.txt',
                           WORDS * (10240 // len(WORDS)),
                           content_type='text/x-words')
    swiftclient.put_container(url, token, '.zvm')
    swiftclient.put_object(url, token, '.zvm', 'text/x-words/config',
                           json.dumps([{
                               'name': 'one',
                               'exec': {'path': 'swift://~/exec/wordcount'},
                               'devices': [{'name': 'stdin', 'path':
                                            'swift://~{.object_path}'},
                                           {'name': 'stdout'}]}]))
    parts = urllib.parse.urlsplit(url)
    opened_path = parts.path.replace('/v1/', '/open/', 1) + '/data/one.txt'
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

    def opened():
        web = http.client.HTTPConnection(parts.netloc, timeout=60)
        try:
            web.request('GET', opened_path, headers={'X-Auth-Token': token})
            resp = web.getresponse()
            body = resp.read()
            assert resp.status == 200, body
        finally:
            web.close()

    get(), run(), opened()    # warm up: the validator cache, connections
    return _timed_in_turn([get, run, opened], runs)


def throughput(url, token, program, n, rounds):
    """(job objects/s, client objects/s, ratio) as medians over rounds."""
    for i in range(n):
        swiftclient.put_object(url, token, 'many', 'o%05d.txt' % i,
                               WORDS * (1 + i % 7))
    job = json.dumps([{'name': 'map',
                       'exec': {'path': 'swift://~/exec/wordcount'},
                       'devices': [
                           {'name': 'stdin', 'path': 'swift://~/many/*.txt'},
                           {'name': 'stdout',
                            'path': 'swift://~/counts/*.count'}]}])
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)

    def run_job():
        answer = client.submit(url, token, job)
        assert answer.status == 200, answer.body[:500]

    def run_client():
        for i in range(n):
            _, body = conn.get_object('many', 'o%05d.txt' % i)
            out = subprocess.run([program], input=body, check=True,
                                 stdout=subprocess.PIPE).stdout
            conn.put_object('clientcounts', 'o%05d.count' % i, out)

    job_rates, client_rates = [], []
    for r in range(rounds):
        order = ((run_job, job_rates), (run_client, client_rates))
        for fn, rates in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            fn()
            rates.append(n / (time.perf_counter() - t))
        print('round %d: job %.0f objects/s, client %.0f objects/s, %.2fx'
              % (r + 1, job_rates[-1], client_rates[-1],
                 job_rates[-1] / client_rates[-1]), flush=True)
    return (statistics.median(job_rates), statistics.median(client_rates),
            statistics.median(j / c for j, c in zip(job_rates,
                                                    client_rates)))


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
    ap.add_argument('--rounds', type=int, default=3,
                    help='rounds of the map and the client (default 3)')
    ap.add_argument('--proxy-option', action='append', default=[],
                    metavar='NAME=VALUE',
                    help='override a [filter:zerocloud_proxy] option of the '
                         'sample for this run')
    args = ap.parse_args()
    if args.objects < 1 or args.runs < 1 or args.rounds < 1:
        ap.error('--objects, --runs and --rounds must be at least 1')
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
            get, job, opened = latency(url, token, args.runs)
            zc_rate, client_rate, ratio = throughput(
                url, token, program, args.objects, args.rounds)
        print('| measure | baseline | zerocloud | ratio |')
        print('|---|---|---|---|')
        print('| single-object job vs GET (median ms) | %.1f | %.1f | '
              '%.2fx |' % (get * 1000, job * 1000, job / get))
        print('| single object opened (GET /open/, a template) vs GET '
              '(median ms) | %.1f | %.1f | %.2fx |'
              % (get * 1000, opened * 1000, opened / get))
        print('| per-object map over %d objects (objects/s, medians of '
              '%d rounds) vs client download-run-upload | %.0f | %.0f | '
              '%.2fx |' % (args.objects, args.rounds, client_rate, zc_rate,
                           ratio))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
