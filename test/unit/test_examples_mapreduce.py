# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The map-reduce and pipeline examples, natively and in the sandbox.

examples/wc_map.c and wc_reduce.c are checked against a word count done in
Python, natively (the mapper writes into a directory of files named like the
reducers) and in the sandbox, where the bytes must be identical to the
native run.  examples/grep.c, upper.c and sort.c are checked as a pipeline
of three sandboxes joined by FIFOs, against the same binaries in a native
Unix pipeline and against Python.

The sandbox runs use the ``zerocloud run`` verb: the pipeline and the error
cases as ``python3 -m zerocloud.cli run`` subprocesses, the ~90 map and
reduce runs through ``cli.main(['run', ...])`` in this process (the same
code without an interpreter start each, which keeps the file under 10 s).
"""
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

from zerocloud import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, 'examples')
PROGRAMS = ['wc_map', 'wc_reduce', 'grep', 'upper', 'sort']
CFLAGS = ['-static', '-O2', '-Wall', '-Wextra', '-Werror']
WORD = re.compile(rb"[A-Za-z0-9']+")
N_FILES = 25


# --- references in Python -------------------------------------------------

def words(data):
    """The examples' words: ASCII letters, digits, "'"; lower; 255 bytes."""
    return [m.group().lower()[:255] for m in WORD.finditer(data)]


def fnv1a(word):
    h = 0xcbf29ce484222325
    for b in word:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def expected_counts(corpus):
    counts = collections.Counter()
    for data in corpus:
        counts.update(words(data))
    return b''.join(b'%s %d\n' % (w, c) for w, c in
                    sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def lines_of(data):
    lines = data.split(b'\n')
    if lines[-1] == b'':
        lines.pop()
    return lines


# --- inputs ---------------------------------------------------------------

def make_corpus(seed=20260101):
    """N_FILES small texts with awkward cases: case, digits, apostrophes,
    non-ASCII bytes, tabs, CRLF, a 300-byte word, no final newline, empty."""
    rnd = random.Random(seed)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    vocab = [''.join(rnd.choice(letters) for _ in range(rnd.randint(1, 9)))
             for _ in range(400)]
    vocab += ["don't", "it's", "o'clock", "'quoted'", '2026', 'x86', 'A1b2']
    seps = [' ', ' ', ' ', '\n', ', ', '. ', '\t', '\r\n', '--', ' (', ') ']
    corpus = []
    for i in range(N_FILES):
        parts = []
        for _ in range(rnd.randint(50, 600)):
            w = rnd.choice(vocab[:40]) if rnd.random() < 0.5 \
                else rnd.choice(vocab)
            if rnd.random() < 0.1:
                w = w.capitalize()
            elif rnd.random() < 0.03:
                w = w.upper()
            parts.append(w.encode() + rnd.choice(seps).encode())
        if i == 3:
            parts.append(b'caf\xc3\xa9 na\xefve \x00nul ' + b'z' * 300 + b'\n')
        data = b''.join(parts)
        if i == 7:
            data = data.rstrip()            # no final newline, ends in a word
        if i == 11:
            data = b''
        corpus.append(data)
    return corpus


def make_log(seed=7):
    rnd = random.Random(seed)
    kinds = [b'INFO ok', b'error: disk full', b'Error reading', b'ERROR x',
             b'warning: errors ahead', b'erro r', b'', b'\xff\xfe error',
             b'connection refused', b'terror']
    lines = [b'%04d %s' % (rnd.randint(0, 9999), rnd.choice(kinds))
             for _ in range(400)]
    return b'\n'.join(lines) + b'\nlast Error without newline'


# --- fixtures -------------------------------------------------------------

@pytest.fixture(scope='module')
def bins(tmp_path_factory):
    if shutil.which('gcc') is None:
        pytest.skip('gcc is not installed')
    out = tmp_path_factory.mktemp('examples')
    paths = {}
    for name in PROGRAMS:
        paths[name] = str(out / name)
        subprocess.run(['gcc'] + CFLAGS + ['-o', paths[name],
                       os.path.join(EXAMPLES, name + '.c')], check=True)
    return paths


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp('corpus')
    data = make_corpus()
    paths = []
    for i, text in enumerate(data, 1):
        p = d / ('book%02d.txt' % i)
        p.write_bytes(text)
        paths.append(str(p))
    return data, paths


def native(argv, stdin_path=None, **kw):
    with open(stdin_path or os.devnull, 'rb') as f:
        return subprocess.run(argv, stdin=f, capture_output=True, **kw)


def zc_run(tmp, args):
    """`zerocloud run ARGS` in process: (status, stdout, stderr)."""
    out, err = os.path.join(tmp, 'zc.out'), os.path.join(tmp, 'zc.err')
    status = cli.main(['run', '--stdin', os.devnull, '--stdout', out,
                       '--stderr', err] + list(args))
    with open(out, 'rb') as f, open(err, 'rb') as g:
        return status, f.read(), g.read()


def zc_proc(args, **kw):
    """`python3 -m zerocloud.cli run ARGS` as a subprocess."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, '-m', 'zerocloud.cli', 'run'] +
                          list(args), env=env, capture_output=True, **kw)


def reducer_names(n):
    return ['reduce-%d' % j for j in range(1, n + 1)]


def mapper_names(n):
    return ['map-%d' % i for i in range(1, n + 1)]


# --- the build ------------------------------------------------------------

@pytest.mark.parametrize('cc', ['gcc', 'musl-gcc'])
def test_examples_compile_cleanly(tmp_path, cc):
    if shutil.which(cc) is None:
        pytest.skip('%s is not installed' % cc)
    for name in PROGRAMS:
        proc = subprocess.run(
            [cc, '-std=c99'] + CFLAGS + ['-c', '-o', str(tmp_path / 'x.o'),
                                         os.path.join(EXAMPLES, name + '.c')],
            capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_examples_are_shipped():
    with open(os.path.join(ROOT, 'MANIFEST.in')) as f:
        assert 'recursive-include examples *.c *.json' in f.read()


# --- (a) native map-reduce against Python ---------------------------------

def run_native(bins, paths, tmp, nred):
    """Mapper per file into map-i/reduce-j, then reducer j over map-*."""
    reducers = reducer_names(nred)
    mapped = {}
    for i, (name, src) in enumerate(zip(mapper_names(len(paths)), paths)):
        d = os.path.join(tmp, 'out-' + name)
        os.makedirs(d)
        for r in reducers:
            open(os.path.join(d, r), 'wb').close()
        proc = native([bins['wc_map'], d], src)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == b''
        for r in reducers:
            with open(os.path.join(d, r), 'rb') as f:
                mapped[name, r] = f.read()
    results = {}
    for r in reducers:
        d = os.path.join(tmp, 'in-' + r)
        os.makedirs(d)
        for name in mapper_names(len(paths)):
            with open(os.path.join(d, name), 'wb') as f:
                f.write(mapped[name, r])
        proc = native([bins['wc_reduce'], d])
        assert proc.returncode == 0, proc.stderr
        results[r] = proc.stdout
    return mapped, results


def merged(results):
    """The reducers' outputs as one sorted count (they share no word)."""
    lines = [ln.split(b' ') for r in results.values() for ln in lines_of(r)]
    assert len({w for w, _ in lines}) == len(lines)
    return b''.join(b'%s %s\n' % (w, c) for w, c in
                    sorted(lines, key=lambda wc: (-int(wc[1]), wc[0])))


@pytest.mark.parametrize('nred', [1, 2, 3])
def test_native_mapreduce_matches_python(bins, corpus, tmp_path, nred):
    data, paths = corpus
    mapped, results = run_native(bins, paths, str(tmp_path), nred)
    expected = expected_counts(data)
    assert len(lines_of(expected)) > 300
    assert merged(results) == expected
    # each word went to reducer FNV-1a % N, sorted, counted per file
    for (name, r), text in mapped.items():
        j = int(r.split('-')[1]) - 1
        ws = [ln.split(b' ')[0] for ln in lines_of(text)]
        assert ws == sorted(ws)
        assert all(fnv1a(w) % nred == j for w in ws)
        i = int(name.split('-')[1]) - 1
        counts = collections.Counter(words(data[i]))
        assert text == b''.join(b'%s %d\n' % (w, counts[w]) for w in ws)


def test_mapper_without_reducers_writes_stdout(bins, corpus, tmp_path):
    data, paths = corpus
    empty = tmp_path / 'none'
    empty.mkdir()
    for d in (str(empty), str(tmp_path / 'missing')):
        proc = native([bins['wc_map'], d], paths[0])
        assert proc.returncode == 0, proc.stderr
        counts = collections.Counter(words(data[0]))
        assert proc.stdout == b''.join(
            b'%s %d\n' % (w, counts[w]) for w in sorted(counts))


def test_reducer_top_and_stdin(bins, corpus, tmp_path):
    data, paths = corpus
    mapped = native([bins['wc_map'], str(tmp_path / 'missing')], paths[2])
    src = tmp_path / 'mapped'
    src.write_bytes(mapped.stdout)
    full = native([bins['wc_reduce']], str(src)).stdout
    assert full == expected_counts([data[2]])
    top = native([bins['wc_reduce'], '--top', '20'], str(src))
    assert top.returncode == 0
    assert top.stdout == b''.join(ln + b'\n' for ln in lines_of(full)[:20])


# --- (b) the same in the sandbox, byte for byte ---------------------------

@pytest.mark.parametrize('nred', [1, 2, 3])
def test_sandbox_mapreduce_is_byte_identical(bins, corpus, tmp_path, nred):
    data, paths = corpus
    tmp = str(tmp_path)
    mapped, results = run_native(bins, paths, os.path.join(tmp, 'n'), nred)
    reducers = reducer_names(nred)
    mappers = mapper_names(len(paths))
    for name, src in zip(mappers, paths):
        outs = []
        for r in reducers:
            outs += ['--out', '%s=%s' % (r, os.path.join(tmp, name + r))]
        status, out, err = zc_run(tmp, ['--input', src] + outs +
                                  [bins['wc_map']])
        assert (status, out, err) == (0, b'', b'')
        for r in reducers:
            with open(os.path.join(tmp, name + r), 'rb') as f:
                assert f.read() == mapped[name, r], (name, r)
    for r in reducers:
        ins = []
        for name in mappers:
            ins += ['--in', '%s=%s' % (name, os.path.join(tmp, name + r))]
        status, out, err = zc_run(tmp, ins + [bins['wc_reduce']])
        assert (status, err) == (0, b'')
        assert out == results[r]
    assert merged(results) == expected_counts(data)


def test_sandbox_reducer_as_a_subprocess(bins, corpus, tmp_path):
    """One reduce through the real command line, --top as in the job."""
    data, paths = corpus
    mapped, results = run_native(bins, paths[:4], str(tmp_path), 1)
    ins = []
    for name in mapper_names(4):
        p = tmp_path / name
        p.write_bytes(mapped[name, 'reduce-1'])
        ins += ['--in', '%s=%s' % (name, p)]
    proc = zc_proc(ins + [bins['wc_reduce'], '--top', '20'])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b''.join(
        ln + b'\n' for ln in lines_of(expected_counts(data[:4]))[:20])


# --- (c) grep | upper | sort ----------------------------------------------

@pytest.mark.parametrize('grep_args', [['-i', 'error'], ['-iv', 'Error']])
def test_pipeline_sandbox_native_python(bins, tmp_path, grep_args):
    log = tmp_path / 'log.txt'
    log.write_bytes(make_log())
    a, b, out = tmp_path / 'a', tmp_path / 'b', tmp_path / 'sorted.txt'
    os.mkfifo(a)
    os.mkfifo(b)
    stages = [zc_proc_start(['--stdin', str(log), '--stdout', str(a),
                             bins['grep']] + grep_args),
              zc_proc_start(['--stdin', str(a), '--stdout', str(b),
                             bins['upper']]),
              zc_proc_start(['--stdin', str(b), '--stdout', str(out),
                             bins['sort']])]
    for p in stages:
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    sandboxed = out.read_bytes()

    with open(log, 'rb') as f:
        g = subprocess.Popen([bins['grep']] + grep_args, stdin=f,
                             stdout=subprocess.PIPE)
    u = subprocess.Popen([bins['upper']], stdin=g.stdout,
                         stdout=subprocess.PIPE)
    g.stdout.close()
    s = subprocess.Popen([bins['sort']], stdin=u.stdout,
                         stdout=subprocess.PIPE)
    u.stdout.close()
    piped = s.communicate()[0]
    assert [g.wait(), u.wait(), s.returncode] == [0, 0, 0]

    icase = 'i' in ''.join(grep_args[:-1])
    invert = 'v' in ''.join(grep_args[:-1])
    pat = grep_args[-1].encode()
    kept = [ln for ln in lines_of(make_log())
            if ((pat.lower() in ln.lower()) if icase else (pat in ln))
            != invert]
    expected = b''.join(ln + b'\n' for ln in sorted(ln.upper() for ln in kept))
    assert len(kept) > 50
    assert sandboxed == piped == expected


def zc_proc_start(args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, '-m', 'zerocloud.cli', 'run'] +
                            list(args), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sort_matches_c_locale_sort(bins):
    data = b'b\na\n\xffz\nab\n\nA\na\x00b\nz'
    proc = subprocess.run([bins['sort']], input=data, capture_output=True)
    assert proc.stdout == b''.join(ln + b'\n' for ln in sorted(
        data.split(b'\n')))
    if shutil.which('sort'):
        ref = subprocess.run(['sort'], input=data, capture_output=True,
                             env={'LC_ALL': 'C'})
        assert proc.stdout == ref.stdout


# --- (d) bad input, failed writes -----------------------------------------

def test_reducer_rejects_malformed_lines(bins, tmp_path):
    good = tmp_path / 'good'
    good.write_bytes(b'apple 3\npear 1\n')
    for bad, why in [(b'apple 3\npear\n', b'not exactly one space'),
                     (b'apple 3\npear x1\n', b'not a positive number'),
                     (b'apple 3\npear 0\n', b'not a positive number'),
                     (b'apple 3\n 4\n', b'empty word'),
                     (b'apple 3\npear 1', b'no newline'),
                     (b'apple 3\na b 1\n', b'not exactly one space')]:
        p = tmp_path / 'bad'
        p.write_bytes(bad)
        args = ['--in', 'map-1=%s' % good, '--in', 'map-2=%s' % p,
                bins['wc_reduce']]
        status, out, err = zc_run(str(tmp_path), args)
        assert status == 1, bad
        assert err.startswith(b'wc_reduce: /dev/in/map-2: line 2: ')
        assert why in err
        assert out == b''
    proc = zc_proc(args)            # the last one through the command line
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, out, err)


def test_reducer_rejects_bad_arguments(bins):
    for args in (['--top'], ['--top', '0'], ['--top', 'x'], ['-x'],
                 ['a', 'b']):
        proc = native([bins['wc_reduce']] + args)
        assert proc.returncode == 2 and b'usage' in proc.stderr


def test_mapper_write_error_natively(bins, corpus, tmp_path):
    data, paths = corpus
    os.symlink('/dev/full', tmp_path / 'reduce-1')
    proc = native([bins['wc_map'], str(tmp_path)], paths[0])
    assert proc.returncode == 1
    assert b'wc_map: cannot write' in proc.stderr
    assert b'No space left on device' in proc.stderr


def test_mapper_write_error_in_sandbox(bins, tmp_path):
    # Enough distinct words to overflow the sandbox's relay: the write
    # fails while the mapper still writes.  The mapper ignores SIGPIPE, so
    # it sees EPIPE and reports it; the run's reason is the root cause.
    big = tmp_path / 'big.txt'
    big.write_bytes(b' '.join(b'w%06d' % i for i in range(50000)))
    report = tmp_path / 'report.json'
    proc = zc_proc(['--input', str(big), '--out', 'reduce-1=/dev/full',
                    '--report', str(report), bins['wc_map']])
    assert proc.returncode == 125
    assert b'wc_map: cannot write /dev/out/reduce-1: Broken pipe' \
        in proc.stderr
    assert proc.stderr.endswith(b': output error: /dev/out/reduce-1: '
                                b'write failed: ENOSPC\n')
    result = json.loads(report.read_text())
    assert result['reason'] == 'output-error'
    assert result['exit_code'] == 1


def test_mapper_small_write_error_in_sandbox(bins, corpus, tmp_path):
    # The mapper hands over all its bytes and exits 0 before the relay's
    # write to the full disk fails: the run must still fail, and the report
    # must not count the lost bytes.
    data, paths = corpus
    report = tmp_path / 'report.json'
    proc = zc_proc(['--input', paths[0], '--out', 'reduce-1=/dev/full',
                    '--report', str(report), bins['wc_map']])
    assert proc.returncode == 125
    assert proc.stderr.endswith(b': output error: /dev/out/reduce-1: '
                                b'write failed: ENOSPC\n')
    result = json.loads(report.read_text())
    assert result['reason'] == 'output-error'
    out = [c for c in result['channels']
           if c['path'] == '/dev/out/reduce-1'][0]
    assert out['bytes_written'] == 0
