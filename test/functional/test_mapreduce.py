# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""MapReduce and pipelines end to end with the shipped examples
(examples/wc_map.c, wc_reduce.c, grep.c, upper.c, sort.c) on the shared
cluster."""
import collections
import hashlib
import json
import os
import random
import re
import subprocess

import pytest
import swiftclient

from zerocloud import client

from .leaks import assert_nothing_left
from .workspace import workspace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
WORD = re.compile(rb"[A-Za-z0-9']+")
VOCABULARY = [w.encode() for w in (
    'object store ring proxy replica node sandbox channel pipe mapper '
    'reducer word count data heavy program moves the a of and to is it '
    "server's don't zero cloud swift job").split()]


def _corpus(objects=24, seed=6):
    rng = random.Random(seed)
    corpus = {}
    for i in range(objects):
        lines = []
        for _ in range(rng.randint(5, 40)):
            words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 12))]
            if rng.random() < 0.2:
                words[0] = words[0].upper()
            lines.append(b' '.join(words) + rng.choice([b'.', b',', b'']))
        corpus['t%02d.txt' % i] = b'\n'.join(lines) + b'\n'
    return corpus


CORPUS = _corpus()
LOG = b''.join(b'%s %d %s\n' % (level, i, msg) for i, (level, msg) in
               enumerate([(b'INFO', b'started'), (b'ERROR', b'disk full'),
                          (b'info', b'retrying'), (b'error', b'zebra down'),
                          (b'WARN', b'slow'), (b'Error', b'apple pie')] * 5))


def _python_count(corpus):
    counts = collections.Counter()
    for text in corpus.values():
        counts.update(w.lower() for w in WORD.findall(text))
    return counts


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    env = workspace(auth, programs, CORPUS,
                    ('wc_map', 'wc_reduce', 'grep', 'upper', 'sort'),
                    ('data', 'exec', 'out', 'logs'))
    swiftclient.put_object(env['url'], env['token'], env['logs'],
                           'log.txt', LOG)
    return env


def _wordcount(env, reducers, prefix):
    return [
        {'name': 'map',
         'exec': {'path': 'swift://~/%s/wc_map' % env['exec']},
         'devices': [{'name': 'stdin',
                      'path': 'swift://~/%s/*.txt' % env['data']},
                     {'name': 'stderr'}],
         'connect': ['reduce']},
        {'name': 'reduce',
         'exec': {'path': 'swift://~/%s/wc_reduce' % env['exec']},
         'count': reducers,
         'devices': [{'name': 'stdout',
                      'path': 'swift://~/%s/%s*.txt' % (env['out'], prefix),
                      'content_type': 'text/plain'},
                     {'name': 'stderr'}]}]


def _get(env, container, name):
    return swiftclient.get_object(env['url'], env['token'], container,
                                  name)[1]


@pytest.mark.parametrize('reducers', [1, 2, 3])
def test_wordcount_matches_a_plain_python_count(env, cluster, reducers):
    prefix = 'wc%d-' % reducers
    answer = client.submit(env['url'], env['token'],
                           json.dumps(_wordcount(env, reducers, prefix)),
                           json_report=True)
    assert answer.status == 200, answer.body
    report = answer.report()
    assert len(report['nodes']) == len(CORPUS) + reducers
    merged = collections.Counter()
    seen = set()
    # A group of one node is named after the group alone.
    names = ['reduce'] if reducers == 1 else [
        'reduce-%d' % i for i in range(1, reducers + 1)]
    for name in names:
        body = _get(env, env['out'], '%s%s.txt' % (prefix, name))
        pairs = [line.rsplit(b' ', 1) for line in body.splitlines()]
        words = [w for w, _ in pairs]
        # Sorted by count then word, and no word in two reducers.
        assert pairs == sorted(pairs, key=lambda p: (-int(p[1]), p[0]))
        assert not seen & set(words)
        seen |= set(words)
        merged.update({w: int(n) for w, n in pairs})
    assert merged == _python_count(CORPUS)
    assert_nothing_left(cluster)


def test_wordcount_is_byte_identical_run_after_run(env):
    digests = set()
    for run in range(3):
        prefix = 'det%d-' % run
        answer = client.submit(env['url'], env['token'],
                               json.dumps(_wordcount(env, 3, prefix)),
                               json_report=True)
        assert answer.status == 200, answer.body
        report = answer.report()
        # Every channel's digest and size, per node: the same each run.
        digests.add(json.dumps([
            [n['name'], [(c['alias'], c.get('sha256'), c.get('bytes_read'),
                          c.get('bytes_written')) for c in n['channels']]]
            for n in report['nodes']]))
        bodies = tuple(_get(env, env['out'], '%sreduce-%d.txt' % (prefix, i))
                       for i in (1, 2, 3))
        if run == 0:
            first = bodies
        assert bodies == first
    assert len(digests) == 1


def test_mappers_and_reducers_run_on_different_servers(env):
    answer = client.submit(env['url'], env['token'],
                           json.dumps(_wordcount(env, 3, 'where-')),
                           json_report=True)
    assert answer.status == 200, answer.body
    where = {n['name']: n['server'] for n in answer.report()['nodes']}
    maps = [n for n in where if n.startswith('map-')]
    reduces = [n for n in where if n.startswith('reduce-')]
    pairs = [(where[m] == where[r]) for m in maps for r in reduces]
    # Every mapper writes to every reducer: some of those pipes crossed
    # object servers (TCP), some stayed on one (a Unix socket).
    assert False in pairs and True in pairs, where
    assert len(set(where.values())) == 3, where


def test_a_new_program_reaches_each_server_once_for_a_gang(env, cluster,
                                                           tmp_path):
    """Programs no server keeps yet (fresh builds, a unique build id): all
    the gang's nodes are sent at once and refused (428), yet each server
    is sent each program once -- by the first node refused there; the
    others wait for its check-in -- not once per node."""
    tag = os.urandom(8).hex()
    digests = {}
    for prog in ('wc_map', 'wc_reduce'):
        out = str(tmp_path / prog)
        subprocess.run(['gcc', '-static', '-O2', '-Wl,--build-id=0x' + tag,
                        '-o', out,
                        os.path.join(ROOT, 'examples', prog + '.c')],
                       check=True)
        with open(out, 'rb') as f:
            body = f.read()
        digests[prog] = hashlib.sha256(body).hexdigest()
        swiftclient.put_object(env['url'], env['token'], env['exec'],
                               '%s-%s' % (prog, tag), body)
    text = json.dumps(_wordcount(env, 3, 'cold-'))
    for prog in digests:
        text = text.replace('/%s"' % prog, '/%s-%s"' % (prog, tag))
    answer = client.submit(env['url'], env['token'], text,
                           json_report=True)
    assert answer.status == 200, answer.body
    ran_on = collections.defaultdict(set)
    for node in answer.report()['nodes']:
        prog = 'wc_map' if node['name'].startswith('map-') else 'wc_reduce'
        ran_on[prog].add(node['server'].rsplit('/', 1)[0].rsplit(':', 1)[1])
    assert len(ran_on['wc_map']) == 3 and ran_on['wc_reduce'], ran_on
    for server in cluster.object_servers:
        with open(os.path.join(cluster.log_dir, server.name + '.log'),
                  errors='replace') as f:
            log = f.read()
        for prog, digest in digests.items():
            expected = 1 if str(server.port) in ran_on[prog] else 0
            assert log.count('brought program %s' % digest) == expected, (
                server.name, prog, ran_on)


def test_three_stage_pipeline_equals_a_local_unix_pipeline(env, cluster):
    with open(os.path.join(ROOT, 'examples', 'jobs', 'pipeline3.json')) as f:
        job = json.load(f)
    text = json.dumps(job).replace('~/data/log.txt', '~/%s/log.txt'
                                   % env['logs'])
    for prog in ('grep', 'upper', 'sort'):
        text = text.replace('~/exec/%s"' % prog, '~/%s/%s"'
                            % (env['exec'], prog))
    text = text.replace('~/out/sorted.txt', '~/%s/sorted.txt' % env['out'])
    answer = client.submit(env['url'], env['token'], text, json_report=True)
    assert answer.status == 200, answer.body
    got = _get(env, env['out'], 'sorted.txt')
    b = env['built']
    native = subprocess.run(
        '%s -i error | %s | %s' % (b['grep'], b['upper'], b['sort']),
        shell=True, input=LOG, stdout=subprocess.PIPE, check=True).stdout
    assert got == native
    assert got == b''.join(sorted(
        line.upper() + b'\n' for line in LOG.splitlines()
        if b'error' in line.lower()))
    assert_nothing_left(cluster)


@pytest.mark.parametrize('name', ['sort.json', 'sort_zerocloud.json'])
def test_the_sort_examples_run_as_written(env, name):
    # Their sort gets its input size (ZeroCloud's example did); the
    # program once refused any argument, so the documented job failed.
    inputs = {'binary1.data': b'kiwi\nfig\n', 'binary2.data': b'b\na\n',
              'binary_log_345.data': b'2\n10\n1\n'}
    for obj, body in inputs.items():
        swiftclient.put_object(env['url'], env['token'], env['logs'], obj,
                               body)
    with open(os.path.join(ROOT, 'examples', 'jobs', name)) as f:
        text = f.read()
    for account in ('~', '.'):      # ZeroCloud's spelling is swift://./
        text = text.replace('%s/data/' % account, '~/%s/' % env['logs'])
        text = text.replace('%s/exec/' % account, '~/%s/' % env['exec'])
    answer = client.submit(env['url'], env['token'], text, json_report=True)
    assert answer.status == 200, answer.body
    for obj, body in inputs.items():
        sorted_name = obj.replace('binary', 'sorted')
        assert _get(env, env['logs'], sorted_name) == b''.join(
            sorted(line + b'\n' for line in body.splitlines()))
