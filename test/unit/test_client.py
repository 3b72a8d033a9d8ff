# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The client helpers behind 'zerocloud submit' and 'zerocloud demo'."""
import http.server
import io
import json
import os
import threading

import pytest

from zerocloud import client


def test_credentials_come_from_the_environment(monkeypatch):
    monkeypatch.setenv('OS_STORAGE_URL', 'http://127.0.0.1:1/v1/AUTH_x')
    monkeypatch.setenv('OS_AUTH_TOKEN', 'tok')
    assert client.authenticate() == ('http://127.0.0.1:1/v1/AUTH_x', 'tok')


@pytest.fixture
def auth_calls(monkeypatch):
    """A fake swiftclient.get_auth: the list of its calls' arguments; it
    answers ``http://fresh/v1/AUTH_u`` and ``fresh``."""
    import swiftclient
    calls = []

    def get_auth(*args, **kwargs):
        calls.append(args)
        return 'http://fresh/v1/AUTH_u', 'fresh'
    monkeypatch.setattr(swiftclient, 'get_auth', get_auth)
    for k in ('ST_AUTH', 'ST_USER', 'ST_KEY'):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv('OS_STORAGE_URL', 'http://stale/v1/AUTH_x')
    monkeypatch.setenv('OS_AUTH_TOKEN', 'stale')
    return calls


def test_explicit_credentials_win_over_a_token_in_the_environment(
        auth_calls):
    assert client.authenticate('http://a/auth/v1.0', 'u:u', 'k') == (
        'http://fresh/v1/AUTH_u', 'fresh')
    assert auth_calls == [('http://a/auth/v1.0', 'u:u', 'k')]
    # Without them, the environment's token is used as it is.
    assert client.authenticate() == ('http://stale/v1/AUTH_x', 'stale')
    assert client.authenticate(token='mine') == (
        'http://stale/v1/AUTH_x', 'mine')
    assert len(auth_calls) == 1


def test_a_storage_url_without_a_token_is_used_after_authenticating(
        auth_calls, monkeypatch):
    assert client.authenticate('http://a/auth/v1.0', 'u:u', 'k',
                               'http://other/v1/AUTH_y') == (
        'http://other/v1/AUTH_y', 'fresh')
    monkeypatch.delenv('OS_AUTH_TOKEN')
    assert client.authenticate('http://a/auth/v1.0', 'u:u', 'k') == (
        'http://stale/v1/AUTH_x', 'fresh')
    monkeypatch.setenv('ST_AUTH', 'http://a/auth/v1.0')
    monkeypatch.setenv('ST_USER', 'u:u')
    monkeypatch.setenv('ST_KEY', 'k')
    assert client.authenticate() == ('http://stale/v1/AUTH_x', 'fresh')
    assert len(auth_calls) == 3


def test_missing_credentials_say_what_to_give(monkeypatch):
    for k in ('OS_STORAGE_URL', 'OS_AUTH_TOKEN', 'ST_AUTH', 'ST_USER',
              'ST_KEY'):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(client.ClientError, match='-A/-U/-K'):
        client.authenticate()


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        self.seen.append((self.path, dict(self.headers), body))
        data = json.dumps({'status': 'ok', 'nodes': [
            {'name': 'count-1', 'server': '127.0.0.1:6010/sdb',
             'exit_code': 0, 'reason': 'ok', 'cpu_user_ms': 2,
             'cpu_sys_ms': 1, 'wall_ms': 5, 'max_rss_kb': 600}]}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_submit_posts_the_job_and_reads_the_report():
    server = http.server.HTTPServer(('127.0.0.1', 0), _Recorder)
    t = threading.Thread(target=server.handle_request)
    t.start()
    try:
        url = 'http://127.0.0.1:%d/v1/AUTH_test' % server.server_port
        answer = client.submit(url, 'tok', [{'name': 'x'}],
                               json_report=True, dry_run=True)
    finally:
        t.join()
        server.server_close()
    path, headers, body = _Recorder.seen[-1]
    assert path == '/v1/AUTH_test'
    assert headers['X-Zerovm-Execute'] == '1.0'
    assert headers['X-Auth-Token'] == 'tok'
    assert headers['Content-Type'] == 'application/json'
    assert headers['Accept'] == 'application/json'
    assert headers['X-Zerocloud-Dry-Run'] == '1'
    assert json.loads(body) == [{'name': 'x'}]
    assert answer.ok
    table = client.format_nodes(answer.report())
    assert table.splitlines()[1].split() == [
        'count-1', '127.0.0.1:6010/sdb', '0', 'ok', '3', '5', '600']


def test_a_replicated_node_shows_the_servers_its_copies_ran_on():
    node = {'name': 'g', 'server': 'B', 'exit_code': 0, 'reason': 'ok',
            'copies': [{'server': 'A', 'ran': True, 'used': False},
                       {'server': 'C', 'ran': False, 'used': False},
                       {'server': 'B', 'ran': True, 'used': True}]}
    table = client.format_nodes({'nodes': [node]})
    assert table.splitlines()[1].split()[:2] == ['g', 'B+A']


def test_unreachable_cluster_is_a_client_error():
    with pytest.raises(client.ClientError, match='cannot reach'):
        client.submit('http://127.0.0.1:9/v1/AUTH_x', 't', [], timeout=2)


def test_failures_name_each_failed_node_and_the_end_of_its_stderr():
    report = {'status': 424, 'ok': False,
              'message': 'program failed: nodes "a", "b"', 'nodes': [
                  {'name': 'ok-1', 'failure': None, 'reason': 'ok'},
                  {'name': 'a', 'failure': 'program', 'reason': 'exit',
                   'exit_code': 3, 'message': '',
                   'stderr': ''.join('line %d\n' % i for i in range(12))},
                  {'name': 'b', 'failure': 'program', 'reason': 'signal',
                   'signal': 11, 'message': 'SIGSEGV', 'stderr': None},
                  {'name': 'c', 'failure': 'unavailable', 'reason': None,
                   'error': 'no object server could run node "c": tried '
                            'x (503)'}]}
    lines = client.format_failures(report).splitlines()
    assert lines[0] == 'program failed: nodes "a", "b"'
    assert lines[1] == 'node a: exit code 3'
    assert lines[2:12] == ['  stderr: line %d' % i for i in range(2, 12)]
    assert lines[12] == 'node b: killed by signal 11: SIGSEGV'
    assert lines[13] == 'node c: no object server could run node "c": ' \
        'tried x (503)'
    assert len(lines) == 14


def test_no_failures_for_a_job_that_did_not_fail():
    assert client.format_failures({'status': 200, 'ok': True,
                                   'message': 'every node exited 0',
                                   'nodes': [{'name': 'a', 'failure': None}]
                                   }) == ''


def test_the_demo_says_why_its_job_failed_the_same_way():
    from zerocloud import demo
    report = {'status': 424, 'ok': False, 'message': 'program failed: '
              'node "map-1"', 'nodes': [
                  {'name': 'map-1', 'failure': 'program', 'reason': 'exit',
                   'exit_code': 1, 'stderr': 'wc_map: out of memory\n'}]}
    answer = client.Answer(424, 'Failed Dependency',
                           {'content-type': 'application/json'},
                           json.dumps(report).encode())
    out = io.StringIO()
    assert demo._failed(out, answer) == 1
    assert out.getvalue().splitlines() == [
        'program failed: node "map-1"', 'node map-1: exit code 1',
        '  stderr: wc_map: out of memory',
        'zerocloud demo: the MapReduce job failed: 424 Failed Dependency']


class _Answering(http.server.BaseHTTPRequestHandler):
    """Answers every POST with ``status``, ``ctype`` and ``body``, claiming
    ``length`` bytes (default: the body's) and then closing."""
    status, ctype, body, length = 200, 'text/plain', b'', None

    def do_POST(self):
        self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(self.status)
        self.send_header('Content-Type', self.ctype)
        self.send_header('Content-Length', str(
            self.length if self.length is not None else len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)
        self.close_connection = True

    def log_message(self, *args):
        pass


def _answer_with(stream_to, **answer):
    handler = type('Handler', (_Answering,), answer)
    server = http.server.HTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=server.handle_request)
    t.start()
    try:
        url = 'http://127.0.0.1:%d/v1/AUTH_test' % server.server_port
        return client.submit(url, 'tok', [{'name': 'x'}],
                             stream_to=stream_to)
    finally:
        t.join()
        server.server_close()


def test_a_stdout_body_is_streamed_not_held():
    out = io.BytesIO()
    body = os.urandom(3 * client.CHUNK + 5)
    answer = _answer_with(out, body=body)
    assert answer.ok and answer.streamed == len(body)
    assert answer.body == b'' and out.getvalue() == body
    # A report (success or not) is never streamed: it is read for the table.
    report = json.dumps({'status': 424, 'nodes': []}).encode()
    answer = _answer_with(out, status=424, ctype='application/json',
                          body=report)
    assert answer.streamed is None and answer.body == report
    assert out.getvalue() == body


def test_a_stdout_body_cut_short_is_an_error():
    with pytest.raises(client.ClientError,
                       match='broke off after 1000 of its 5000 bytes'):
        _answer_with(io.BytesIO(), body=b'x' * 1000, length=5000)


def test_submit_says_when_to_try_again_after_a_503(monkeypatch, capfd,
                                                   tmp_path):
    from zerocloud import cli
    report = {'status': 503, 'ok': False, 'message': 'no object server '
              'could run: node "a"', 'nodes': [], 'outputs': []}
    answer = client.Answer(503, 'Service Unavailable', {
        'retry-after': '1', 'content-type': 'application/json'},
        json.dumps(report).encode())
    monkeypatch.setattr(client, 'authenticate', lambda *a: ('u', 't'))
    monkeypatch.setattr(client, 'submit', lambda *a, **k: answer)
    job = tmp_path / 'job.json'
    job.write_text('[]')
    assert cli.main(['submit', str(job)]) == 1
    err = capfd.readouterr().err
    assert err.splitlines()[-1] == ('zerocloud: try again in 1 s '
                                    '(Retry-After)')
    answer.headers.pop('retry-after')
    assert cli.main(['submit', str(job)]) == 1
    assert 'Retry-After' not in capfd.readouterr().err


@pytest.mark.parametrize('fmt', ['ustar', 'gnu', 'pax'])
def test_a_tar_is_posted_as_an_application_archive(fmt):
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format={
            'ustar': tarfile.USTAR_FORMAT, 'gnu': tarfile.GNU_FORMAT,
            'pax': tarfile.PAX_FORMAT}[fmt]) as tar:
        info = tarfile.TarInfo('boot/system.map')
        info.size = 2
        tar.addfile(info, io.BytesIO(b'[]'))
    assert client.body_type(buf.getvalue()) == 'application/x-tar'
    assert client.body_type(b'#!/usr/bin/env python3\n') == 'text/plain'
    assert client.body_type(b'[{"name": "x"}]') == 'application/json'
    assert client.body_type(b'') == 'application/json'


def test_object_url_quotes_the_name_under_the_account():
    url = 'http://127.0.0.1:8080/v1/AUTH_test'
    assert client.object_url(url, 'data/caf\u00e9 menu.txt') == (
        url + '/data/caf%C3%A9%20menu.txt')
    assert client.object_url(url + '/', '/data/dir/a.txt') == (
        url + '/data/dir/a.txt')
    for bad in ('data', 'data/', '/a'):
        with pytest.raises(client.ClientError):
            client.object_url(url, bad)


@pytest.fixture
def submitted(monkeypatch):
    """``zerocloud submit`` against a fake client.submit: the list of its
    calls, ``(url, body, keywords)``; every answer is 200 with "out"."""
    calls = []

    def submit(url, token, body, **kw):
        calls.append((url, body, kw))
        return client.Answer(200, 'OK', {'content-type': 'text/plain'},
                             b'out\n')
    monkeypatch.setattr(client, 'authenticate',
                        lambda *a: ('http://p/v1/AUTH_t', 't'))
    monkeypatch.setattr(client, 'submit', submit)
    return calls


def test_submit_object_posts_to_the_object_s_url(submitted, capfd,
                                                 tmp_path):
    from zerocloud import cli
    script = tmp_path / 'count.py'
    script.write_bytes(b'#!/usr/bin/env python3\nprint(3)\n')
    assert cli.main(['submit', str(script), '--object', 'd/a b']) == 0
    assert [url for url, _, _ in submitted] == ['http://p/v1/AUTH_t/d/a%20b']
    assert cli.main(['submit', str(script), '--object', 'd']) == 1
    assert capfd.readouterr().err.splitlines()[-1] == (
        'zerocloud: d: not CONTAINER/OBJECT')
    assert len(submitted) == 1


def test_submit_source_posts_the_file_as_data(submitted, capfd, tmp_path):
    from zerocloud import cli
    data = tmp_path / 'data.csv'
    data.write_bytes(b'b\na\n')
    src = 'swift://~/apps/sort.zapp'
    assert cli.main(['submit', '--source', src, str(data)]) == 0
    assert cli.main(['submit', '--source', src]) == 0
    assert [(body, kw['source']) for _, body, kw in submitted] == [
        (b'b\na\n', src), (b'', src)]
    assert capfd.readouterr().out == 'out\nout\n'
    assert cli.main(['submit']) == 2
    assert 'give JOB.json' in capfd.readouterr().err


def test_submit_with_source_sends_the_header(monkeypatch):
    seen = {}

    class Conn:
        def __init__(self, netloc, timeout):
            pass

        def request(self, method, path, body, headers):
            seen.update(headers, body=body)

        def getresponse(self):
            raise OSError('stop here')

        def close(self):
            pass
    monkeypatch.setattr(client.http.client, 'HTTPConnection', Conn)
    with pytest.raises(client.ClientError):
        client.submit('http://p/v1/AUTH_t', 't', b'#!data',
                      source='swift://~/a/b')
    assert seen['X-Zerovm-Source'] == 'swift://~/a/b'
    assert seen['Content-Type'] == 'application/octet-stream'
    assert seen['body'] == b'#!data'


@pytest.mark.parametrize('url', ['http://x/y/z', 'swift://AUTH_a/c',
                                 'swift:///c/o', '.zvm/job-1'])
def test_a_deferred_answer_needs_a_swift_object_url(url):
    with pytest.raises(client.ClientError, match='not swift://ACCOUNT/'):
        client.deferred_answer('http://127.0.0.1:9/v1/AUTH_a', 't', url)


def test_failures_escape_a_node_s_terminal_controls():
    report = {'status': 424, 'ok': False, 'nodes': [
        {'name': 'a\x1b[2J', 'failure': 'program', 'reason': 'exit',
         'exit_code': 1,
         'stderr': '\x1b[31mred\x1b[0m\tok\n\x1b]0;owned\x07\nend\rx\n'}]}
    assert client.format_failures(report).split('\n') == [
        'node a\\x1b[2J: exit code 1',
        '  stderr: \\x1b[31mred\\x1b[0m\tok',
        '  stderr: \\x1b]0;owned\\x07',
        '  stderr: end\\x0dx', '']


def test_the_node_table_escapes_terminal_controls():
    table = client.format_nodes({'nodes': [
        {'name': 'x\x1b[31m\n', 'reason': 'ok\x9b'}]})
    assert '\x1b' not in table and '\x9b' not in table
    assert table.splitlines()[1].split()[:4] == [
        'x\\x1b[31m\\x0a', '-', '-', 'ok\\x9b']


class _Auth(http.server.BaseHTTPRequestHandler):
    """A v1 auth service answering every GET with ``status``, ``headers``
    and ``body``."""
    status, headers, body = 200, {}, b''

    def do_GET(self):
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _authenticate_with(monkeypatch, **answer):
    for k in ('OS_STORAGE_URL', 'OS_AUTH_TOKEN'):
        monkeypatch.delenv(k, raising=False)
    handler = type('Handler', (_Auth,), dict(
        answer, headers_out=answer.pop('headers', {})))
    server = http.server.HTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=server.serve_forever)
    t.start()
    try:
        url = 'http://127.0.0.1:%d/auth/v1.0' % server.server_port
        return client.authenticate(url, 'test:tester', 'wrong')
    finally:
        server.shutdown()
        t.join()
        server.server_close()


def test_a_refused_authentication_is_one_clean_line(monkeypatch):
    with pytest.raises(client.ClientError) as caught:
        _authenticate_with(monkeypatch, status=401,
                           body=b'<html><h1>Unauthorized</h1>' + b'x' * 200)
    assert str(caught.value) == ('authentication failed: 401 Unauthorized '
                                 '(check -U/-K or ST_USER/ST_KEY)')


@pytest.mark.parametrize('body', [b'', b'<html>welcome</html>'])
def test_an_auth_answer_without_a_storage_url_is_an_error(monkeypatch, body):
    with pytest.raises(client.ClientError,
                       match='answered without X-Storage-Url'):
        _authenticate_with(monkeypatch, headers={'X-Auth-Token': 't'},
                           body=body)


@pytest.fixture
def silent_server():
    """The URL of a server that accepts connections and never answers."""
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(8)
    yield 'http://127.0.0.1:%d' % sock.getsockname()[1]
    sock.close()


def test_a_silent_cluster_is_given_up_after_the_timeout(silent_server):
    import time
    start = time.monotonic()
    with pytest.raises(client.ClientError,
                       match='no answer from .* within 0.5 s'):
        client.submit(silent_server + '/v1/AUTH_t', 't', [], timeout=0.5)
    assert time.monotonic() - start < 5


def test_a_silent_auth_service_is_given_up_after_a_bounded_timeout(
        silent_server, monkeypatch):
    with pytest.raises(client.ClientError,
                       match='no answer from .* within 0.5 s'):
        client.authenticate(silent_server + '/auth/v1.0', 'u', 'k',
                            timeout=0.5)
    import swiftclient
    seen = []
    monkeypatch.setattr(swiftclient, 'get_auth', lambda *a, **k: (
        seen.append(k['timeout']) or ('http://s/v1/AUTH_u', 't')))
    client.authenticate('http://a/auth/v1.0', 'u', 'k', timeout=3600)
    client.authenticate('http://a/auth/v1.0', 'u', 'k')
    assert seen == [client.AUTH_TIMEOUT] * 2


def _raw_server(data):
    """The URL of a server answering one request with ``data``, and the
    thread serving it."""
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)

    def serve():
        conn, _ = sock.accept()
        conn.recv(65536)
        conn.sendall(data)
        conn.close()
        sock.close()
    t = threading.Thread(target=serve)
    t.start()
    return 'http://127.0.0.1:%d/v1/AUTH_t' % sock.getsockname()[1], t


@pytest.mark.parametrize('data, why', [
    (b'SSH-2.0-OpenSSH_9.6\r\n', 'did not answer in HTTP: BadStatusLine'),
    (b'', 'closed the connection without answering')])
def test_an_answer_that_is_not_http_is_a_client_error(data, why):
    url, t = _raw_server(data)
    try:
        with pytest.raises(client.ClientError, match=why):
            client.submit(url, 't', [], timeout=5)
    finally:
        t.join()


class _Deferred(http.server.BaseHTTPRequestHandler):
    """A deferred answer stored as ``/v1/AUTH_t/.zvm-deferred/job-1``."""
    body = b''
    stored = {'status': '200 OK', 'headers': {'Content-Type': 'text/plain'}}

    def do_GET(self):
        if self.path.endswith('.headers'):
            data = json.dumps(self.stored).encode()
        else:
            data = self.body
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _deferred(stream_to, **attrs):
    server = http.server.HTTPServer(('127.0.0.1', 0),
                                    type('Handler', (_Deferred,), attrs))
    t = threading.Thread(target=server.serve_forever)
    t.start()
    try:
        url = 'http://127.0.0.1:%d/v1/AUTH_t' % server.server_port
        return client.deferred_answer(
            url, 't', 'swift://AUTH_t/.zvm-deferred/job-1',
            stream_to=stream_to)
    finally:
        server.shutdown()
        t.join()
        server.server_close()


def test_a_deferred_stdout_is_streamed_not_held():
    out = io.BytesIO()
    body = os.urandom(3 * client.CHUNK + 5)
    answer = _deferred(out, body=body)
    assert answer.ok and answer.streamed == len(body)
    assert answer.body == b'' and out.getvalue() == body
    # A report is read for the table, as submit's.
    report = json.dumps({'status': 424, 'nodes': []}).encode()
    answer = _deferred(out, body=report, stored={
        'status': '424 Failed Dependency',
        'headers': {'Content-Type': 'application/json'}})
    assert answer.streamed is None and answer.body == report
    assert answer.report() == {'status': 424, 'nodes': []}
