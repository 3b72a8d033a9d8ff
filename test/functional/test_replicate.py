# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Replicated nodes (``replicate: 2``) on the real cluster: the copies run
on both servers holding the object, a replica whose bytes differ on disk
makes the copies disagree (502, nothing written), and a copy whose server
is down is left out."""
import glob
import json
import os

import pytest
import swiftclient

from zerocloud import client

from .leaks import assert_spools_back, proxy_spools
from .workspace import workspace

TEXT = b'alpha beta beta gamma\n'


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    return workspace(auth, programs, {'r.txt': TEXT, 'bad.txt': TEXT,
                                      'down.txt': TEXT}, ('wordcount',))


def _job(env, name, replicate, output=None):
    return [{'name': 'wc', 'replicate': replicate,
             'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
             'devices': [
                 {'name': 'stdin', 'path': 'swift://~/%s/%s'
                  % (env['data'], name)},
                 {'name': 'stdout', 'path': 'swift://~/%s/%s'
                  % (env['out'], output)} if output else {'name': 'stdout'}]}]


def _post(env, job, json_report=True):
    return client.submit(env['url'], env['token'], json.dumps(job),
                         json_report=json_report)


def _holders(env, object_ring, name):
    account = env['url'].rsplit('/', 1)[1]
    _, holders = object_ring.get_nodes(account, env['data'], name)
    return ['%s:%s/%s' % (h['ip'], h['port'], h['device']) for h in holders]


def _server_index(cluster, where):
    for i, server in enumerate(cluster.object_servers):
        if '%s:%s/%s' % (server.ip, server.port, server.device) == where:
            return i
    raise AssertionError(where)


def _data_file(env, cluster, where, name):
    from swift.common.utils import hash_path
    server = cluster.object_servers[_server_index(cluster, where)]
    account = env['url'].rsplit('/', 1)[1]
    digest = hash_path(account, env['data'], name)
    found = glob.glob(os.path.join(server.devices, server.device,
                                   'objects*', '*', '*', digest, '*.data'))
    assert len(found) == 1, found
    return found[0]


def test_copies_run_on_both_holders_and_agree(env, object_ring):
    answer = _post(env, _job(env, 'r.txt', 2))
    assert answer.status == 200, answer.body
    node, = answer.report()['nodes']
    assert sorted(c['server'] for c in node['copies']) == \
        sorted(_holders(env, object_ring, 'r.txt'))
    assert [c['used'] for c in node['copies']] == [True, False]
    assert all(c['ran'] and c['reason'] == 'ok' for c in node['copies'])
    plain = _post(env, _job(env, 'r.txt', 2), json_report=False)
    assert plain.body == b'2 beta\n1 alpha\n1 gamma\n'


def test_more_copies_than_holders_is_400(env):
    answer = _post(env, _job(env, 'r.txt', 3))
    assert answer.status == 400, answer.body
    assert b'replicate 3: node "wc" can run on only 2 object servers' in \
        answer.body


def test_a_replica_that_differs_on_disk_is_a_disagreement(env, cluster,
                                                          object_ring):
    # Change one replica's bytes in place (same length, its metadata
    # untouched), as bit rot would before the auditor finds it.
    first, second = _holders(env, object_ring, 'bad.txt')
    path = _data_file(env, cluster, second, 'bad.txt')
    with open(path, 'r+b') as f:
        f.write(b'omega')
    before = proxy_spools()
    answer = _post(env, _job(env, 'bad.txt', 2, output='bad.count'))
    assert answer.status == 502, answer.body
    report = answer.report()
    assert report['message'] == 'copies disagree: node "wc"'
    node, = report['nodes']
    assert node['failure'] == 'disagreement'
    assert node['error'].startswith('copies of node "wc" disagree: '
                                    '/dev/stdout ')
    assert first in node['error'] and second in node['error']
    assert report['outputs'] == []
    _, listing = swiftclient.get_container(env['url'], env['token'],
                                           env['out'])
    assert 'bad.count' not in [o['name'] for o in listing]
    assert_spools_back(before)
    # One copy does not notice: it reads whichever replica it is sent to.
    assert _post(env, _job(env, 'bad.txt', 1)).status == 200


def test_a_copy_whose_server_is_down_is_left_out(env, cluster, object_ring):
    first, second = _holders(env, object_ring, 'down.txt')
    index = _server_index(cluster, second)
    cluster.stop_object_server(index)
    try:
        answer = _post(env, _job(env, 'down.txt', 2, output='down.count'))
    finally:
        cluster.start_object_server(index)
    assert answer.status == 200, answer.body
    node, = answer.report()['nodes']
    copies = {c['server'] or 'none': c for c in node['copies']}
    assert copies[first]['ran'] and copies[first]['used']
    left_out, = [c for c in node['copies'] if not c['ran']]
    assert 'no object server could run node "wc"' in left_out['error']
    _, body = swiftclient.get_object(env['url'], env['token'], env['out'],
                                     'down.count')
    assert body == b'2 beta\n1 alpha\n1 gamma\n'
