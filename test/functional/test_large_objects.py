# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs over objects whose data files are not their bytes: static and
dynamic large objects (a manifest on the object servers, segments
elsewhere) and symlinks (an empty object naming another).  A node reads
what a ``GET`` of the object gives, never the manifest: the object
server refuses to read such an object in place (409) and the proxy sends
its bytes, read through its pipeline as the caller, so the segments'
and the target's ACLs apply.  A large object that cannot be read whole
fails its node (409) and nothing is written."""
import collections
import json
import re
import subprocess

import pytest
import swiftclient

from zerocloud import client

from .leaks import assert_spools_back, proxy_spools
from .workspace import workspace

WORD = re.compile(rb"[A-Za-z0-9']+")
SEG_A = b'segment one of the large object\n' * 300
SEG_B = b'and its second segment, shorter\n' * 40
PLAIN = b'a plain object read in place\n' * 20
TARGET = b'the target of the symlink\n' * 30


def _slo(url, token, container, name, segments):
    manifest = [{'path': '/%s/%s' % (container, s)} for s in segments]
    swiftclient.put_object(url, token, container, name,
                           json.dumps(manifest),
                           query_string='multipart-manifest=put')


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    found = workspace(auth, programs, {}, ('wordcount', 'wc_map',
                                           'wc_reduce'),
                      containers=('data', 'exec', 'out', 'seg', 'hidden'))
    url, token = found['url'], found['token']
    seg, data = found['seg'], found['data']
    swiftclient.put_object(url, token, seg, 'part-a', SEG_A)
    swiftclient.put_object(url, token, seg, 'part-b', SEG_B)
    swiftclient.put_object(url, token, data, 'plain.txt', PLAIN)
    swiftclient.put_object(url, token, data, 'target', TARGET)
    manifest = [{'path': '/%s/part-a' % seg}, {'path': '/%s/part-b' % seg}]
    swiftclient.put_object(url, token, data, 'slo.txt', json.dumps(manifest),
                           query_string='multipart-manifest=put')
    swiftclient.put_object(url, token, data, 'dlo.txt', b'', headers={
        'X-Object-Manifest': '%s/part-' % seg})
    swiftclient.put_object(url, token, data, 'link.txt', b'', headers={
        'X-Symlink-Target': '%s/target' % data})
    found['expected'] = {'plain.txt': PLAIN, 'slo.txt': SEG_A + SEG_B,
                         'dlo.txt': SEG_A + SEG_B, 'link.txt': TARGET}
    return found


def _post(env, job, json_report=True, token=None, url=None):
    return client.submit(url or env['url'], token or env['token'],
                         json.dumps(job), json_report=json_report)


def _count(env, path, out=None, account='~', exe=None):
    devices = [{'name': 'stdin', 'path': 'swift://%s/%s' % (account, path)},
               {'name': 'stdout'} if out is None else
               {'name': 'stdout', 'path': 'swift://~/%s' % out}]
    return [{'name': 'wc',
             'exec': {'path': exe or 'swift://%s/%s/wordcount'
                      % (account, env['exec'])},
             'devices': devices}]


def _native(env, data):
    return subprocess.run([env['built']['wordcount']], input=data,
                          capture_output=True, check=True).stdout


def _absent(env, container, name):
    with pytest.raises(swiftclient.ClientException) as caught:
        swiftclient.head_object(env['url'], env['token'], container, name)
    return caught.value.http_status == 404


@pytest.mark.parametrize('name', ['slo.txt', 'dlo.txt', 'link.txt'])
def test_a_node_reads_the_bytes_a_get_gives(env, name):
    before = proxy_spools()
    answer = _post(env, _count(env, '%s/%s' % (env['data'], name)),
                   json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == _native(env, env['expected'][name])
    report = _post(env, _count(env, '%s/%s' % (env['data'], name))).report()
    (stdin,) = [c for c in report['nodes'][0]['channels']
                if c['alias'] == '/dev/stdin']
    assert stdin['bytes_read'] == len(env['expected'][name])
    assert_spools_back(before)


def test_a_map_over_a_container_of_large_objects_and_symlinks(env):
    job = [{'name': 'wc',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [
                {'name': 'stdin', 'path': 'swift://~/%s/*.txt'
                 % env['data']},
                {'name': 'stdout', 'path': 'swift://~/%s/map-*.count'
                 % env['out']}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    assert len(answer.report()['nodes']) == 4
    for name, body in sorted(env['expected'].items()):
        got = swiftclient.get_object(
            env['url'], env['token'], env['out'],
            'map-%s.count' % name[:-len('.txt')])[1]
        assert got == _native(env, body), name


def test_a_program_that_is_a_symlink_runs(env):
    swiftclient.put_object(env['url'], env['token'], env['exec'], 'wc-link',
                           b'', headers={'X-Symlink-Target': '%s/wordcount'
                                         % env['exec']})
    answer = _post(env, _count(env, '%s/plain.txt' % env['data'],
                               exe='swift://~/%s/wc-link' % env['exec']),
                   json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == _native(env, PLAIN)


def test_mappers_over_large_objects_feed_their_reducers(env):
    # Connected nodes (one gang): the mapper of the SLO gets its bytes
    # before the gang starts.
    job = [{'name': 'map',
            'exec': {'path': 'swift://~/%s/wc_map' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']}],
            'connect': ['reduce']},
           {'name': 'reduce',
            'exec': {'path': 'swift://~/%s/wc_reduce' % env['exec']},
            'count': 2,
            'devices': [{'name': 'stdout', 'path': 'swift://~/%s/mr-*.txt'
                         % env['out']}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    counts = collections.Counter()
    for i in (1, 2):
        body = swiftclient.get_object(env['url'], env['token'], env['out'],
                                      'mr-reduce-%d.txt' % i)[1]
        counts.update({w: int(n) for w, n in
                       (line.rsplit(b' ', 1) for line in body.splitlines())})
    expected = collections.Counter()
    for body in env['expected'].values():
        expected.update(w.lower() for w in WORD.findall(body))
    assert counts == expected


def test_a_large_object_with_a_missing_segment_fails_and_writes_nothing(
        env):
    url, token = env['url'], env['token']
    swiftclient.put_object(url, token, env['seg'], 'gone-later', SEG_B)
    _slo(url, token, env['seg'], 'broken.txt', ['part-a', 'gone-later'])
    swiftclient.delete_object(url, token, env['seg'], 'gone-later')
    before = proxy_spools()
    job = _count(env, '%s/broken.txt' % env['seg'],
                 out='%s/broken.count' % env['out'])
    answer = _post(env, job)
    assert answer.status == 409, answer.body
    report = answer.report()
    assert report['message'] == 'object not readable whole: node "wc"'
    error = report['nodes'][0]['error']
    assert 'broken.txt' in error and 'segment' in error, error
    assert _absent(env, env['out'], 'broken.count')
    assert_spools_back(before)


def test_segments_and_targets_are_read_with_the_callers_rights(env, auth):
    # tester3 may read the container of the manifest and of the symlink,
    # not the one of the segments or of the target.
    url, token = env['url'], env['token']
    account = url.rsplit('/', 1)[1]
    shared = env['hidden'] + '-shared'
    swiftclient.put_container(url, token, shared, headers={
        'X-Container-Read': 'test:tester3'})
    swiftclient.put_container(url, token, env['exec'], headers={
        'X-Container-Read': 'test:tester3'})
    swiftclient.put_object(url, token, env['hidden'], 'secret', TARGET)
    swiftclient.put_object(url, token, shared, 'big.txt', json.dumps(
        [{'path': '/%s/part-a' % env['seg']},
         {'path': '/%s/part-b' % env['seg']}]),
        query_string='multipart-manifest=put')
    swiftclient.put_object(url, token, shared, 'link.txt', b'', headers={
        'X-Symlink-Target': '%s/secret' % env['hidden']})
    url3, token3 = auth('tester3')
    answer = _post(env, _count(env, '%s/link.txt' % shared, account=account),
                   url=url3, token=token3)
    assert answer.status == 403, answer.body
    assert 'not allowed to read' in answer.report()['nodes'][0]['error']
    answer = _post(env, _count(env, '%s/big.txt' % shared, account=account),
                   url=url3, token=token3)
    assert answer.status == 409, answer.body
    assert 'not readable by the caller' in \
        answer.report()['nodes'][0]['error']
    # The owner reads both.
    answer = _post(env, _count(env, '%s/link.txt' % shared),
                   json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == _native(env, TARGET)


def test_a_symlink_loop_is_409_in_swifts_words(env):
    url, token, seg = env['url'], env['token'], env['seg']
    for name, target in (('loop1', 'loop2'), ('loop2', 'loop1')):
        swiftclient.put_object(url, token, seg, name, b'', headers={
            'X-Symlink-Target': '%s/%s' % (seg, target)})
    answer = _post(env, _count(env, '%s/loop1' % seg))
    assert answer.status == 409, answer.body
    report = answer.report()
    assert report['message'] == 'object not readable whole: node "wc"'
    assert 'symbolic links' in report['nodes'][0]['error']
