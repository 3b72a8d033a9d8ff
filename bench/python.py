#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Python from the python system image in the sandbox, against the same
static interpreter run natively over the same files extracted to a
directory (PYTHONHOME), in interleaved rounds:

    python3 bench/python.py [--runs 20] [--mb 8] [--image python.tar]

Scripts: ``-c pass`` (start-up: the interpreter imports ~30 modules from
the image), ``import json, re, collections, decimal...`` (a heavier
import), and a word count of MB megabytes of text on stdin (compute, with
few system calls).  Prints median wall milliseconds and the ratio; the
sandbox's own cost is the image file system (each open, stat, read and
readdir traps into the shim) plus the launcher's start.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from zerocloud import images  # noqa: E402
from zerocloud.sandbox import image  # noqa: E402
from zerocloud.sandbox import launcher  # noqa: E402
from zerocloud.sandbox import manifest as mf  # noqa: E402

IMPORTS = ('import json, re, collections, decimal, fractions, datetime, '
           'textwrap')
WORDCOUNT = ('import sys, collections\n'
             'c = collections.Counter(sys.stdin.read().split())\n'
             'print(len(c), c.most_common(1))')
SCRIPTS = [
    ('start-up: -c pass', ['-c', 'pass'], False),
    ('import json re collections decimal', ['-c', IMPORTS], False),
    ('word count of stdin', ['-c', WORDCOUNT], True),
]


def corpus(mb):
    words = ('the quick brown fox jumps over the lazy dog zerocloud swift '
             'object sandbox').split()
    out, i = [], 0
    size = 0
    while size < mb << 20:
        line = ' '.join(words[(i + k) % len(words)] for k in range(12))
        out.append(line)
        size += len(line) + 1
        i += 7
    return ('\n'.join(out) + '\n').encode()


def run_sandboxed(tar, idx, program, args, data):
    fds = []
    try:
        i = os.memfd_create('i')
        o = os.open('/dev/null', os.O_WRONLY)
        fds += [i, o]
        os.write(i, data)
        os.lseek(i, 0, os.SEEK_SET)
        chans = [mf.Channel('/dev/stdin', mf.READ, i),
                 mf.Channel('/dev/stdout', mf.WRITE, o),
                 mf.Channel('/dev/stderr', mf.WRITE, o),
                 mf.Channel('/dev/python', mf.READ, tar, image=idx)]
        t0 = time.perf_counter()
        res = launcher.run(program, ['python'] + args, None, chans,
                           limits=mf.Limits(memory=1 << 30, timeout=120))
        wall = time.perf_counter() - t0
        assert res.ok and res.exit_code == 0, res
        return wall
    finally:
        for fd in fds:
            os.close(fd)


def run_native(root, args, data):
    t0 = time.perf_counter()
    subprocess.run([os.path.join(root, 'bin', 'python')] + args, input=data,
                   stdout=subprocess.DEVNULL, check=True,
                   env={'PYTHONHOME': root,
                        # as in the image: no .pyc written or kept
                        'PYTHONDONTWRITEBYTECODE': '1'})
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--mb', type=int, default=8)
    ap.add_argument('--image', help='a python.tar (default: build one)')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = args.image or images.build_python(
            os.path.join(tmp, 'python.tar'))
        root = os.path.join(tmp, 'root')
        with tarfile.open(tar_path) as t:
            t.extractall(root, filter='tar')
        program = os.path.join(root, 'bin', 'python')
        idx = image.index_file(tar_path)
        tar = os.open(tar_path, os.O_RDONLY)
        text = corpus(args.mb)
        rows = []
        for label, script, with_data in SCRIPTS:
            data = text if with_data else b''
            native, boxed = [], []
            run_native(root, script, data)              # warm the caches
            run_sandboxed(tar, idx, program, script, data)
            for _ in range(args.runs):
                native.append(run_native(root, script, data))
                boxed.append(run_sandboxed(tar, idx, program, script, data))
            n, b = statistics.median(native), statistics.median(boxed)
            rows.append((label + (' (%d MB)' % args.mb if with_data
                                  else ''), n * 1000, b * 1000, b / n))
        os.close(tar)
    width = max(len(r[0]) for r in rows)
    print('%-*s  %10s  %10s  %6s' % (
        width, 'median wall ms', 'native', 'zvm+image', 'ratio'))
    for label, n, b, ratio in rows:
        print('%-*s  %10.1f  %10.1f  %5.2fx' % (width, label, n, b, ratio))


if __name__ == '__main__':
    main()
