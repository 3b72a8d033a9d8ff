# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs over containers of an erasure-coded storage policy (the cluster's
policy ``ec``: two data fragments and one parity fragment, one per object
server).  No object server holds such an object's bytes, so the proxy
reads it, decoded, and sends it with the node; outputs are written to
such containers through the proxy like any others."""
import json
import subprocess
import urllib.request

import pytest
import swiftclient

from zerocloud import client, saio

from .leaks import assert_spools_back, proxy_spools
from .workspace import workspace

TEXTS = {'a.txt': b'one two two three three three\n' * 50,
         'b.txt': b'erasure coded text\n' * 70,
         'c.txt': b'the fragments of the object\n' * 90}


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    found = workspace(auth, programs, {}, ('wordcount',),
                      containers=('exec', 'plain'))
    url, token = found['url'], found['token']
    for kind in ('data', 'out'):
        found[kind] = '%s-%s' % (kind, found['exec'].split('-', 1)[1])
        swiftclient.put_container(url, token, found[kind], headers={
            'X-Storage-Policy': saio.EC_POLICY})
    for name, body in TEXTS.items():
        swiftclient.put_object(url, token, found['data'], name, body)
    swiftclient.put_object(url, token, found['plain'], 'words.txt',
                           b'replicated words\n')
    return found


def _post(env, job, json_report=True, **kwargs):
    return client.submit(env['url'], env['token'], json.dumps(job),
                         json_report=json_report, **kwargs)


def _native(program, data):
    return subprocess.run([program], input=data, capture_output=True,
                          check=True).stdout


def _map_job(env, out):
    return [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wordcount'
                                    % env['exec']},
             'devices': [
                 {'name': 'stdin', 'path': 'swift://~/%s/*.txt'
                  % env['data']},
                 {'name': 'stdout', 'path': 'swift://~/%s/*.count' % out,
                  'content_type': 'text/plain'}]}]


def test_the_cluster_has_an_erasure_coded_policy(cluster, env):
    with urllib.request.urlopen(cluster.proxy_url + '/info') as resp:
        info = json.load(resp)
    names = {p['name']: p for p in info['swift']['policies']}
    assert names['Policy-0'].get('default') is True
    assert names[saio.EC_POLICY].get('default') is not True
    headers = swiftclient.head_container(env['url'], env['token'],
                                         env['data'])
    assert headers['x-storage-policy'] == saio.EC_POLICY


def test_map_over_an_erasure_coded_container(env):
    before = proxy_spools()
    plan = _post(env, _map_job(env, env['out']), dry_run=True)
    assert plan.status == 200, plan.body
    nodes = json.loads(plan.body)['nodes']
    assert [n['attach'] for n in nodes] == [None] * len(TEXTS)
    answer = _post(env, _map_job(env, env['out']))
    assert answer.status == 200, answer.body
    report = answer.report()
    assert all(n['ran'] and n['exit_code'] == 0 and n['server']
               for n in report['nodes'])
    program = env['built']['wordcount']
    for name, body in sorted(TEXTS.items()):
        got = swiftclient.get_object(
            env['url'], env['token'], env['out'],
            name[:-len('.txt')] + '.count')
        assert got[0]['content-type'] == 'text/plain'
        assert got[1] == _native(program, body)
    assert_spools_back(before)


def test_node_is_placed_by_its_replicated_object(env, cluster, object_ring):
    # ``attach`` names the EC object: the node runs beside the other one.
    job = [{'name': 'both', 'attach': 'input',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [
                {'name': 'input', 'path': 'swift://~/%s/a.txt'
                 % env['data']},
                {'name': 'stdin', 'path': 'swift://~/%s/words.txt'
                 % env['plain']},
                {'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    (node,) = answer.report()['nodes']
    account = env['url'].rsplit('/', 1)[1]
    _, holders = object_ring.get_nodes(account, env['plain'], 'words.txt')
    assert node['server'] in ['%s:%s/%s' % (h['ip'], h['port'], h['device'])
                              for h in holders]
    (read,) = [c for c in node['channels'] if c['alias'] == '/dev/input']
    assert read['endpoint'].endswith('/a.txt')
    assert read['bytes_read'] == len(TEXTS['a.txt'])
    answer = _post(env, job, json_report=False)
    assert answer.body == _native(env['built']['wordcount'], TEXTS['a.txt'])


def test_missing_erasure_coded_input_is_404_and_nothing_written(env):
    job = _map_job(env, env['out'])
    job[0]['devices'][0]['path'] = 'swift://~/%s/gone.txt' % env['data']
    job[0]['devices'][1]['path'] = 'swift://~/%s/gone.count' % env['out']
    answer = _post(env, job)
    assert answer.status == 404, answer.body
    assert b'gone.txt' in answer.body
    with pytest.raises(swiftclient.ClientException) as caught:
        swiftclient.head_object(env['url'], env['token'], env['out'],
                                'gone.count')
    assert caught.value.http_status == 404
