# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Benchmark of the static validator: cold and cached validation time.

Compiles its programs with gcc into a temporary directory: a glibc static
hello, the same as static-pie, a musl static hello when musl-gcc exists,
and a ~1.5 MB static program (glibc with stdio, regex, locale, threads and
libm, plus generated code).  For each it prints the first validation in
this process, the median of uncached validations, and the median of cached
ones (in-process cache, same unchanged file: no rehash) and of cached ones
given the bytes (sha256 each time), as a reST table for
``doc/performance.rst``.

Usage: ``PYTHONPATH=. python3 bench/validate.py [--runs N]``.
Targets for the glibc hello: <= 20 ms cold, <= 1 ms cached.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from zerocloud.sandbox import validator

__all__ = ['main']

HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'

BIG = r'''
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
static void *worker(void *arg) { return arg; }
%(functions)s
typedef unsigned long (*fn)(unsigned long);
static const fn table[] = { %(table)s };
int main(int argc, char **argv) {
    regex_t re;
    pthread_t t;
    unsigned long acc = 0;
    regcomp(&re, argv[0], REG_EXTENDED);
    setlocale(LC_ALL, "");
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        acc += table[i](acc + (unsigned long)argc);
    printf("%%f %%s %%lu\n", sin(argc) + pow(argc, 2.5), strerror(argc), acc);
    wprintf(L"%%ls\n", L"done");
    return 0;
}
'''

FUNCTION = '''
unsigned long f%(n)d(unsigned long x) {
    for (int i = 0; i < %(n)d %% 7 + 3; i++)
        x = x * %(m)dUL + (x >> %(s)d) ^ (x << 3) ^ %(n)dUL;
    return x / (%(n)dUL | 1) + x %% 97;
}
'''


def _big_source(count):
    functions = ''.join(FUNCTION % {'n': n, 'm': 2 * n + 1, 's': n % 13 + 1}
                        for n in range(count))
    table = ', '.join('f%d' % n for n in range(count))
    return BIG % {'functions': functions, 'table': table}


def _compile(directory, name, source, flags, compiler='gcc'):
    src = os.path.join(directory, name + '.c')
    exe = os.path.join(directory, name)
    with open(src, 'w') as f:
        f.write(source)
    subprocess.run([compiler, '-O2', '-o', exe, src] + flags, check=True)
    return exe


def _programs(directory):
    programs = [
        ('glibc static hello',
         _compile(directory, 'hello', HELLO, ['-static'])),
        ('glibc static-pie hello',
         _compile(directory, 'hello-pie', HELLO, ['-static-pie'])),
    ]
    if shutil.which('musl-gcc'):
        programs.append(('musl static hello', _compile(
            directory, 'hello-musl', HELLO, ['-static'], 'musl-gcc')))
    programs.append(('~1.5 MB glibc static', _compile(
        directory, 'big', _big_source(2600), ['-static', '-lm',
                                              '-lpthread'])))
    return programs


def _time(fn, runs):
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=30)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix='zc-bench-') as directory:
        for label, path in _programs(directory):
            started = time.perf_counter()
            result = validator.validate(path)
            first = (time.perf_counter() - started) * 1000
            cold = _time(lambda: validator.validate(path), args.runs)
            cache = validator.ValidationCache()
            validator.validate(path, cache=cache)
            cached = _time(lambda: validator.validate(path, cache=cache),
                           args.runs * 10)
            with open(path, 'rb') as f:
                data = f.read()
            hashed = _time(lambda: validator.validate(data, cache=cache),
                           args.runs)
            rows.append((label, '%.2f MB' % (os.path.getsize(path) / 1e6),
                         '%d KB' % (result.exec_bytes // 1024),
                         str(result.candidates), str(len(result.hidden)),
                         '%.1f' % first, '%.1f' % cold, '%.3f' % cached,
                         '%.2f' % hashed))
    header = ('program', 'size', 'code', 'hits', 'hidden', 'first ms',
              'cold ms', 'cached ms', 'bytes ms')
    widths = [max(len(r[i]) for r in rows + [header])
              for i in range(len(header))]
    rule = ' '.join('=' * w for w in widths)
    print(rule)
    print(' '.join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print(rule)
    for row in rows:
        print(' '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(rule)
    return 0


if __name__ == '__main__':
    sys.exit(main())
