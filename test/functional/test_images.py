# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""System images and the image device on the real cluster: Python scripts
run by the python image's static interpreter next to their objects, and a
job's own tar of programs and data mounted from ``/``."""
import collections
import io
import json
import os
import re
import tarfile

import urllib.parse
import urllib.request

import pytest
import swiftclient

from zerocloud import client

from .workspace import workspace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

CORPUS = {
    'a.txt': b'the cat sat on the mat\nthe end\n',
    'b.txt': b'a dog and a cat\n',
    'c.txt': b'words words words\n',
}

WORDCOUNT_PY = b'''\
import collections, re, sys
words = re.findall(r"[a-z0-9']+", sys.stdin.read().lower())
counts = collections.Counter(words)
for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
    print(n, word)
'''

RANDOM_PY = b'''\
import random, time, os, uuid
print(random.random(), time.time(), uuid.uuid4(), os.urandom(8).hex())
'''

FAILING_PY = b'''\
import sys
print("half of an output")
sys.stdout.flush()
raise ValueError("no good: " + sys.stdin.read().split()[0])
'''


MAP_PY = b'''\
import collections, os, re, sys, zlib
words = re.findall(r"[a-z0-9']+", sys.stdin.read().lower())
counts = collections.Counter(words)
reducers = sorted(os.listdir("/dev/out"))
outs = [open("/dev/out/" + r, "w") for r in reducers]
for word in sorted(counts):
    outs[zlib.crc32(word.encode()) % len(outs)].write(
        "%s %d\\n" % (word, counts[word]))
for f in outs:
    f.close()
'''

REDUCE_PY = b'''\
import collections, os
total = collections.Counter()
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as f:
        for line in f:
            word, n = line.split()
            total[word] += int(n)
for word, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
    print(n, word)
'''


def _count(text):
    words = re.findall(rb"[a-z0-9']+", text.lower())
    counts = collections.Counter(words)
    lines = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return b''.join(b'%d %s\n' % (n, w) for w, n in lines)


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope='module')
def env(cluster, auth, programs, python_image):
    env = workspace(auth, programs, CORPUS, ('files',))
    for name, body in (('wc.py', WORDCOUNT_PY), ('random.py', RANDOM_PY),
                       ('fail.py', FAILING_PY), ('map.py', MAP_PY),
                       ('reduce.py', REDUCE_PY),
                       ('wc', b'#!/usr/bin/env python3\n' + WORDCOUNT_PY),
                       ('argv', b'#!file://python:bin/python -S\r\n'
                        b'import sys\nprint(sys.argv, sys.flags.no_site)\n'),
                       ('shell', b'#!/bin/sh\necho hi\n')):
        swiftclient.put_object(env['url'], env['token'], env['exec'], name,
                               body)
    with open(env['built']['files'], 'rb') as f:
        tools = _tar([('bin/files', f.read()),
                      ('etc/motd', b'hello from the tools image')])
    swiftclient.put_object(env['url'], env['token'], env['exec'],
                           'tools.tar', tools)
    swiftclient.put_object(env['url'], env['token'], env['exec'],
                           'notatar.tar', b'just some text\n' * 100)
    return env


def _post(env, job, json_report=True):
    return client.submit(env['url'], env['token'], json.dumps(job),
                         json_report=json_report)


def _python_map(env, script, out, **exe):
    return [{'name': 'py',
             'exec': dict({'path': 'file://python:bin/python',
                           'args': '/dev/input'}, **exe),
             'devices': [
                 {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                 {'name': 'input', 'path': 'swift://~/%s/%s' % (env['exec'],
                                                                script)},
                 {'name': 'stdout', 'path': 'swift://~/%s/*.%s' % (
                     env['out'], out)},
                 {'name': 'stderr'}]}]


def _get(env, container, name):
    return swiftclient.get_object(env['url'], env['token'], container,
                                  name)[1]


def test_a_python_script_maps_every_object(env, object_ring):
    answer = _post(env, _python_map(env, 'wc.py', 'count'))
    assert answer.status == 200, answer.body
    report = answer.report()
    assert [n['name'] for n in report['nodes']] == ['py-1', 'py-2', 'py-3']
    for node, name in zip(report['nodes'], ('a', 'b', 'c')):
        assert node['reason'] == 'ok' and node['stderr'] == '', node
        assert _get(env, env['out'], name + '.count') == \
            _count(CORPUS[name + '.txt'])
        # Next to its object, as a compiled program would be.
        holders = {'%s:%d' % (n['ip'], n['port']) for n in
                   object_ring.get_nodes('AUTH_test', env['data'],
                                         name + '.txt')[1]}
        assert node['server'].rsplit('/', 1)[0] in holders


def test_python_jobs_are_deterministic(env):
    first = _post(env, _python_map(env, 'random.py', 'r1'))
    again = _post(env, _python_map(env, 'random.py', 'r2'))
    assert first.status == again.status == 200, (first.body, again.body)
    for name in ('a', 'b', 'c'):
        one = _get(env, env['out'], name + '.r1')
        assert one == _get(env, env['out'], name + '.r2')
        assert one.startswith(b'0.') and b' 1577836800.' in one
    digests = [[(c['alias'], c['sha256']) for c in n['channels']
                if c.get('sha256')] for n in first.report()['nodes']]
    assert digests == [[(c['alias'], c['sha256']) for c in n['channels']
                        if c.get('sha256')] for n in again.report()['nodes']]
    assert all(len(d) == 2 for d in digests)     # stdout and stderr


def test_a_python_mapreduce_through_pipes(env):
    script = 'swift://~/%s/%%s' % env['exec']
    exe = {'path': 'file://python:bin/python', 'args': '/dev/input'}
    job = [{'name': 'map', 'exec': exe, 'connect': ['reduce'],
            'devices': [
                {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                {'name': 'input', 'path': script % 'map.py'},
                {'name': 'stderr'}]},
           {'name': 'reduce', 'exec': exe, 'count': 2,
            'devices': [
                {'name': 'input', 'path': script % 'reduce.py'},
                {'name': 'stdout', 'path': 'swift://~/%s/*.txt'
                 % env['out']},
                {'name': 'stderr'}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    merged = collections.Counter()
    for name in ('reduce-1.txt', 'reduce-2.txt'):
        for line in _get(env, env['out'], name).splitlines():
            n, word = line.split()
            assert word not in merged      # each word has one reducer
            merged[word] = int(n)
    expected = collections.Counter(re.findall(
        rb"[a-z0-9']+", b''.join(CORPUS.values()).lower()))
    assert merged == expected


LOG = b''.join(
    b'2026-11-21 host%d %s\n' % (i % 3, (b'Connection refused' if i % 4 == 0
                                         else b'connection REFUSED' if i % 5
                                         == 0 else b'ok'))
    for i in range(200))


def test_the_documented_pipeline_runs_as_written(env, programs, auth):
    """examples/jobs/pipeline.json verbatim: grep -> sort -> the python
    image running examples/uniq_count.py, into reports/refused.txt."""
    url, token = auth('tester')
    for container in ('exec', 'logs', 'scripts', 'reports'):
        swiftclient.put_container(url, token, container)
    for name in ('grep', 'sort'):
        with open(programs.build(name), 'rb') as f:
            swiftclient.put_object(url, token, 'exec', name, f)
    swiftclient.put_object(url, token, 'logs', '2026-11-21.log', LOG)
    with open(os.path.join(ROOT, 'examples', 'uniq_count.py'), 'rb') as f:
        swiftclient.put_object(url, token, 'scripts', 'uniq_count.py', f)
    with open(os.path.join(ROOT, 'examples', 'jobs', 'pipeline.json')) as f:
        answer = client.submit(url, token, f.read())
    assert answer.status == 200, answer.body
    headers, body = swiftclient.get_object(url, token, 'reports',
                                           'refused.txt')
    lines = sorted(line + b'\n' for line in LOG.splitlines()
                   if b'connection refused' in line.lower())
    counts = collections.Counter(lines)
    assert body == b''.join(b'%7d %s' % (n, line) for line, n in sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])))
    assert headers['x-object-meta-source'] == '2026-11-21.log'


def test_a_script_with_a_python_line_runs_as_its_own_program(env):
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wc' % env['exec']},
            'devices': [
                {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                {'name': 'stdout', 'path': 'swift://~/%s/*.scount'
                 % env['out']}]}]
    for _ in range(2):      # the second time the proxy knows the program
        answer = _post(env, job)
        assert answer.status == 200, answer.body
        for name in ('a', 'b', 'c'):
            assert _get(env, env['out'], name + '.scount') == \
                _count(CORPUS[name + '.txt'])
    node = answer.report()['nodes'][0]
    assert [c['alias'] for c in node['channels']] == [
        '/dev/stdin', '/dev/stdout', '/dev/python', '/dev/script']


def _script_map(env, script, out, content_type=None):
    """A map over the corpus by the python script object ``script``, given
    as the ``script`` device, writing ``*.<out>`` objects."""
    stdout = {'name': 'stdout',
              'path': 'swift://~/%s/*.%s' % (env['out'], out)}
    if content_type:
        stdout['content_type'] = content_type
    return [{'name': 'py',
             'exec': {'path': 'file://python:bin/python',
                      'args': '/dev/script'},
             'devices': [
                 {'name': 'script', 'path': 'swift://~/%s/%s'
                  % (env['exec'], script)},
                 {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                 stdout, {'name': 'stderr'}]}]


def test_a_script_device_holds_the_source_and_data_places_the_node(
        env, object_ring):
    answer = _post(env, _script_map(env, 'wc.py', 'dcount'))
    assert answer.status == 200, answer.body
    account = env['url'].rsplit('/', 1)[1]
    for node, name in zip(answer.report()['nodes'], ('a', 'b', 'c')):
        assert _get(env, env['out'], name + '.dcount') == \
            _count(CORPUS[name + '.txt'])
        # Beside its data, not its script.
        holders = {'%s:%d/%s' % (n['ip'], n['port'], n['device']) for n in
                   object_ring.get_nodes(account, env['data'],
                                         name + '.txt')[1]}
        assert node['server'] in holders
        assert '/dev/script' in [c['alias'] for c in node['channels']]


def test_a_hash_bang_program_with_a_script_device_is_refused(env):
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wc' % env['exec']},
            'devices': [{'name': 'script', 'path': 'swift://~/%s/wc.py'
                         % env['exec']}, {'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 400, answer.body
    assert b'is a #! script, read from /dev/script: the group cannot ' \
        b'have a script device as well' in answer.body


def test_a_stored_script_runs_on_the_posted_body(env):
    answer = client.submit(env['url'], env['token'], CORPUS['b.txt'],
                           source='swift://~/%s/wc' % env['exec'])
    assert answer.status == 200, answer.body
    assert answer.body == _count(CORPUS['b.txt'])


def test_a_stored_job_runs_the_posted_body_as_its_script(env):
    stored = [{'name': 'py',
               'exec': {'path': 'file://python:bin/python',
                        'args': '/dev/script'},
               'devices': [{'name': 'script'},
                           {'name': 'stdin', 'path': 'swift://~/%s/a.txt'
                            % env['data']},
                           {'name': 'stdout'}]}]
    swiftclient.put_object(env['url'], env['token'], env['exec'],
                           'runner.json', json.dumps(stored),
                           content_type='application/json')
    answer = client.submit(env['url'], env['token'], WORDCOUNT_PY,
                           source='swift://~/%s/runner.json' % env['exec'])
    assert answer.status == 200, answer.body
    assert answer.body == _count(CORPUS['a.txt'])


CHAIN_PY = b'''\
import collections, json, re, sys
exe, out = sys.argv[1:3]
words = re.findall(r"[a-z0-9']+", sys.stdin.read().lower())
with open('/dev/output', 'wb', buffering=0) as f:
    f.write(''.join('%d %s\\n' % (n, w) for w, n in sorted(
        collections.Counter(words).items(),
        key=lambda kv: (-kv[1], kv[0]))).encode())
job = [{'name': 'second', 'exec': {'path': 'file://python:bin/python',
                                   'args': '/dev/script'},
        'devices': [{'name': 'script', 'path': 'swift://~/%s/upper.py' % exe},
                    {'name': 'stdin', 'path': 'swift://~/%s/chained.count'
                     % out},
                    {'name': 'stdout', 'content_type': 'message/cgi'}]}]
sys.stdout.write('X-Zerovm-Execute: 1.0\\nContent-Type: application/json'
                 '\\n\\n' + json.dumps(job))
'''
UPPER_PY = (b"import sys\nsys.stdout.write('Content-Type: text/plain\\n\\n'"
            b" + sys.stdin.read().upper())\n")


def test_a_job_chain_reads_what_the_job_before_wrote(env):
    for name, body in (('chain.py', CHAIN_PY), ('upper.py', UPPER_PY)):
        swiftclient.put_object(env['url'], env['token'], env['exec'], name,
                               body)
    job = [{'name': 'first',
            'exec': {'path': 'file://python:bin/python',
                     'args': '/dev/script %s %s' % (env['exec'], env['out'])},
            'devices': [
                {'name': 'script', 'path': 'swift://~/%s/chain.py'
                 % env['exec']},
                {'name': 'stdin', 'path': 'swift://~/%s/a.txt' % env['data']},
                {'name': 'output', 'path': 'swift://~/%s/chained.count'
                 % env['out']},
                {'name': 'stdout', 'content_type': 'message/cgi'},
                {'name': 'stderr'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    # The second job read the first one's output, written before it ran.
    assert answer.body == _count(CORPUS['a.txt']).upper()
    assert answer.headers['x-zerocloud-chain-length'] == '2'
    assert float(answer.headers['x-chain-total-time']) > 0
    assert answer.headers['x-nexe-system'] == 'second'
    assert _get(env, env['out'], 'chained.count') == _count(CORPUS['a.txt'])
    # The second job's input is missing (it looks in the data container):
    # refused as the chain's job 2, not as if the request had asked it.
    job[0]['exec']['args'] = '/dev/script %s %s' % (env['exec'], env['data'])
    answer = _post(env, job, json_report=False)
    assert answer.status == 404, answer.body
    assert answer.body.startswith(b'job 2 of the chain: object swift://')
    assert answer.headers['x-zerocloud-chain-length'] == '2'


def test_a_cgi_output_object_sets_its_own_type_and_metadata(env):
    script = (b"import sys\nwords = sys.stdin.read().split()\n"
              b"sys.stdout.write('Content-Type: text/csv\\n"
              b"X-Object-Meta-Words: %d\\n\\n' % len(words))\n"
              b"sys.stdout.write(','.join(words))\n")
    swiftclient.put_object(env['url'], env['token'], env['exec'], 'csv.py',
                           script)
    job = _script_map(env, 'csv.py', 'csv', 'message/cgi')
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    for name in ('a', 'b', 'c'):
        headers, body = swiftclient.get_object(env['url'], env['token'],
                                               env['out'], name + '.csv')
        words = CORPUS[name + '.txt'].split()
        assert body == b','.join(words)
        assert headers['content-type'] == 'text/csv'
        assert headers['x-object-meta-words'] == str(len(words))


def test_a_script_gets_its_line_s_argument_then_the_job_s(env):
    job = [{'name': 'argv', 'exec': {'path': 'swift://~/%s/argv'
                                     % env['exec'], 'args': 'a "b c"'},
            'devices': [{'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == b"['/dev/script', 'a', 'b c'] 1\n"


def test_a_script_for_another_interpreter_is_refused(env):
    job = [{'name': 'sh', 'exec': {'path': 'swift://~/%s/shell'
                                   % env['exec']},
            'devices': [{'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 400
    assert answer.body.startswith(
        b'exec swift://AUTH_test/%s/shell: its "#!" line "#!/bin/sh" names '
        b'no system image' % env['exec'].encode())


def test_a_posted_script_runs_and_answers_its_stdout(env):
    script = (b'#!/usr/bin/env python3\n'
              b'import os, sys\n'
              b'print(sys.argv, sorted(os.listdir("/dev")), 6 * 7)\n')
    answer = client.submit(env['url'], env['token'], script)
    assert answer.status == 200, answer.body
    assert answer.body == (b"['/dev/script'] ['in', 'out', 'python', "
                           b"'script', 'stderr', 'stdout'] 42\n")
    failing = client.submit(env['url'], env['token'],
                            b'#!/usr/bin/env python3\nraise SystemExit(3)\n')
    assert failing.status == 424
    node, = failing.report()['nodes']
    assert (node['name'], node['exit_code']) == ('script', 3)
    refused = client.submit(env['url'], env['token'], b'#!/bin/sh\necho\n')
    assert refused.status == 400


def test_a_script_posted_to_an_object_reads_it_next_to_it(env, auth,
                                                          object_ring):
    name, container = 'caf\u00e9 menu.txt', env['data'] + '-menus'
    swiftclient.put_container(env['url'], env['token'], container)
    swiftclient.put_object(env['url'], env['token'], container, name,
                           b'soup and bread and soup\n')
    script = b'#!/usr/bin/env python3\n' + WORDCOUNT_PY
    where = '%s/%s/%s' % (env['url'], container, urllib.parse.quote(name))
    answer = client.submit(where, env['token'], script, json_report=True)
    assert answer.status == 200, answer.body
    node, = answer.report()['nodes']
    holders = {'%s:%d' % (n['ip'], n['port']) for n in object_ring.get_nodes(
        'AUTH_test', container, name)[1]}
    assert node['server'].rsplit('/', 1)[0] in holders
    assert client.submit(where, env['token'], script).body == \
        b'2 and\n2 soup\n1 bread\n'
    # As the caller: another account's user may not read it.
    url2, token2 = auth('tester2')
    other = url2.replace('AUTH_test2', 'AUTH_test') + where[len(env['url']):]
    denied = client.submit(other, token2, script)
    assert denied.status == 403, denied.body
    missing = client.submit(where + 'x', env['token'], script)
    assert missing.status == 404 and name.encode() + b'x' in missing.body
    assert client.submit(where, env['token'], {'a': 1}).status == 400


def test_only_the_account_s_owners_run_what_touches_no_object(env, auth):
    script = b'#!/usr/bin/env python3\nprint(1)\n'
    url3, token3 = auth('tester3')      # a user of AUTH_test, not its admin
    url2, token2 = auth('tester2')
    for url, token, status in [(url3, token3, 403), (url3, 'nope', 401),
                               (url3, token2, 403)]:
        answer = client.submit(url, token, script)
        assert answer.status == status, answer.body
    assert client.submit(url2, token2, script).status == 200   # its own


def _post_archive(env, members):
    import http.client
    import urllib.parse
    body = _tar(members)
    url = urllib.parse.urlsplit(env['url'])
    conn = http.client.HTTPConnection(url.netloc, timeout=60)
    try:
        conn.request('POST', url.path, body=body, headers={
            'X-Auth-Token': env['token'], 'X-Zerovm-Execute': '1.0',
            'Content-Type': 'application/x-tar'})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_an_application_archive_runs_its_system_map(env):
    with open(env['built']['files'], 'rb') as f:
        tool = f.read()
    smap = [{'name': 'tool',
             'exec': {'path': 'file://image:bin/files',
                      'args': 'cat /etc/motd cat /dev/stdin'},
             'devices': [{'name': 'stdin', 'path': 'swift://~/%s/a.txt'
                          % env['data']},
                         {'name': 'stdout'}]}]
    status, body = _post_archive(env, [
        ('boot/system.map', json.dumps(smap).encode()), ('bin/files', tool),
        ('etc/motd', b'from the archive')])
    assert status == 200, body
    assert body == b'from the archive\n' + CORPUS['a.txt'] + b'\n'


def test_a_python_application_archive(env):
    smap = [{'name': 'app',
             'exec': {'path': 'file://python:bin/python',
                      'args': '/app/main.py'},
             'devices': [{'name': 'stdout'}]}]
    status, body = _post_archive(env, [
        ('boot/system.map', json.dumps(smap).encode()),
        ('app/main.py', b'import os, helper\n'
         b'print(helper.GREETING, sorted(os.listdir("/")))\n'),
        ('app/helper.py', b'GREETING = "hello from the app"\n')])
    assert status == 200, body
    assert body == (b"hello from the app ['app', 'bin', 'boot', 'dev', "
                    b"'lib']\n")


def test_an_archive_without_its_job_is_refused(env):
    status, body = _post_archive(env, [('app/main.py', b'print(1)\n')])
    assert status == 400
    assert body.startswith(b'the application archive has no boot/system.map')


def test_zerocloud_submit_posts_a_script(env, cluster, tmp_path, capfd,
                                         monkeypatch):
    from zerocloud import cli
    monkeypatch.setenv('OS_STORAGE_URL', env['url'])
    monkeypatch.setenv('OS_AUTH_TOKEN', env['token'])
    path = tmp_path / 'hello.py'
    path.write_bytes(b'#!/usr/bin/env python3\nprint("hello", 6 * 7)\n')
    assert cli.main(['submit', str(path)]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ('hello 42\n', '')
    # And an application archive.
    app = tmp_path / 'app.tar'
    app.write_bytes(_tar([
        ('boot/system.map', json.dumps([{
            'name': 'app', 'exec': {'path': 'file://python:bin/python3',
                                    'args': '/app/main.py'},
            'devices': [{'name': 'stdout'}]}]).encode()),
        ('app/main.py', b'print("app", 6 * 7)\n')]))
    assert cli.main(['submit', str(app)]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ('app 42\n', '')
    # A script POSTed to an object reads it.
    path.write_bytes(b'#!/usr/bin/env python3\n'
                     b'import sys; print(len(sys.stdin.read()))\n')
    assert cli.main(['submit', str(path), '--object',
                     '%s/c.txt' % env['data']]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ('%d\n' % len(CORPUS['c.txt']), '')


def test_a_failing_script_fails_the_job_and_writes_nothing(env):
    answer = _post(env, _python_map(env, 'fail.py', 'failed'))
    assert answer.status == 424, answer.body
    report = answer.report()
    assert report['status'] == answer.status
    assert {n['reason'] for n in report['nodes']} == {'exit'}
    assert {n['exit_code'] for n in report['nodes']} == {1}
    assert 'ValueError: no good: the' in report['nodes'][0]['stderr']
    listing = swiftclient.get_container(env['url'], env['token'],
                                        env['out'])[1]
    assert not [o for o in listing if o['name'].endswith('.failed')]


def test_the_job_s_own_image_holds_its_program_and_files(env):
    job = [{'name': 'tools',
            'exec': {'path': 'file://image:bin/files',
                     'args': 'cat /etc/motd ls /bin'},
            'devices': [
                {'name': 'image', 'path': 'swift://~/%s/tools.tar'
                 % env['exec']},
                {'name': 'stdout'}]}]
    answer = _post(env, job, json_report=False)
    assert answer.status == 200, answer.body
    assert answer.body == (b'hello from the tools image\n'
                           b'ls /bin: ./ ../ files\n')


def test_an_image_device_that_is_not_a_tar_is_named(env):
    job = [{'name': 'tools',
            'exec': {'path': 'file://image:bin/files'},
            'devices': [
                {'name': 'image', 'path': 'swift://~/%s/notatar.tar'
                 % env['exec']},
                {'name': 'stdout'}]}]
    answer = _post(env, job)
    assert answer.status == 415, answer.body
    report = answer.report()
    assert report['message'] == 'unusable image: node "tools"'
    assert 'device /dev/image is not an uncompressed tar archive' in \
        report['nodes'][0]['error']


def test_a_program_missing_from_the_image_is_named(env):
    job = _python_map(env, 'wc.py', 'never')
    job[0]['exec']['path'] = 'file://python:bin/pyton'
    answer = _post(env, job)
    assert answer.status == 422, answer.body
    report = answer.report()
    assert report['message'] == \
        'invalid program: nodes "py-1", "py-2", "py-3"'
    assert '"bin/pyton" is not a file of image "python"' in \
        report['nodes'][0]['error']


def test_an_unknown_system_image_is_refused_before_anything_runs(env):
    job = _python_map(env, 'wc.py', 'never')
    job[0]['exec']['path'] = 'file://ruby:bin/ruby'
    answer = _post(env, job)
    assert answer.status == 400
    assert b'unknown system image "ruby"' in answer.body


LUA_WORDCOUNT = b'''#!/usr/bin/env lua
local counts, words = {}, {}
for w in io.read("a"):lower():gmatch("[%a%d']+") do
  if not counts[w] then counts[w] = 0; words[#words + 1] = w end
  counts[w] = counts[w] + 1
end
table.sort(words, function(a, b)
  if counts[a] ~= counts[b] then return counts[a] > counts[b] end
  return a < b
end)
for _, w in ipairs(words) do io.write(counts[w], " ", w, "\\n") end
'''


def test_a_lua_script_maps_every_object(env, lua_image):
    swiftclient.put_object(env['url'], env['token'], env['exec'], 'wc.lua',
                           LUA_WORDCOUNT)
    job = [{'name': 'lua',
            'exec': {'path': 'swift://~/%s/wc.lua' % env['exec']},
            'devices': [
                {'name': 'stdin', 'path': 'swift://~/%s/*.txt' % env['data']},
                {'name': 'stdout', 'path': 'swift://~/%s/*.lcount'
                 % env['out']}]}]
    answer = _post(env, job)
    assert answer.status == 200, answer.body
    for name in ('a', 'b', 'c'):
        assert _get(env, env['out'], name + '.lcount') == \
            _count(CORPUS[name + '.txt'])
    node = answer.report()['nodes'][0]
    assert [c['alias'] for c in node['channels']][-2:] == [
        '/dev/lua', '/dev/script']


def test_info_publishes_the_system_images(cluster):
    with urllib.request.urlopen(cluster.proxy_url + '/info',
                                timeout=10) as resp:
        info = json.loads(resp.read())
    assert info['zerocloud']['system_images'] == ['lua', 'python']
