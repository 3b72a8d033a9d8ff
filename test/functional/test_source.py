# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Stored jobs on the real cluster: ``X-Zerovm-Source`` names a job
description or an application archive in Swift (as ZeroCloud ran what
``zpm deploy`` stored), and the request's body is what its path-less
stdin reads."""
import json

import pytest
import swiftclient

from zerocloud import client

from .workspace import tar_of, workspace

DATA = b'pear\napple\nfig\n'


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    env = workspace(auth, programs, {'words.txt': b'kiwi\nbanana\n'},
                    ('sort', 'upper'))
    url, token = env['url'], env['token']
    sort_job = [{'name': 'sort',
                 'exec': {'path': 'swift://~/%s/sort' % env['exec']},
                 'devices': [{'name': 'stdin'}, {'name': 'stdout'}]}]
    swiftclient.put_object(url, token, env['exec'], 'sort.json',
                           json.dumps(sort_job),
                           content_type='application/json')
    # A two-stage archive: upper reads the body, sort reads upper's pipe.
    with open(env['built']['upper'], 'rb') as f:
        upper = f.read()
    with open(env['built']['sort'], 'rb') as f:
        sort = f.read()
    system_map = [
        {'name': 'up', 'exec': {'path': 'file://image:bin/upper'},
         'file_list': [{'device': 'stdin'},
                       {'device': 'stdout', 'path': 'zvm://down:stdin'}]},
        {'name': 'down', 'exec': {'path': 'file://image:bin/sort'},
         'file_list': [{'device': 'stdin'}, {'device': 'stdout'}]}]
    swiftclient.put_object(url, token, env['exec'], 'shout.zapp', tar_of([
        ('boot/system.map', json.dumps(system_map).encode()),
        ('bin/upper', upper), ('bin/sort', sort)]))
    return env


def _source(env, name):
    return 'swift://~/%s/%s' % (env['exec'], name)


def test_a_stored_job_reads_the_body_as_stdin(env):
    answer = client.submit(env['url'], env['token'], DATA,
                           source=_source(env, 'sort.json'))
    assert (answer.status, answer.body) == (200, b'apple\nfig\npear\n')
    # No body: an empty stdin.
    answer = client.submit(env['url'], env['token'], b'',
                           source=_source(env, 'sort.json'))
    assert (answer.status, answer.body) == (200, b''), answer.body.decode()


def test_a_deployed_archive_runs_with_the_body_as_stdin(env):
    answer = client.submit(env['url'], env['token'], DATA,
                           source=_source(env, 'shout.zapp'),
                           json_report=True)
    assert answer.status == 200, answer.body
    assert [n['name'] for n in answer.report()['nodes']] == ['up', 'down']
    answer = client.submit(env['url'], env['token'], DATA,
                           source=_source(env, 'shout.zapp'))
    assert answer.body == b'APPLE\nFIG\nPEAR\n'


def test_zerocloud_submit_source(env, tmp_path, capfd, monkeypatch):
    from zerocloud import cli
    monkeypatch.setenv('OS_STORAGE_URL', env['url'])
    monkeypatch.setenv('OS_AUTH_TOKEN', env['token'])
    data = tmp_path / 'fruit.txt'
    data.write_bytes(DATA)
    assert cli.main(['submit', '--source', _source(env, 'shout.zapp'),
                     str(data)]) == 0
    assert capfd.readouterr() == ('APPLE\nFIG\nPEAR\n', '')


def test_a_stored_job_is_read_as_the_caller(env, auth):
    url2, token2 = auth('tester2')
    source = 'swift://AUTH_test/%s/sort.json' % env['exec']
    answer = client.submit(url2, token2, DATA, source=source)
    assert answer.status == 403
    assert answer.body == b'not allowed to read %s\n' % source.encode()
    answer = client.submit(env['url'], env['token'], DATA,
                           source='apps/sort.json')
    assert answer.status == 412
    assert answer.body.startswith(b'X-Zerovm-Source must be swift://')
    answer = client.submit(env['url'], env['token'], DATA,
                           source=_source(env, 'nope.json'))
    assert answer.status == 404


@pytest.mark.parametrize('name, body, status, text', [
    ('twice.json', b'[{"name": "a", "name": "sort"}]', 400,
     b'duplicate key "name"'),
    ('deep.json', b'[' * 30000 + b']' * 30000, 400, b'nested too deeply'),
    ('deep.zapp', None, 400, b'boot/system.map is nested too deeply'),
])
def test_stored_jobs_are_read_as_strictly_as_posted_ones(env, name, body,
                                                         status, text):
    # Once a 500 (a RecursionError), or run with one of the duplicates.
    if body is None:
        body = tar_of([('boot/system.map', b'[' * 30000 + b']' * 30000)])
    swiftclient.put_object(env['url'], env['token'], env['exec'], name,
                           body)
    answer = client.submit(env['url'], env['token'], DATA,
                           source=_source(env, name))
    assert answer.status == status, answer.body
    assert text in answer.body


def test_an_empty_object_travels_to_its_node(env):
    # Fetched by the proxy (not the node's own object): once answered 503,
    # "ended before its 0 bytes", on every server.
    swiftclient.put_object(env['url'], env['token'], env['data'],
                           'empty.txt', b'')
    job = [{'name': 'sort',
            'exec': {'path': 'swift://~/%s/sort' % env['exec']},
            'devices': [
                {'name': 'stdin',
                 'path': 'swift://~/%s/words.txt' % env['data']},
                {'name': 'input',
                 'path': 'swift://~/%s/empty.txt' % env['data']},
                {'name': 'stdout'}]}]
    answer = client.submit(env['url'], env['token'], job)
    assert (answer.status, answer.body) == (200, b'banana\nkiwi\n')


def test_a_stored_program_runs_and_one_stored_untyped_is_named(env):
    url, token = env['url'], env['token']
    with open(env['built']['upper'], 'rb') as f:
        upper = f.read()
    swiftclient.put_object(url, token, env['exec'], 'upper.nexe', upper,
                           content_type='application/x-nexe')
    answer = client.submit(url, token, DATA,
                           source=_source(env, 'upper.nexe'))
    assert (answer.status, answer.body) == (200, b'PEAR\nAPPLE\nFIG\n')
    # As `swift upload` stores it: a 413 "job description too large".
    swiftclient.put_object(url, token, env['exec'], 'upper.bin', upper,
                           content_type='application/octet-stream')
    answer = client.submit(url, token, DATA, source=_source(env, 'upper.bin'))
    assert answer.status == 415
    assert answer.body == (
        b'swift://AUTH_test/%s/upper.bin is a program stored as '
        b'application/octet-stream; store it as application/x-nexe to run '
        b'it as one\n' % env['exec'].encode())
