#!/usr/bin/env python3
# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Start-up cost of the sandbox: create -> run -> exit of a static hello.

Prints medians in microseconds and ratios to bare fork+exec of the same
binary, all spawned by one C harness (bench/spawn.c) in interleaved rounds:

    python3 bench/startup.py [--runs 300]

Variants: bare fork+exec; zvm (manifest ready in a memfd, as the object
server will hand it over); bubblewrap --unshare-all when bwrap is installed.
Guests: glibc static, and musl static when musl-gcc is installed.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from zerocloud.sandbox import launcher  # noqa: E402
from zerocloud.sandbox import manifest as mf  # noqa: E402


def build(tmp):
    harness = os.path.join(tmp, 'spawn')
    subprocess.run(['gcc', '-O2', '-o', harness,
                    os.path.join(HERE, 'spawn.c')], check=True)
    hello = os.path.join(ROOT, 'examples', 'hello.c')
    guests = {}
    for name, cmd in [('glibc', ['gcc', '-static']),
                      ('musl', ['musl-gcc', '-static'])]:
        if shutil.which(cmd[0]):
            out = os.path.join(tmp, 'hello-' + name)
            subprocess.run(cmd + ['-O2', '-o', out, hello], check=True)
            guests[name] = out
    return harness, guests


def zvm_variant(program):
    """(argv, rewind fd, fds to pass) for running program under zvm."""
    prog = os.open(program, os.O_RDONLY)
    null = os.open('/dev/null', os.O_WRONLY)
    mfd = os.memfd_create('manifest')
    text = mf.build(prog, null, ['hello'],
                    channels=[mf.Channel('/dev/stdout', mf.WRITE, null)])
    os.write(mfd, text)
    return [launcher.find_zvm(), str(mfd)], mfd, [prog, null, mfd]


def measure(harness, argv, runs, rewind=None, fds=()):
    cmd = [harness, str(runs)]
    if rewind is not None:
        cmd += ['--rewind', str(rewind)]
    out = subprocess.run(cmd + ['--'] + argv, check=True, pass_fds=fds,
                         stdout=subprocess.PIPE).stdout
    return [int(x) for x in out.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='zc-bench-')
    try:
        harness, guests = build(tmp)
        bwrap = shutil.which('bwrap')
        rows = []
        for name, prog in guests.items():
            variants = {'bare fork+exec': ([prog], None, ())}
            variants['zvm'] = zvm_variant(prog)
            if bwrap:
                variants['bwrap --unshare-all'] = (
                    [bwrap, '--unshare-all', '--ro-bind', prog, '/hello',
                     '/hello'], None, ())
            samples = {k: [] for k in variants}
            per = max(1, args.runs // args.rounds)
            for _ in range(args.rounds):
                for k, (argv, rewind, fds) in variants.items():
                    samples[k] += measure(harness, argv, per, rewind, fds)
            base = statistics.median(samples['bare fork+exec'])
            for k, s in samples.items():
                med = statistics.median(s)
                rows.append((name, k, med, med / base))
        print('| guest | variant | median us | ratio to bare |')
        print('|---|---|---|---|')
        for name, k, med, ratio in rows:
            print('| %s hello | %s | %.0f | %.2fx |' % (name, k, med, ratio))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
