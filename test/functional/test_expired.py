# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Objects gone since the listing: an object whose ``X-Delete-At`` has
passed stays in its container's listing until Swift's object expirer
removes it (the embedded cluster runs none), and a listing may lag a
delete.  A wildcard's node whose object is gone is skipped, as if the
listing had been made a moment later; a named object that is gone is a
404 saying so."""
import json
import subprocess
import time

import pytest
import swiftclient

from zerocloud import client

from .workspace import workspace

TEXTS = {'keep.txt': b'kept words kept\n' * 10,
         'also.txt': b'also here\n' * 5}


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    found = workspace(auth, programs, TEXTS, ('wordcount',))
    url, token, data = found['url'], found['token'], found['data']
    swiftclient.put_object(url, token, data, 'gone.txt', b'soon gone\n',
                           headers={'X-Delete-After': '1'})
    time.sleep(1.5)
    return found


def _post(env, job):
    return client.submit(env['url'], env['token'], json.dumps(job),
                         json_report=True)


def _map(env, pattern, out):
    return [{'name': 'wc',
             'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
             'devices': [
                 {'name': 'stdin', 'path': 'swift://~/%s/%s'
                  % (env['data'], pattern)},
                 {'name': 'stdout', 'path': 'swift://~/%s/%s'
                  % (env['out'], out)}]}]


def test_the_listing_still_shows_the_expired_object(env):
    names = [o['name'] for o in swiftclient.get_container(
        env['url'], env['token'], env['data'])[1]]
    assert 'gone.txt' in names
    with pytest.raises(swiftclient.ClientException) as caught:
        swiftclient.get_object(env['url'], env['token'], env['data'],
                               'gone.txt')
    assert caught.value.http_status == 404


def test_a_wildcards_expired_object_is_skipped(env):
    answer = _post(env, _map(env, '*.txt', 'map-*.count'))
    assert answer.status == 200, answer.body
    report = answer.report()
    skipped = [n for n in report['nodes'] if n.get('skipped')]
    # Nodes are numbered in listing order: also, gone, keep.
    assert [(n['name'], n['skipped']) for n in skipped] == [
        ('wc-2', 'expired')]
    assert 'skipped: node "wc-2" was not run' in report['message']
    assert 'gone.txt expired' in skipped[0]['error']
    assert sorted(report['outputs']) == sorted(
        'swift://%s/%s/map-%s.count' % (env['url'].rsplit('/', 1)[1],
                                        env['out'], n[:-4])
        for n in ('also.txt', 'keep.txt'))
    for name in ('also', 'keep'):
        got = swiftclient.get_object(env['url'], env['token'], env['out'],
                                     'map-%s.count' % name)[1]
        assert got == subprocess.run(
            [env['built']['wordcount']], input=TEXTS[name + '.txt'],
            capture_output=True, check=True).stdout
    with pytest.raises(swiftclient.ClientException):
        swiftclient.head_object(env['url'], env['token'], env['out'],
                                'map-gone.count')


def test_a_named_expired_object_is_404_saying_so(env):
    answer = _post(env, _map(env, 'gone.txt', 'named.count'))
    assert answer.status == 404, answer.body
    assert b'gone.txt does not exist' in answer.body


def test_a_wildcard_of_expired_objects_only_is_404(env):
    answer = _post(env, _map(env, 'gone*', 'only-*.count'))
    assert answer.status == 404, answer.body
    report = answer.report()
    assert report['message'] == 'object missing: node "wc-1"'
    assert 'expired (its X-Delete-At has passed' in \
        report['nodes'][0]['error']
