#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""A MapReduce word count as a job, against the same programs run natively.

    python3 bench/mapreduce.py [--objects 100] [--mb 100] [--reducers 3]
                               [--runs 3]

Generates --mb MB of text (seeded, the same every time) in --objects
objects, uploads them to the embedded cluster with examples/wc_map.c and
examples/wc_reduce.c compiled static (BENCH_CC, default gcc), and runs one
mapper per object connected to --reducers reducers.  The baseline runs the
same two binaries natively over the same files: every mapper writing one
file per reducer, then every reducer over its files, --parallel processes
at a time.  After one untimed run of each (the object servers then keep
the programs, as for any job run again), the two are timed in --runs
rounds, one of each per round (which goes first alternates), so that both
see the same machine: this VM's speed drifts by 20-40% within minutes.
Prints the median wall time of each, every round's ratio and their median
(target: at most 1.5x native), after checking that the job's result
objects equal the native reducers' outputs byte for byte.

Exit status 1 when the job fails (the answer's status and message are
printed) or its result differs from the native one.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import swiftclient  # noqa: E402

from zerocloud import client  # noqa: E402
from zerocloud.saio import Cluster  # noqa: E402

SEED = 20260501
BLOCK = 1 << 16


class Failed(Exception):
    pass


def make_blocks(seed, n=64):
    """n blocks of about BLOCK bytes of word-like text, Zipf-ish words."""
    rnd = random.Random(seed)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    vocab = [''.join(rnd.choice(letters) for _ in range(rnd.randint(1, 10)))
             for _ in range(20000)]
    vocab += ["don't", "it's", 'O\'Brien', '2026', 'x86']
    cum, total = [], 0.0
    for i in range(len(vocab)):
        total += 1.0 / (i + 1)
        cum.append(total)
    seps = [' '] * 8 + ['\n', ', ', '. ', ' -- ']
    blocks = []
    for _ in range(n):
        words = rnd.choices(vocab, cum_weights=cum, k=BLOCK // 6)
        text = ''.join(w + rnd.choice(seps) for w in words)
        blocks.append(text.encode()[:BLOCK] + b'\n')
    return blocks


def make_corpus(directory, objects, total_bytes, seed=SEED):
    """Write the objects as files; their paths in order."""
    rnd = random.Random(seed)
    blocks = make_blocks(seed)
    per = max(1, total_bytes // objects)
    paths = []
    for i in range(objects):
        path = os.path.join(directory, 'part%05d.txt' % i)
        size = 0
        with open(path, 'wb') as f:
            while size < per:
                b = rnd.choice(blocks)[:per - size]
                f.write(b)
                size += len(b)
        paths.append(path)
    return paths


def compile_programs(tmp):
    cc = os.environ.get('BENCH_CC', 'gcc')
    out = {}
    for name in ('wc_map', 'wc_reduce'):
        out[name] = os.path.join(tmp, name)
        subprocess.run([cc, '-static', '-O2', '-o', out[name],
                        os.path.join(ROOT, 'examples', name + '.c')],
                       check=True)
    return out


def _check(proc, what):
    if proc.returncode != 0:
        raise Failed('%s failed (status %d): %s' % (
            what, proc.returncode, proc.stderr.decode(errors='replace')))


def run_native(bins, paths, reducers, work, parallel):
    """Mappers then reducers natively; {reducer name: output bytes}.

    Mapper i writes into map-i/, whose entries reduce-j are links to
    reduce-j/map-i, so reducer j finds its inputs in reduce-j/ as it would
    find them in /dev/in.
    """
    shutil.rmtree(work, ignore_errors=True)
    names = ['reduce-%d' % j for j in range(1, reducers + 1)]
    for r in names:
        os.makedirs(os.path.join(work, r))

    def mapper(i):
        d = os.path.join(work, 'map-%d' % i)
        os.makedirs(d)
        for r in names:
            os.symlink(os.path.join('..', r, 'map-%d' % i),
                       os.path.join(d, r))
        with open(paths[i - 1], 'rb') as f:
            _check(subprocess.run([bins['wc_map'], d], stdin=f,
                                  capture_output=True), 'native map-%d' % i)

    def reducer(r):
        proc = subprocess.run([bins['wc_reduce'], os.path.join(work, r)],
                              stdin=subprocess.DEVNULL, capture_output=True)
        _check(proc, 'native ' + r)
        return proc.stdout

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(mapper, range(1, len(paths) + 1)))
        return dict(zip(names, pool.map(reducer, names)))


def job_description(reducers):
    return [
        {'name': 'map',
         'exec': {'path': 'swift://~/exec/wc_map'},
         'devices': [{'name': 'stdin', 'path': 'swift://~/corpus/*.txt'},
                     {'name': 'stderr'}],
         'connect': ['reduce']},
        {'name': 'reduce',
         'exec': {'path': 'swift://~/exec/wc_reduce'},
         'count': reducers,
         'devices': [{'name': 'stdout', 'path': 'swift://~/results/wc-*.txt',
                      'content_type': 'text/plain'},
                     {'name': 'stderr'}]}]


def _why(answer):
    report = answer.report()
    if report:
        text = report.get('message', '')
        if len(text) > 200:
            text = text[:200] + '...'
        bad = [n for n in report.get('nodes', []) if n.get('failure')]
        if bad:
            node = bad[0]
            text += '; first failed node %s: %s: %s' % (
                node.get('name'), node.get('failure'),
                node.get('error') or node.get('message') or '-')
        return text
    return answer.body[:500].decode(errors='replace').strip()


def submit(url, token, job, dry_run=False):
    answer = client.submit(url, token, job, json_report=True,
                           dry_run=dry_run)
    if answer.status == 200:
        return answer
    why = _why(answer)
    hint = ''
    if answer.status == 501 or 'answered 501' in why:
        hint = ('\n(501: the object servers do not run jobs with pipes '
                'yet; this benchmark needs the pipe runtime)')
    raise Failed('the %s answered %d %s: %s%s' % (
        'dry run' if dry_run else 'MapReduce job', answer.status,
        answer.reason, why, hint))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--objects', type=int, default=100)
    ap.add_argument('--mb', type=float, default=100,
                    help='total size of the text, in MB (default 100)')
    ap.add_argument('--reducers', type=int, default=3)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--parallel', type=int, default=os.cpu_count() or 1,
                    help='native processes at a time (default: the CPUs)')
    args = ap.parse_args()
    if args.objects < 1 or args.reducers < 1 or args.runs < 1:
        ap.error('--objects, --reducers and --runs must be at least 1')
    tmp = tempfile.mkdtemp(prefix='zc-bench-mr-')
    try:
        return bench(args, tmp)
    except Failed as e:
        print('bench/mapreduce.py: %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp)


def bench(args, tmp):
    t = time.perf_counter()
    corpus_dir = os.path.join(tmp, 'corpus')
    os.makedirs(corpus_dir)
    paths = make_corpus(corpus_dir, args.objects, int(args.mb * 1e6))
    total = sum(os.path.getsize(p) for p in paths)
    bins = compile_programs(tmp)
    print('corpus: %d objects, %.1f MB, made in %.1f s' % (
        len(paths), total / 1e6, time.perf_counter() - t))

    with Cluster() as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
        for c in ('corpus', 'exec', 'results'):
            conn.put_container(c)
        t = time.perf_counter()
        for p in paths:
            with open(p, 'rb') as f:
                conn.put_object('corpus', os.path.basename(p), f)
        for name, p in bins.items():
            with open(p, 'rb') as f:
                conn.put_object('exec', name, f)
        print('uploaded in %.1f s' % (time.perf_counter() - t))

        job = json.dumps(job_description(args.reducers))
        plan = json.loads(submit(url, token, job, dry_run=True).body)
        print('dry run: %d nodes planned' % len(plan.get('nodes', [])))
        expected = run_native(bins, paths, args.reducers,
                              os.path.join(tmp, 'native'), args.parallel)

        def native_run():
            if run_native(bins, paths, args.reducers,
                          os.path.join(tmp, 'native'),
                          args.parallel) != expected:
                raise Failed('two native runs gave different results')

        def job_run():
            for r in expected:
                try:
                    conn.delete_object('results', 'wc-%s.txt' % r)
                except swiftclient.ClientException:
                    pass
            submit(url, token, job)

        def check_job():
            for r, want in expected.items():
                _, got = conn.get_object('results', 'wc-%s.txt' % r)
                if got != want:
                    raise Failed('results/wc-%s.txt differs from the native '
                                 'reducer output (%d bytes, expected %d)'
                                 % (r, len(got), len(want)))

        job_run()   # warm: each object server keeps the programs
        check_job()
        native_times, job_times = [], []
        for i in range(args.runs):
            order = ((native_run, native_times), (job_run, job_times))
            for fn, times in order if i % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            check_job()
            print('round %d: native %.2f s, job %.2f s, %.2fx' % (
                i + 1, native_times[-1], job_times[-1],
                job_times[-1] / native_times[-1]), flush=True)
    native = statistics.median(native_times)
    job_secs = statistics.median(job_times)
    ratio = statistics.median(j / n for j, n in zip(job_times,
                                                    native_times))
    print()
    print('| measure | native | zerocloud | ratio |')
    print('|---|---|---|---|')
    print('| word count, %d objects, %.0f MB, %d reducers (medians of %d '
          'rounds) | %.2f | %.2f | %.2fx (target <= 1.5x) |'
          % (len(paths), total / 1e6, args.reducers, args.runs, native,
             job_secs, ratio))
    return 0


if __name__ == '__main__':
    sys.exit(main())
