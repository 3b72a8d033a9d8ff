# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs end to end: a real cluster, both filters, the real sandbox, and
programs compiled with gcc -static by the tests."""
import collections
import io
import json
import os
import re
import socket
import urllib.parse
import uuid

import pytest
import swiftclient

from zerocloud import client

from .leaks import assert_spools_back, proxy_spools
from .workspace import workspace

CORPUS = {
    'a.txt': b'the cat sat on the mat\nthe end\n',
    'b.txt': b'a dog and a cat\n',
    'c.txt': b'words words words\n',
    'skip.txt.bak': b'never read\n',
}


def _count(text):
    words = re.findall(rb"[a-z0-9']+", text.lower())
    counts = collections.Counter(words)
    lines = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return b''.join(b'%d %s\n' % (n, w) for w, n in lines)


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    """Containers with a corpus and the programs, unique per module run."""
    return workspace(auth, programs, CORPUS,
                     ('wordcount', 'probe', 'limits', 'determinism'))


def _post(env, job, user_token=None, json_report=True):
    return client.submit(env['url'], user_token or env['token'],
                         json.dumps(job), json_report=json_report)


def _objects(env, container):
    _, listing = swiftclient.get_container(env['url'], env['token'],
                                           container)
    return [o['name'] for o in listing]


def test_per_object_map_writes_one_output_per_input(env):
    out = env['out']
    job = [{'name': 'count',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [
                {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                {'name': 'stdout', 'path': 'swift://~/%s/*.count' % out,
                 'content_type': 'text/plain',
                 'meta': {'job': 'wordcount'}}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    report = answer.report()
    assert [n['name'] for n in report['nodes']] == [
        'count-1', 'count-2', 'count-3']
    assert sorted(_objects(env, out)) == ['a.count', 'b.count', 'c.count']
    for name in ('a', 'b', 'c'):
        headers, body = swiftclient.get_object(env['url'], env['token'], out,
                                               name + '.count')
        assert body == _count(CORPUS[name + '.txt'])
        assert headers['content-type'].startswith('text/plain')
        assert headers['x-object-meta-job'] == 'wordcount'


def test_nodes_run_where_their_object_is(env, object_ring):
    job = [{'name': 'where',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    account = env['url'].rsplit('/', 1)[1]
    for node, name in zip(answer.report()['nodes'],
                          ['a.txt', 'b.txt', 'c.txt']):
        _, holders = object_ring.get_nodes(account, env['data'], name)
        where = {'%s:%s/%s' % (h['ip'], h['port'], h['device'])
                 for h in holders}
        assert node['server'] in where, (node['server'], where)


def test_a_location_runs_its_nodes_on_one_server(env, object_ring):
    account = env['url'].rsplit('/', 1)[1]

    def holders(name):
        return {'%s:%s/%s' % (h['ip'], h['port'], h['device'])
                for h in object_ring.get_nodes(account, env['data'],
                                               name)[1]}
    # Two replicas on three servers: any two objects share a server.
    common = holders('a.txt') & holders('b.txt')
    assert common
    job = [{'name': name, 'location': 'together',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/%s'
                         % (env['data'], obj)}, {'name': 'stdout'}]}
           for name, obj in (('x', 'a.txt'), ('y', 'b.txt'))]
    job.append({'name': 'z',
                'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
                'devices': [{'name': 'stdin', 'path': 'swift://~/%s/c.txt'
                             % env['data']}, {'name': 'stdout'}]})
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    x, y, z = answer.report()['nodes']
    assert x['server'] == y['server'] and x['server'] in common
    assert x['colocated'] == y['colocated'] != '0'
    assert 'colocated' not in z
    assert answer.headers['x-nexe-colocated'] == '%s,%s,0' % (
        x['colocated'], x['colocated'])


def test_a_deferred_job_stores_its_answer_for_later(
        env, capfd, tmp_path, monkeypatch):
    from zerocloud import cli
    job = [{'name': 'count',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'stdout'}]}]
    path = str(tmp_path / 'deferred.json')
    with open(path, 'w') as f:
        json.dump(job, f)
    monkeypatch.setenv('OS_STORAGE_URL', env['url'])
    monkeypatch.setenv('OS_AUTH_TOKEN', env['token'])
    before = proxy_spools()
    assert cli.main(['submit', '--deferred', 'always', path]) == 0
    out, _ = capfd.readouterr()
    account = env['url'].rsplit('/', 1)[1]
    prefix = 'swift://%s/.zvm-deferred/job-' % account
    assert out.startswith(prefix) and out.endswith('\n')
    # zerocloud result waits for it and prints it as submit would have.
    assert cli.main(['result', '--wait', '30', out.strip()]) == 0
    printed, _ = capfd.readouterr()
    expected = b''.join(_count(CORPUS[n])
                        for n in ('a.txt', 'b.txt', 'c.txt'))
    assert printed.encode() == expected
    name = '.zvm-deferred/' + out.strip()[len(prefix) - len('job-'):]
    container, obj = name.split('/', 1)
    _, head = swiftclient.get_object(env['url'], env['token'], container,
                                     obj + '.headers')
    assert json.loads(head)['status'] == '200 OK'
    headers, body = swiftclient.get_object(env['url'], env['token'],
                                           container, obj)
    assert body == expected
    assert headers['x-object-meta-zerocloud-status'] == '200'
    # The job's spool went with its stored answer.
    assert_spools_back(before)
    # An answer that is not there (yet).
    assert cli.main(['result', prefix + 'unknown']) == 1
    assert 'no answer yet' in capfd.readouterr()[1]
    # An answer Swift refuses (the container's quota): .headers says so.
    used = int(swiftclient.head_container(env['url'], env['token'], container)
               ['x-container-bytes-used'])
    swiftclient.post_container(env['url'], env['token'], container, {
        'X-Container-Meta-Quota-Bytes': str(used + 10000)})
    with open(path, 'w') as f:
        json.dump([{'name': 'big', 'exec': {
            'path': 'swift://~/%s/limits' % env['exec'],
            'args': 'write 100000'}, 'devices': [{'name': 'stdout'}]}], f)
    try:
        assert cli.main(['submit', '--deferred', 'always', path]) == 0
        out, _ = capfd.readouterr()
        assert cli.main(['result', '--wait', '30', out.strip()]) == 1
        printed, err = capfd.readouterr()
        assert 'its answer could not be stored: 413' in printed + err
    finally:
        swiftclient.post_container(env['url'], env['token'], container,
                                   {'X-Remove-Container-Meta-Quota-Bytes':
                                    'x'})


def test_programs_uploaded_for_validation_get_a_verdict(env):
    with open(env['built']['wordcount'], 'rb') as f:
        program = f.read()
    for name, body, kwargs, valid in (
            ('checked', program, {'headers': {'X-Zerovm-Validate': '1'}},
             'true'),
            ('typed', program, {'content_type': 'application/x-nexe'},
             'true'),
            # A file object: swiftclient sends it chunked.
            ('chunked', io.BytesIO(program),
             {'headers': {'X-Zerovm-Validate': '1'}}, 'true'),
            ('broken', program[:4096], {'content_type':
                                        'application/x-nexe'}, 'false')):
        answer = {}
        swiftclient.put_object(env['url'], env['token'], env['exec'], name,
                               body, response_dict=answer, **kwargs)
        assert answer['status'] == 201
        assert answer['headers'].get('x-zerovm-valid') == valid, name
        if valid == 'false':
            assert answer['headers']['x-zerovm-validation-error']
        # Stored either way.
        _, stored = swiftclient.get_object(env['url'], env['token'],
                                           env['exec'], name)
        assert stored == (body if isinstance(body, bytes) else program)


def test_path_less_stdout_is_the_body_in_node_order(env):
    job = [{'name': 'count',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == b''.join(_count(CORPUS[n])
                                   for n in ('a.txt', 'b.txt', 'c.txt'))
    assert answer.headers['x-nexe-retcode'].replace(' ', '') == '0,0,0'


def test_a_malformed_chunked_body_is_400(env):
    url = urllib.parse.urlsplit(env['url'])
    with socket.create_connection((url.hostname, url.port), 30) as sock:
        sock.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n'
                     b'X-Zerovm-Execute: 1.0\r\nContent-Type: '
                     b'application/json\r\nTransfer-Encoding: chunked\r\n'
                     b'Connection: close\r\n\r\nzz\r\n[]\r\n' % (
                         url.path.encode(), env['token'].encode()))
        answer = b''.join(iter(lambda: sock.recv(65536), b''))
    status, _, body = answer.partition(b'\r\n\r\n')
    assert status.startswith(b'HTTP/1.1 400 '), answer
    assert b"chunked body is malformed" in body


def test_min_size_of_outputs_and_of_the_answer(env):
    def job(answer_min, object_min):
        return [{'name': 'small',
                 'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
                 'devices': [
                     {'name': 'stdin', 'path': 'swift://~/%s/c.txt'
                      % env['data']},
                     {'name': 'stdout', 'min_size': answer_min},
                     {'name': 'output', 'min_size': object_min,
                      'path': 'swift://~/%s/small.out' % env['out']}]}]
    for sizes in ((100, 0), (0, 1)):
        answer = _post(env, job(*sizes))
        assert answer.status == 424, answer.body
        assert 'min_size' in answer.report()['message']
        assert 'small.out' not in _objects(env, env['out'])
    answer = _post(env, job(8, 0), json_report=False)
    assert (answer.status, answer.body) == (200, b'3 words\n')


def test_args_and_env_reach_the_program(env):
    job = [{'name': 'echo',
            'exec': {'path': 'swift://~/%s/determinism' % env['exec'],
                     'args': 'alpha "beta gamma"', 'env': {'COLOR': 'blue'}},
            'devices': [{'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert b'\nargs echo alpha beta gamma\n' in answer.body
    assert b'\nenv COLOR=blue\n' in answer.body
    # Empty arguments too (one crashed the sandbox's launcher: 500).
    job[0]['exec']['args'] = ['', 'x', '']
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert b'\nargs echo  x \n' in answer.body


def test_stdin_from_one_object(env):
    job = [{'name': 'one',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/c.txt' % env['data']},
                        {'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == b'3 words\n'


def test_a_non_local_input_travels_in_each_nodes_request(env):
    """Every node reads its own object as stdin (in place, on its server)
    and one shared object as /dev/input, which the proxy fetches once and
    streams into each node's request: several megabytes, many chunks."""
    tables = 'tables-' + uuid.uuid4().hex[:8]
    swiftclient.put_container(env['url'], env['token'], tables)
    shared = b''.join(b'word%d shared\n' % (i % 5000) for i in range(250000))
    swiftclient.put_object(env['url'], env['token'], tables, 'big.txt',
                           shared)
    job = [{'name': 'join',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'input',
                         'path': 'swift://~/%s/big.txt' % tables},
                        {'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    # wordcount counts /dev/input when it has one: the same for each node.
    assert answer.body == _count(shared) * 3
    assert len(shared) > 3 * 1024 * 1024


def test_program_failure_writes_nothing(env):
    out = 'fail-%s' % uuid.uuid4().hex[:6]
    swiftclient.put_container(env['url'], env['token'], out)
    job = [{'name': 'fail',
            'exec': {'path': 'swift://~/%s/probe' % env['exec'],
                     'args': 'exit_group'},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'stdout', 'path': 'swift://~/%s/*.x' % out}]}]
    answer = _post(env, job)
    assert answer.status >= 400
    report = answer.report()
    assert {n['exit_code'] for n in report['nodes']} == {42}
    assert _objects(env, out) == []


@pytest.mark.parametrize('body,status,text', [
    (b'{not json', 422, b''),
    (b'[{"name": "x"}]', 400, b'exec'),
    (b'[{"name": "x", "exec": {"path": "swift://~/nope/prog"}, '
     b'"devices": [{"name": "stdout"}]}]', 404, b'nope/prog'),
])
def test_bad_jobs(env, body, status, text):
    answer = client.submit(env['url'], env['token'], body)
    assert answer.status == status, answer.body
    assert text in answer.body


def test_missing_input_is_404(env):
    job = [{'name': 'x',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/absent.txt' % env['data']},
                        {'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 404, answer.body
    assert b'absent.txt' in answer.body


def test_a_listed_object_deleted_on_its_servers_is_skipped(
        env, object_ring):
    from swift.common import direct_client
    from swift.common.utils import Timestamp
    url, token = env['url'], env['token']
    container = env['data'] + '-gone'
    swiftclient.put_container(url, token, container)
    for name in ('here.txt', 'gone.txt'):
        swiftclient.put_object(url, token, container, name, b'a b c\n')
    # Delete gone.txt on its object servers only: the container listing,
    # which is all the proxy consults for a wildcard, still has it.
    account = url.rsplit('/', 1)[1]
    part, nodes = object_ring.get_nodes(account, container, 'gone.txt')
    for node in nodes:
        direct_client.direct_delete_object(
            node, part, account, container, 'gone.txt',
            headers={'X-Timestamp': Timestamp.now().internal})
    job = [{'name': 'x',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % container},
                        {'name': 'stdout',
                         'path': 'swift://~/%s/*.count' % env['out']}]}]
    answer = _post(env, job)
    # As if the listing had been made a moment later (doc/user_guide.rst).
    assert answer.status == 200, answer.body
    gone = [n for n in answer.report()['nodes'] if n.get('skipped')]
    assert [n['skipped'] for n in gone] == ['deleted']
    assert 'gone.txt was deleted after the listing' in gone[0]['error']
    assert 'here.count' in _objects(env, env['out'])
    assert 'gone.count' not in _objects(env, env['out'])


def test_other_account_cannot_read_without_acl(env, auth):
    url2, token2 = auth('tester2')
    account = env['url'].rsplit('/', 1)[1]
    job = [{'name': 'steal',
            'exec': {'path': 'swift://%s/%s/wordcount' % (account,
                                                          env['exec'])},
            'devices': [{'name': 'stdout'}]}]
    answer = client.submit(url2, token2, json.dumps(job))
    assert answer.status == 403, answer.body


def test_other_account_reads_with_acl_but_cannot_write(env, auth):
    url2, token2 = auth('tester2')
    account = env['url'].rsplit('/', 1)[1]
    prog = 'swift://%s/%s/wordcount' % (account, env['exec'])
    data = 'swift://%s/%s/c.txt' % (account, env['data'])
    job = [{'name': 'borrow', 'exec': {'path': prog},
            'devices': [{'name': 'stdin', 'path': data},
                        {'name': 'stdout'}]}]
    for c in (env['exec'], env['data']):
        swiftclient.post_container(env['url'], env['token'], c,
                                   {'X-Container-Read': 'test2:tester2'})
    try:
        answer = client.submit(url2, token2, json.dumps(job),
                               json_report=False)
        assert answer.status == 200, answer.body
        assert answer.body == b'3 words\n'
        # Reading test's objects does not make test's containers writable.
        job[0]['devices'][1]['path'] = 'swift://%s/%s/stolen' % (
            account, env['out'])
        answer = client.submit(url2, token2, json.dumps(job))
        assert answer.status == 403, answer.body
        assert 'stolen' not in _objects(env, env['out'])
    finally:
        for c in (env['exec'], env['data']):
            swiftclient.post_container(env['url'], env['token'], c,
                                       {'X-Container-Read': ''})


def test_a_job_of_one_s_own_objects_runs_in_one_s_own_account(env, auth):
    # POSTed to test's account, a job of test2's objects would be counted
    # to test (and its ~ be test's): refused, as it touches none of them.
    url2, token2 = auth('tester2')
    account2 = url2.rsplit('/', 1)[1]
    container = 'own-%s' % env['exec']
    swiftclient.put_container(url2, token2, container)
    with open(env['built']['wordcount'], 'rb') as f:
        swiftclient.put_object(url2, token2, container, 'wordcount', f)
    job = [{'name': 'mine',
            'exec': {'path': 'swift://%s/%s/wordcount' % (account2,
                                                          container)},
            'devices': [{'name': 'stdout'}]}]
    for url in (env['url'], env['url'] + 'x'):
        answer = client.submit(url, token2, json.dumps(job))
        assert answer.status == 403, answer.body
        assert b'not allowed to run a job in' in answer.body
    answer = client.submit(url2, token2, json.dumps(job),
                           json_report=False)
    assert answer.status == 200, answer.body


def test_a_tempurl_cannot_run_a_job(env):
    # A PUT TempURL for one object must not become a job over the account.
    import hashlib
    import hmac
    import time
    import requests
    key = 'job-tempurl-%s' % env['exec']
    swiftclient.post_account(env['url'], env['token'],
                             {'X-Account-Meta-Temp-URL-Key': key})
    path = urllib.parse.urlparse(env['url']).path + '/%s/upload' % env['out']
    try:
        for method, headers in (('PUT', {'X-Zerovm-Execute': 'open/1.0'}),
                                ('GET', {'X-Zerovm-Execute': 'open/1.0'}),
                                ('POST', {'X-Zerovm-Execute': '1.0',
                                          'Content-Type': 'text/plain'})):
            expires = int(time.time()) + 300
            sig = hmac.new(key.encode(), ('%s\n%d\n%s' % (
                method, expires, path)).encode(), hashlib.sha256).hexdigest()
            resp = requests.request(
                method, env['url'].rsplit('/v1/', 1)[0] + path,
                params={'temp_url_sig': sig, 'temp_url_expires': expires},
                headers=headers, data=b'#!file://python:bin/python\n')
            assert resp.status_code == 403, (method, resp.text)
            assert 'a TempURL' in resp.text
    finally:
        swiftclient.post_account(env['url'], env['token'],
                                 {'X-Remove-Account-Meta-Temp-URL-Key': 'x'})


def test_non_admin_reads_only_with_acl(env, auth):
    _, token3 = auth('tester3')
    job = [{'name': 'look',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/c.txt' % env['data']},
                        {'name': 'stdout'}]}]
    assert _post(env, job, user_token=token3).status == 403
    for c in (env['exec'], env['data']):
        swiftclient.post_container(env['url'], env['token'], c,
                                   {'X-Container-Read': 'test:tester3'})
    try:
        answer = _post(env, job, user_token=token3, json_report=False)
        assert answer.status == 200, answer.body
        assert answer.body == b'3 words\n'
        # Reading is not writing.
        job[0]['devices'][1]['path'] = 'swift://~/%s/x' % env['out']
        assert _post(env, job, user_token=token3).status == 403
    finally:
        for c in (env['exec'], env['data']):
            swiftclient.post_container(env['url'], env['token'], c,
                                       {'X-Container-Read': ''})


def test_a_job_survives_one_object_server_down(env, cluster):
    job = [{'name': 'count',
            'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
            'devices': [{'name': 'stdin',
                         'path': 'swift://~/%s/*.txt' % env['data']},
                        {'name': 'stdout'}]}]
    txns = []
    for i in range(len(cluster.object_servers)):
        cluster.stop_object_server(i)
        try:
            answer = _post(env, job, json_report=False)
            assert answer.status == 200, (i, answer.body)
            assert answer.body == b''.join(
                _count(CORPUS[n]) for n in ('a.txt', 'b.txt', 'c.txt'))
            txns.append(answer.headers['x-trans-id'])
        finally:
            cluster.start_object_server(i)
    # The proxy's lines about the servers it could not reach name their
    # job (they were logged by the nodes' green threads, without it).
    with open(os.path.join(cluster.log_dir, 'core.log'),
              errors='replace') as f:
        unreachable = [line for line in f if 'unreachable' in line
                       and any(txn in line for txn in txns)]
    assert unreachable


def test_nothing_left_in_the_devices_tmp(env, cluster):
    for server in cluster.object_servers:
        tmp = os.path.join(server.devices, server.device, 'tmp')
        if os.path.isdir(tmp):
            assert os.listdir(tmp) == [], tmp
