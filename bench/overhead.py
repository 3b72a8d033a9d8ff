#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Compute overhead of the sandbox: SHA-256 of a large stdin.

    python3 bench/overhead.py [--mb 256] [--rounds 5]

Runs examples/sha256sum.c (glibc static) natively and under zvm on the same
file, interleaved, and prints medians and the overhead.  Both read stdin
from the file; the sandboxed run also relays its (tiny) output.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from zerocloud.sandbox import launcher  # noqa: E402
from zerocloud.sandbox import manifest as mf  # noqa: E402


def _native(prog, data):
    with open(data, 'rb') as inp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run([prog], stdin=inp, check=True,
                             stdout=subprocess.PIPE).stdout
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime +
               after.ru_stime - before.ru_stime)
        return wall, cpu, out.split()[0]


def _boxed(prog, data):
    with open(data, 'rb') as inp:
        r, w = os.pipe()
        t = time.perf_counter()
        res = launcher.run(prog, ['sha256sum'], channels=[
            mf.Channel('/dev/stdin', mf.READ, inp.fileno()),
            mf.Channel('/dev/stdout', mf.WRITE, w)])
        secs = time.perf_counter() - t
        os.close(w)
        digest = os.read(r, 4096).split()[0]
        os.close(r)
    assert res.ok, res
    return secs, (res.cpu_user_ms + res.cpu_sys_ms) / 1000.0, digest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mb', type=int, default=256)
    ap.add_argument('--rounds', type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='zc-bench-')
    try:
        prog = os.path.join(tmp, 'sha256sum')
        subprocess.run(['gcc', '-static', '-O2', '-o', prog,
                        os.path.join(ROOT, 'examples', 'sha256sum.c')],
                       check=True)
        data = os.path.join(tmp, 'data')
        with open(data, 'wb') as f:
            block = os.urandom(1 << 20)
            for _ in range(args.mb):
                f.write(block)
        native, boxed, digests = [], [], set()
        runners = [('native', native, _native), ('zvm', boxed, _boxed)]
        for i in range(args.rounds):
            # Alternate the order so neither side always runs first.
            for _, samples, fn in runners[::1 if i % 2 else -1]:
                wall, cpu, digest = fn(prog, data)
                samples.append((wall, cpu))
                digests.add(digest)
        assert len(digests) == 1, digests
        med = statistics.median
        nw, bw = med(w for w, _ in native), med(w for w, _ in boxed)
        nc, bc = med(c for _, c in native), med(c for _, c in boxed)
        print('| SHA-256 of %d MB from stdin | median wall ms | '
              'median CPU ms |' % args.mb)
        print('|---|---|---|')
        print('| native | %.0f | %.0f |' % (nw * 1000, nc * 1000))
        print('| zvm | %.0f | %.0f |' % (bw * 1000, bc * 1000))
        print('| overhead | %+.1f%% | %+.1f%% |'
              % ((bw / nw - 1) * 100, (bc / nc - 1) * 100))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
