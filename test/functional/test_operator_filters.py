# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Jobs on a cluster whose proxy also encrypts objects at rest (Swift's
``keymaster`` and ``encryption``), versions them (``versioned_writes``
with ``allow_object_versioning`` and ``allow_versioned_writes``) and
rate-limits writes to large containers, and serves opened objects and
containers' REST services on their own domains (Swift's
``domain_remap``): its own cluster, built from samples edited as an
operator would.  The object servers hold ciphertext,
and a versioned container's objects are symlinks to their current
version: a node must never read either in place, but what a GET gives the
caller.  A commit refused half-way (a quota, the rate limit) leaves no
output behind, and restores what it replaced where versions allow."""
import base64
import http.client
import os
import shutil
import subprocess
import threading
import time
import urllib.parse

import pytest
import swiftclient

from zerocloud import client, saio

from .leaks import assert_spools_back, proxy_spools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# As doc/operator.rst shows: CONTAINER.ACCOUNT.open.example.com/OBJECT
# opens the object, CONTAINER.ACCOUNT.api.example.com/PATH is the
# container's service.
DOMAINS = {'domain_remap_open': ('open.example.com', 'open'),
           'domain_remap_api': ('api.example.com', 'api')}
SECRET = b'words only the owner may read, never stored as such\n' * 40


def _edited_samples(where):
    shutil.copytree(os.path.join(ROOT, 'etc'), where)
    sample = os.path.join(where, 'proxy-server.conf-sample')
    with open(sample) as f:
        text = f.read()
    pipeline = next(line for line in text.splitlines()
                    if line.startswith('pipeline = '))
    assert pipeline.endswith(' proxy-logging proxy-server')
    text = text.replace(pipeline, pipeline.replace(
        ' proxy-logging proxy-server',
        ' keymaster encryption proxy-logging proxy-server').replace(
        ' tempauth ', ' %s tempauth ' % ' '.join(DOMAINS)))
    text = text.replace('[filter:versioned_writes]\n',
                        '[filter:versioned_writes]\n'
                        'allow_object_versioning = true\n'
                        'allow_versioned_writes = true\n')
    # Writes to containers of 20 objects or more: 4 a second, refused
    # (498) beyond 0.3 s of waiting.
    text = text.replace('[filter:ratelimit]\n',
                        '[filter:ratelimit]\n'
                        'container_ratelimit_20 = 4\n'
                        'max_sleep_time_seconds = 0.3\n')
    text += ('\n[filter:keymaster]\nuse = egg:swift#keymaster\n'
             'encryption_root_secret = %s\n\n'
             '[filter:encryption]\nuse = egg:swift#encryption\n'
             % base64.b64encode(os.urandom(32)).decode())
    for name, (domain, root) in sorted(DOMAINS.items()):
        text += ('\n[filter:%s]\nuse = egg:swift#domain_remap\n'
                 'storage_domain = %s\npath_root = %s\n'
                 % (name, domain, root))
    with open(sample, 'w') as f:
        f.write(text)


@pytest.fixture(scope='module')
def env(tmp_path_factory, programs):
    where = tmp_path_factory.mktemp('encrypted')
    _edited_samples(str(where / 'etc'))
    with saio.Cluster(run_dir=str(where / 'run'),
                      sample_dir=str(where / 'etc')) as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        for name in ('exec', 'data', 'out'):
            swiftclient.put_container(url, token, name)
        swiftclient.put_container(url, token, 'versioned', headers={
            'X-Versions-Enabled': 'true'})
        built = programs.build('wordcount')
        with open(built, 'rb') as f:
            swiftclient.put_object(url, token, 'exec', 'wordcount', f)
        with open(programs.build('upper'), 'rb') as f:
            swiftclient.put_object(url, token, 'exec', 'upper', f)
        with open(programs.build('cgi'), 'rb') as f:
            swiftclient.put_object(url, token, 'exec', 'cgi', f,
                                   content_type='application/x-nexe')
        swiftclient.put_object(url, token, 'data', 'secret.txt', SECRET)
        yield {'cluster': cluster, 'url': url, 'token': token,
               'built': built}


def _native(env, data):
    return subprocess.run([env['built']], input=data, capture_output=True,
                          check=True).stdout


def _count(path, out=None):
    return [{'name': 'wc', 'exec': {'path': 'swift://~/exec/wordcount'},
             'devices': [{'name': 'stdin', 'path': 'swift://~/' + path},
                         {'name': 'stdout'} if out is None else
                         {'name': 'stdout', 'path': 'swift://~/' + out}]}]


def _data_files(cluster):
    found = []
    for top, _dirs, files in os.walk(os.path.join(cluster.run_dir, 'srv')):
        found += [os.path.join(top, f) for f in files if f.endswith('.data')]
    return found


def test_objects_are_encrypted_at_rest(env):
    for path in _data_files(env['cluster']):
        with open(path, 'rb') as f:
            assert SECRET[:30] not in f.read()


def test_a_node_reads_an_encrypted_object_as_plain_text(env):
    before = proxy_spools()
    answer = client.submit(env['url'], env['token'], _count(
        'data/secret.txt'))
    assert answer.status == 200, answer.body
    assert answer.body == _native(env, SECRET)
    answer = client.submit(env['url'], env['token'], _count(
        'data/secret.txt', 'out/secret.count'))
    assert answer.status == 200, answer.body
    stored = swiftclient.get_object(env['url'], env['token'], 'out',
                                    'secret.count')[1]
    assert stored == _native(env, SECRET)
    # The output went through the encryption filter too.
    for path in _data_files(env['cluster']):
        with open(path, 'rb') as f:
            assert stored not in f.read()
    assert_spools_back(before)


def test_a_node_reads_the_current_version_of_a_versioned_object(env):
    url, token = env['url'], env['token']
    old, new = b'first version words\n' * 5, b'second version\n' * 7
    swiftclient.put_object(url, token, 'versioned', 'doc.txt', old)
    swiftclient.put_object(url, token, 'versioned', 'doc.txt', new)
    for path in ('versioned/doc.txt', 'versioned/*.txt'):
        answer = client.submit(url, token, _count(path))
        assert answer.status == 200, answer.body
        assert answer.body == _native(env, new)


VERSIONING = {'object versioning': {'X-Versions-Enabled': 'true'},
              'stack': {'X-Versions-Location': 'stack-%s'},
              'history': {'X-History-Location': 'history-%s'}}


@pytest.mark.parametrize('mode', sorted(VERSIONING))
def test_a_commit_refused_half_way_restores_versioned_objects(env, mode):
    # A quota refuses one of the two outputs: the other, which replaced
    # an object, is rolled back -- and in a versioned container the
    # object it replaced is current again.
    url, token = env['url'], env['token']
    name = 'rb-' + mode.split()[0]
    headers = {k: v % name if '%s' in v else v
               for k, v in VERSIONING[mode].items()}
    for value in headers.values():
        if value != 'true':
            swiftclient.put_container(url, token, value)
    swiftclient.put_container(url, token, name, headers=dict(
        headers, **{'X-Container-Meta-Quota-Bytes': '2500'}))
    swiftclient.put_object(url, token, name, 'a', b'old a\n')
    swiftclient.put_object(url, token, 'data', 'small', b'x' * 1000)
    swiftclient.put_object(url, token, 'data', 'large', b'y' * 3000)
    job = [{'name': n, 'exec': {'path': 'swift://~/exec/upper'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/' + src},
                        {'name': 'stdout', 'path': 'swift://~/%s/%s'
                         % (name, n)}]}
           for n, src in (('a', 'small'), ('b', 'large'))]
    answer = client.submit(url, token, job, json_report=True)
    assert answer.status == 413, answer.body
    assert answer.report()['message'] == (
        'could not write swift://%s/%s/b: 413 Request Entity Too Large '
        '(Upload exceeds quota.)' % (url.rsplit('/', 1)[1], name))
    assert answer.report()['outputs'] == []
    if mode == 'history':
        # Swift's history mode keeps whatever is deleted, and an
        # overwritten object only there: the roll-back cannot undo it
        # (doc/user_guide.rst says so).
        with pytest.raises(swiftclient.ClientException) as caught:
            swiftclient.get_object(url, token, name, 'a')
        assert caught.value.http_status == 404
        kept = [swiftclient.get_object(url, token, headers[
            'X-History-Location'], o['name'])[1]
            for o in swiftclient.get_container(
                url, token, headers['X-History-Location'])[1]
            if not o['content_type'].startswith('application/x-deleted')]
        assert kept == [b'old a\n', b'X' * 1000]
        return
    assert swiftclient.get_object(url, token, name, 'a')[1] == b'old a\n'
    assert [o['name'] for o in swiftclient.get_container(
        url, token, name)[1]] == ['a']
    if mode == 'object versioning':
        versions = [o for o in swiftclient.get_container(
            url, token, name, query_string='versions')[1]
            if o['name'] == 'a']
        assert [(v['bytes'], v['is_latest']) for v in versions] == \
            [(6, True)]
    else:
        assert swiftclient.get_container(
            url, token, headers['X-Versions-Location'])[1] == []


def test_a_job_writes_at_the_callers_rate_limit_and_leaves_nothing(env):
    url, token = env['url'], env['token']
    swiftclient.put_container(url, token, 'limited')
    for i in range(20):
        swiftclient.put_object(url, token, 'limited', 'old-%02d' % i, b'x')
    before = sorted(o['name'] for o in swiftclient.get_container(
        url, token, 'limited')[1])
    job = [{'name': 'w', 'count': 12, 'exec': {
        'path': 'swift://~/exec/upper'},
        'devices': [{'name': 'stdin', 'path': 'swift://~/data/secret.txt'},
                    {'name': 'stdout', 'path': 'swift://~/limited/new-*'}]}]
    answer = client.submit(url, token, job, json_report=True)
    assert answer.status == 498, answer.body
    message = answer.report()['message']
    assert message.startswith('could not write swift://') and \
        message.endswith(': 498 Rate Limited (Slow down)'), message
    assert sorted(o['name'] for o in swiftclient.get_container(
        url, token, 'limited')[1]) == before


def _on_domain(env, host, path, method='GET', body=None, token=True):
    netloc = urllib.parse.urlsplit(env['url']).netloc
    conn = http.client.HTTPConnection(netloc, timeout=60)
    headers = {'Host': host}
    if token:
        headers['X-Auth-Token'] = env['token']
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_objects_and_services_answer_on_their_own_domains(env):
    url, token = env['url'], env['token']
    status, body = _on_domain(env, 'exec.AUTH_test.open.example.com',
                              '/cgi?args=x')
    assert status == 200, body
    lines = body.decode().splitlines()
    assert 'PATH_INFO=/AUTH_test/exec/cgi' in lines
    assert 'REQUEST_URI=/open/AUTH_test/exec/cgi?args=x' in lines
    assert 'LOCAL_OBJECT=on' in lines
    swiftclient.put_container(url, token, 'site', headers={
        'X-Container-Meta-Rest-Endpoint': 'swift://~/exec/cgi'})
    status, body = _on_domain(env, 'site.AUTH_test.api.example.com',
                              '/users/7', method='POST', body=b'x' * 11)
    assert status == 200, body
    lines = body.decode().splitlines()
    assert 'PATH_INFO=/AUTH_test/site/users/7' in lines
    assert 'REQUEST_METHOD=POST' in lines and 'stdin 11' in lines
    # Still the caller's rights: no token, a private container.
    status, body = _on_domain(env, 'site.AUTH_test.api.example.com',
                              '/users/7', token=False)
    assert status == 401, body
    # Another domain of the cluster is Swift's, untouched.
    status, body = _on_domain(env, '127.0.0.1', '/v1/AUTH_test/exec/cgi',
                              method='HEAD')
    assert status == 200


def test_a_commit_cut_by_a_killed_proxy_restores_versions(env, programs):
    """Last in this module: it restarts the proxy (and renews the token).
    Outputs written in a versioned container before the proxy died are
    deleted by the next proxy, and the versions they replaced current
    again."""
    url, token, cluster = env['url'], env['token'], env['cluster']
    with open(programs.build('limits'), 'rb') as f:
        swiftclient.put_object(url, token, 'exec', 'limits', f)
    swiftclient.put_container(url, token, 'vcrash', headers={
        'X-Versions-Enabled': 'true'})
    names = ['small-%d' % i for i in range(1, 9)] + ['big']
    for name in names:
        swiftclient.put_object(url, token, 'vcrash', name,
                               b'old ' + name.encode())

    def versions():
        return len(swiftclient.get_container(url, token, 'vcrash',
                                             query_string='versions')[1])
    # The small outputs are written at once, the big one takes a while:
    # the proxy dies between.
    job = [{'name': name, 'count': count,
            'exec': {'path': 'swift://~/exec/limits',
                     'args': 'write %d' % size},
            'devices': [{'name': 'stdout', 'path': 'swift://~/vcrash/*'}]}
           for name, count, size in (('small', 8, 10),
                                     ('big', 1, 96 * 1024 * 1024))]
    answered = {}

    def submit():
        try:
            answered['answer'] = client.submit(url, token, job)
        except Exception as err:        # the proxy went away: expected
            answered['error'] = repr(err)
    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 120
    while versions() < len(names) + 4:
        assert time.monotonic() < deadline and thread.is_alive(), answered
        time.sleep(0.02)
    cluster.stop_core(kill=True)
    thread.join(60)
    assert 'answer' not in answered, answered['answer'].body
    cluster.start_core()
    env['url'], env['token'] = url, token = swiftclient.get_auth(
        cluster.auth_url, 'test:tester', 'testing')
    deadline = time.monotonic() + 60
    while versions() != len(names):
        assert time.monotonic() < deadline, versions()
        time.sleep(0.1)
    for name in names:
        assert swiftclient.get_object(url, token, 'vcrash', name)[1] == \
            b'old ' + name.encode()
