# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The object filter in the real cluster, with the real sandbox.

Execution requests are built by hand (as the proxy filter will build them,
``doc/internals.rst``) and sent straight to object servers chosen with the
object ring.  Every test checks that the object servers keep no temp
files and no child processes afterwards.
"""
import http.client
import io
import json
import socket
import tarfile
import time
import urllib.parse

import pytest
import swiftclient

from zerocloud.middleware import object as objfilter

from .leaks import assert_nothing_left

ACCOUNT = 'AUTH_test'
CONTAINER = 'zc-objfilter'
TEXT = b'It was the best of times, it was the worst of times.\n' * 200


@pytest.fixture(scope='module')
def stored(cluster, auth):
    url, token = auth('tester')
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
    try:
        conn.put_container(CONTAINER)
        conn.put_object(CONTAINER, 'book.txt', TEXT)
    finally:
        conn.close()
    return 'book.txt'


def _spec(argv, limits=None, local=True):
    channels = [{'alias': '/dev/stdout', 'direction': 'w',
                 'kind': 'response'},
                {'alias': '/dev/stderr', 'direction': 'w',
                 'kind': 'response'}]
    if local:
        channels.insert(0, {'alias': '/dev/stdin', 'direction': 'r',
                            'kind': 'object', 'local': True,
                            'path': 'swift://%s/%s/book.txt'
                                    % (ACCOUNT, CONTAINER)})
    return {'version': 1, 'node': 'node-1', 'account': ACCOUNT,
            'argv': argv, 'env': {}, 'seed': 0, 'limits': limits or {},
            'exec': {'path': 'swift://%s/exec/prog' % ACCOUNT},
            'channels': channels}


def _tar(spec, program_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w',
                      format=tarfile.PAX_FORMAT) as t:
        data = json.dumps(spec).encode()
        info = tarfile.TarInfo('spec.json')
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        t.add(program_path, arcname='exec')
    return buf.getvalue()


def _where(cluster, object_ring, obj):
    part, nodes = object_ring.get_nodes(ACCOUNT, CONTAINER, obj)
    ports = {n['port'] for n in nodes}
    holders = [n for n in nodes]
    others = [{'ip': s.ip, 'port': s.port, 'device': s.device}
              for s in cluster.object_servers if s.port not in ports]
    return part, holders, others


def _path(node, part, obj):
    return '/%s/%d/%s/%s/%s' % (node['device'], part, ACCOUNT, CONTAINER,
                                urllib.parse.quote(obj))


def _headers(body):
    return {objfilter.EXECUTE_HEADER: '1',
            'X-Backend-Storage-Policy-Index': '0',
            'X-Timestamp': '%.5f' % time.time(),
            'X-Trans-Id': 'tx-objfilter-test',
            'Content-Type': 'application/x-tar',
            'Content-Length': str(len(body))}


def _post(node, path, body, headers=None):
    conn = http.client.HTTPConnection(node['ip'], node['port'], timeout=60)
    try:
        conn.request('POST', path, body=body,
                     headers=_headers(body) if headers is None else headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _members(body):
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers()}


def test_wordcount_runs_on_the_local_object(cluster, object_ring, stored,
                                            programs, sandbox):
    wc = programs.build('wordcount')
    part, holders, _ = _where(cluster, object_ring, stored)
    body = _tar(_spec(['wordcount']), wc)
    for node in holders:
        status, headers, answer = _post(node, _path(node, part, stored),
                                        body)
        assert status == 200, answer
        assert headers['Content-Type'] == 'application/x-tar'
        members = _members(answer)
        assert sorted(members) == ['out/1', 'out/2', 'report.json']
        report = json.loads(members['report.json'])
        assert report['node'] == 'node-1'
        assert report['server'].endswith('/' + node['device'])
        assert report['result']['reason'] == 'ok'
        _result, expected, _err = sandbox.run(wc, stdin=TEXT)
        assert members['out/1'] == expected
        assert members['out/1'].startswith(b'400 it\n400 of\n')
        stdin = [c for c in report['result']['channels']
                 if c['path'] == '/dev/stdin'][0]
        assert stdin['bytes_read'] == len(TEXT)
    assert_nothing_left(cluster)


def test_a_server_without_the_object_answers_404(cluster, object_ring,
                                                 stored, programs):
    part, _, others = _where(cluster, object_ring, stored)
    node = others[0]
    body = _tar(_spec(['wordcount']), programs.build('wordcount'))
    status, _, _ = _post(node, _path(node, part, stored), body)
    assert status == 404
    assert_nothing_left(cluster)


def test_client_style_request_is_forbidden(cluster, object_ring, stored,
                                           programs):
    part, holders, _ = _where(cluster, object_ring, stored)
    body = _tar(_spec(['wordcount']), programs.build('wordcount'))
    headers = _headers(body)
    del headers[objfilter.EXECUTE_HEADER]
    headers['X-Zerovm-Execute'] = '1.0'
    status, _, _ = _post(holders[0], _path(holders[0], part, stored), body,
                         headers)
    assert status == 403


def test_an_invalid_program_is_422(cluster, object_ring, stored, programs):
    part, holders, _ = _where(cluster, object_ring, stored)
    body = _tar(_spec(['x']), programs.build('hello', 'dynamic'))
    status, _, answer = _post(holders[0], _path(holders[0], part, stored),
                              body)
    assert status == 422
    assert b'static' in answer or b'interpreter' in answer.lower()
    assert_nothing_left(cluster)


def test_a_timed_out_program_is_reported_and_leaves_nothing(
        cluster, object_ring, stored, programs):
    part, holders, _ = _where(cluster, object_ring, stored)
    body = _tar(_spec(['limits', 'spin'], {'timeout': 1}),
                programs.build('limits'))
    status, _, answer = _post(holders[0], _path(holders[0], part, stored),
                              body)
    assert status == 200
    report = json.loads(_members(answer)['report.json'])
    assert report['result']['reason'] == 'timeout'
    assert_nothing_left(cluster)


def test_a_client_gone_mid_answer_leaves_nothing(cluster, object_ring,
                                                 stored, programs):
    part, holders, _ = _where(cluster, object_ring, stored)
    node = holders[0]
    body = _tar(_spec(['limits', 'write', str(32 << 20)], local=False),
                programs.build('limits'))
    sock = socket.create_connection((node['ip'], node['port']), timeout=60)
    try:
        head = 'POST %s HTTP/1.1\r\nHost: x\r\n' % _path(node, part, stored)
        head += ''.join('%s: %s\r\n' % kv for kv in _headers(body).items())
        sock.sendall(head.encode() + b'\r\n' + body)
        assert sock.recv(12) == b'HTTP/1.1 200'
    finally:
        sock.close()    # 32 MiB of stdout were not read
    assert_nothing_left(cluster)


def test_a_client_gone_mid_upload_leaves_nothing(cluster, object_ring,
                                                 stored, programs):
    part, holders, _ = _where(cluster, object_ring, stored)
    node = holders[0]
    body = _tar(_spec(['wordcount']), programs.build('wordcount'))
    sock = socket.create_connection((node['ip'], node['port']), timeout=60)
    try:
        head = 'POST %s HTTP/1.1\r\nHost: x\r\n' % _path(node, part, stored)
        head += ''.join('%s: %s\r\n' % kv for kv in _headers(body).items())
        sock.sendall(head.encode() + b'\r\n' + body[:len(body) // 2])
        time.sleep(0.2)
    finally:
        sock.close()
    assert_nothing_left(cluster)
    # The server still serves.
    status, _, _ = _post(node, _path(node, part, stored), body)
    assert status == 200


def test_concurrent_requests_on_one_server(cluster, object_ring, stored,
                                           programs):
    """Several sandboxes and validations at once in one object server's
    worker threads, while its hub keeps serving."""
    from concurrent.futures import ThreadPoolExecutor

    part, holders, _ = _where(cluster, object_ring, stored)
    node = holders[0]
    bodies = [_tar(_spec(['wordcount']), programs.build('wordcount')),
              _tar(_spec(['hello'], local=False), programs.build('hello'))]
    with ThreadPoolExecutor(6) as threads:
        answers = list(threads.map(
            lambda i: _post(node, _path(node, part, stored), bodies[i % 2]),
            range(12)))
    assert [a[0] for a in answers] == [200] * 12
    stdout = ['out/1', 'out/0']     # wordcount has a stdin, hello not
    outs = {_members(a[2])[stdout[i % 2]] for i, a in enumerate(answers)}
    assert len(outs) == 2 and b'hello\n' in outs
    assert_nothing_left(cluster)
