#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Server CPU per node, against server CPU per plain Swift request.

    python3 bench/servercpu.py [--requests 300] [--nodes 100] [--runs 3]

On the embedded cluster, reads the CPU time of the server processes
(``/proc/<pid>/stat``) around batches of requests and prints, per request
or per node, the milliseconds of CPU used by the process hosting the proxy
(with the account and container servers), by the three object servers
(their Python), and by their children (the sandboxes):

* a plain GET of a 1 KB object, and a plain PUT of a 200-byte object
  (swiftclient, 8 at a time): what Swift itself costs per request here;
* a backend HEAD of a missing object sent straight to an object server
  (a new connection each, as the proxy does): the least any request costs
  an object server, whatever it asks;
* a per-object map node (``examples/wordcount.c`` on a tiny object,
  answers in the response body, nothing written back);
* a connected node: a MapReduce word count over tiny objects
  (``examples/wc_map.c`` / ``wc_reduce.c``, one mapper per object, 3
  reducers, pipes between them), so that the programs do almost nothing
  and what is left is the cost of a node: request, rendezvous, pipes,
  launch, answer.

This is where the MapReduce and map benchmarks (bench/mapreduce.py,
bench/jobs.py) spend what is not the programs' own work.  Medians of
--runs batches.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import swiftclient  # noqa: E402

import mapreduce  # noqa: E402
from zerocloud import client  # noqa: E402
from zerocloud.saio import Cluster  # noqa: E402

_TICK = os.sysconf('SC_CLK_TCK')


def _cpu(pid):
    """(own CPU, reaped children's CPU) of a process, in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return ((int(fields[11]) + int(fields[12])) / _TICK,
            (int(fields[13]) + int(fields[14])) / _TICK)


class Meter:
    """CPU of the cluster's children around a batch of ``count`` things."""

    def __init__(self, cluster):
        self.core = cluster._core.proc.pid
        self.objects = [c.proc.pid for c in cluster._objects]

    def measure(self, batch, count):
        pids = [self.core] + self.objects
        before = [_cpu(p) for p in pids]
        batch()
        after = [_cpu(p) for p in pids]
        own = [a[0] - b[0] for a, b in zip(after, before)]
        kids = sum(a[1] - b[1] for a, b in zip(after, before))
        ms = 1000.0 / count
        return own[0] * ms, sum(own[1:]) * ms, kids * ms


def _parallel(fn, items, width=8):
    local = threading.local()

    def call(item):
        return fn(local, item)
    with concurrent.futures.ThreadPoolExecutor(width) as pool:
        list(pool.map(call, items))


def _conn(local, url, token):
    if not hasattr(local, 'conn'):
        local.conn = swiftclient.Connection(preauthurl=url,
                                            preauthtoken=token)
    return local.conn


def _median_rows(rows):
    return tuple(statistics.median(r[i] for r in rows) for i in range(3))


def bench(args, tmp):
    wordcount = os.path.join(tmp, 'wordcount')
    subprocess.run([os.environ.get('BENCH_CC', 'gcc'), '-static', '-O2',
                    '-o', wordcount,
                    os.path.join(ROOT, 'examples', 'wordcount.c')],
                   check=True)
    bins = mapreduce.compile_programs(tmp)
    corpus = os.path.join(tmp, 'corpus')
    os.makedirs(corpus)
    # ~200 bytes an object: the programs' own work is negligible.
    paths = mapreduce.make_corpus(corpus, args.nodes, 200 * args.nodes)
    results = {}
    with Cluster() as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
        for name in ('plain', 'put', 'exec', 'corpus', 'results'):
            conn.put_container(name)
        for i in range(args.requests):
            conn.put_object('plain', 'o%05d' % i, b'x' * 1024)
        for path in paths:
            with open(path, 'rb') as f:
                conn.put_object('corpus', os.path.basename(path), f)
        for name, path in [('wordcount', wordcount)] + sorted(bins.items()):
            with open(path, 'rb') as f:
                conn.put_object('exec', name, f)
        meter = Meter(cluster)

        def gets():
            _parallel(lambda local, i: _conn(local, url, token).get_object(
                'plain', 'o%05d' % i), range(args.requests))

        servers = cluster.object_servers

        def head(local, i):
            server = servers[i % len(servers)]
            conn = http.client.HTTPConnection(server.ip, server.port)
            try:
                conn.request('HEAD', '/%s/0/AUTH_test/plain/missing-%d'
                             % (server.device, i),
                             headers={'X-Backend-Storage-Policy-Index': '0'})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 404:
                    raise SystemExit('backend HEAD answered %d'
                                     % resp.status)
            finally:
                conn.close()

        def heads():
            _parallel(head, range(args.requests))

        def puts():
            _parallel(lambda local, i: _conn(local, url, token).put_object(
                'put', 'p%05d' % i, b'y' * 200), range(args.requests))

        map_job = json.dumps([{
            'name': 'count', 'exec': {'path': 'swift://~/exec/wordcount'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/corpus/*.txt'},
                        {'name': 'stdout'}]}])
        mr_job = json.dumps(mapreduce.job_description(3))

        def job(body):
            def run():
                answer = client.submit(url, token, body)
                if answer.status != 200:
                    raise SystemExit('job answered %d: %s' % (
                        answer.status, answer.body[:300]))
            return run

        for make in (job(map_job), job(mr_job)):
            make()      # warm: programs cached on every object server
        batches = [
            ('plain GET, 1 KB (per request)', gets, args.requests),
            ('plain PUT, 200 B (per request)', puts, args.requests),
            ('backend HEAD, missing object (per request)', heads,
             args.requests),
            ('map node, tiny input (per node)', job(map_job), args.nodes),
            ('connected node, MapReduce (per node)', job(mr_job),
             args.nodes + 3),
        ]
        for label, batch, count in batches:
            results[label] = _median_rows(
                [meter.measure(batch, count) for _ in range(args.runs)])

    get = sum(results['plain GET, 1 KB (per request)'][:2])
    print('| CPU ms per request or node | proxy+acct+cont | object servers '
          '| sandboxes | servers total | vs plain GET |')
    print('|---|---|---|---|---|---|')
    for label, (core, objects, kids) in results.items():
        print('| %s | %.2f | %.2f | %.2f | %.2f | %.2fx |' % (
            label, core, objects, kids, core + objects,
            (core + objects) / get))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--requests', type=int, default=300,
                    help='plain GETs and PUTs per batch (default 300)')
    ap.add_argument('--nodes', type=int, default=100,
                    help='objects, hence map nodes and mappers (default 100; '
                         "a MapReduce gang must fit in the object servers' "
                         'max_connected)')
    ap.add_argument('--runs', type=int, default=3)
    args = ap.parse_args()
    if min(args.requests, args.nodes, args.runs) < 1:
        ap.error('--requests, --nodes and --runs must be at least 1')
    tmp = tempfile.mkdtemp(prefix='zc-bench-cpu-')
    try:
        return bench(args, tmp)
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    sys.exit(main())
