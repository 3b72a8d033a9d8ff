# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import io
import json
import os
import tarfile

import pytest
from eventlet import Timeout

from proxy_fakes import (FakeObjectServers, FakeResponse, answer_tar,
                         run_result)
from swift.common.utils import get_logger
from zerocloud.job import parse_job
from zerocloud.middleware.dispatch import (AnswerError, Dispatcher,
                                           NodeRequest, RequestBody, Spool,
                                           Stopped, node_spec, read_answer,
                                           spec_request_tar)
from zerocloud.middleware.tarstream import TarReader
from zerocloud.middleware.placement import RingView, place
from zerocloud.middleware.planner import expand

LOGGER = get_logger({}, log_route='test-dispatch')
LIMITS = {'memory': 1 << 28, 'cpu': 10, 'timeout': 60, 'max_output': 100}
SERVERS = [{'id': i, 'ip': '10.0.0.%d' % i, 'port': 6200,
            'device': 'sd%s' % 'abcd'[i]} for i in range(4)]


def plan_of(job):
    ring = RingView(lambda a, c, o: (5, SERVERS[:3]))
    return place(expand(parse_job(json.dumps(job), 'AUTH_t')), ring)


def requests_for(plan, spool):
    result = []
    for node in plan.nodes:
        spec, members = node_spec(node, plan.account, LIMITS)
        result.append(NodeRequest(node, '/AUTH_t/c/o', 0, RequestBody(spec)))
    return result


def job(count=1, devices=({'name': 'stdout'},)):
    return [{'name': 'g', 'count': count, 'exec': {'path':
                                                   'file://python:/bin/p'},
             'devices': [{'name': 'stdin', 'path': 'swift://~/c/o'}] +
             list(devices)}]


def dispatcher(servers, spool, concurrency=4, max_output=100):
    return Dispatcher(servers, concurrency, spool, max_output, LOGGER, 'tx1')


def test_node_spec_marks_local_and_members():
    plan = plan_of([{'name': 'g', 'exec': {'path': 'swift://~/e/x'},
                     'devices': [
                         {'name': 'stdin', 'path': 'swift://~/c/o'},
                         {'name': 'input', 'path': 'swift://~/c/other'},
                         {'name': 'output', 'path': 'swift://~/c/out',
                          'content_type': 'a/b', 'meta': {'k': 'v'}},
                         {'name': 'stderr'}, {'name': 'python'}]}])
    spec, members = node_spec(plan.nodes[0], 'AUTH_t', LIMITS)
    chans = {c['alias']: c for c in spec['channels']}
    assert chans['/dev/stdin']['local'] is True
    assert chans['/dev/input'] == {
        'alias': '/dev/input', 'direction': 'r', 'kind': 'object',
        'path': 'swift://AUTH_t/c/other', 'local': False,
        'member': 'in/%d' % spec['channels'].index(chans['/dev/input'])}
    assert chans['/dev/output']['meta'] == {'k': 'v'}
    assert chans['/dev/stderr']['kind'] == 'response'
    assert chans['/dev/python']['kind'] == 'image'
    assert [(m, p.url) for m, p in members] == [
        (chans['/dev/input']['member'], 'swift://AUTH_t/c/other')]
    assert spec['version'] == 1 and spec['limits'] == LIMITS


def read_all(body, size=-1):
    reader = body.open()
    try:
        chunks = []
        while True:
            chunk = reader.read(size)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    finally:
        reader.close()


def test_request_tar_order(tmp_path):
    exe = tmp_path / 'exe'
    exe.write_bytes(b'ELF')
    data = tmp_path / 'data'
    data.write_bytes(b'123' * 1000)
    inputs = [('in/2', str(data)), ('in/3', str(exe))]
    body = RequestBody({'node': 'n'}, str(exe), inputs)
    for size in (-1, 1, 511, 4096):
        raw = read_all(body, size)
        assert len(raw) == body.length
        assert len(raw) % tarfile.RECORDSIZE == 0
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            assert tar.getnames() == ['spec.json', 'exec', 'in/2', 'in/3']
            assert tar.extractfile('in/2').read() == b'123' * 1000
            assert tar.extractfile('in/3').read() == b'ELF'
            assert json.loads(tar.extractfile('spec.json').read()) == \
                {'node': 'n'}


def test_request_body_reads_the_same_bytes_again(tmp_path):
    data = tmp_path / 'data'
    data.write_bytes(os.urandom(200000))
    body = RequestBody({'node': 'n'}, None, [('in/1', str(data))])
    assert read_all(body) == read_all(body, 999)    # a retry sends again
    # The object server reads it as the proxy's old tarfile bodies.
    members = []
    reader = TarReader(body.open())
    while True:
        member = reader.next()
        if member is None:
            break
        members.append((member[0], reader.read_bytes(1 << 20)))
    assert members[1] == ('in/1', data.read_bytes())


def test_request_body_with_empty_files(tmp_path):
    empty, full = tmp_path / 'empty', tmp_path / 'full'
    empty.write_bytes(b'')
    full.write_bytes(b'abc')
    body = RequestBody({'node': 'n'}, None, [
        ('in/1', str(empty)), ('in/2', str(full)), ('in/3', str(empty))])
    for size in (-1, 1, 512):
        with tarfile.open(fileobj=io.BytesIO(read_all(body, size))) as tar:
            assert [(m.name, tar.extractfile(m).read()) for m in tar
                    if m.name != 'spec.json'] == [
                ('in/1', b''), ('in/2', b'abc'), ('in/3', b'')]


def test_request_body_with_a_shrunk_file_is_an_error(tmp_path):
    data = tmp_path / 'data'
    data.write_bytes(b'x' * 5000)
    body = RequestBody({'node': 'n'}, None, [('in/1', str(data))])
    data.write_bytes(b'x' * 10)
    reader = body.open()
    with pytest.raises(OSError, match='ended before its 5000 bytes'):
        while reader.read(4096):
            pass
    reader.close()


def test_read_answer_spools_outputs(spool):
    body = answer_tar({'result': {}}, {1: b'abc', 3: b''})
    report, outputs = read_answer(io.BytesIO(body), spool, 100)
    assert report == {'result': {}}
    assert sorted(outputs) == [1, 3]
    with open(outputs[1], 'rb') as f:
        assert f.read() == b'abc'


def test_read_answer_bounds_outputs(spool):
    body = answer_tar({'result': {}}, {1: b'a' * 60, 2: b'b' * 60})
    with pytest.raises(AnswerError):
        read_answer(io.BytesIO(body), spool, 100)


@pytest.mark.parametrize('body', [b'', b'not a tar' * 100,
                                  answer_tar([1], {}),
                                  answer_tar({}, {})[:600]])
def test_read_answer_rejects_garbage(spool, body):
    with pytest.raises(AnswerError):
        read_answer(io.BytesIO(body), spool, 100)


def test_failover_order_then_success(spool):
    seen = []

    def behave(device, spec):
        seen.append(device)
        return {'sda': OSError('refused'), 'sdb': 503}.get(device)
    servers = FakeObjectServers(behave=behave)
    plan = plan_of(job())
    outcome, = dispatcher(servers, spool).run(requests_for(plan, spool))
    assert seen == ['sda', 'sdb', 'sdc']
    assert outcome.ran and outcome.server.device == 'sdc'
    assert outcome.tried == ['10.0.0.0:6200/sda (unreachable: refused)',
                             '10.0.0.1:6200/sdb (503)']
    sent = servers.sent[-1]
    assert sent['headers']['X-Backend-Zerocloud-Execute'] == '1'
    assert sent['headers']['X-Trans-Id'] == 'tx1'
    assert sent['headers']['Content-Type'] == 'application/x-tar'


@pytest.mark.parametrize('status', [404, 503, 507])
def test_retry_statuses(spool, status):
    servers = FakeObjectServers(behave=lambda d, s: status)
    plan = plan_of(job())
    outcome, = dispatcher(servers, spool).run(requests_for(plan, spool))
    assert not outcome.ran
    assert len(servers.sent) == 3
    if status == 404:
        # Every server lacks the object: it is gone, not busy.
        assert outcome.status == 404
        assert 'is on none of its object servers (node "g")' in \
            outcome.error
    else:
        assert outcome.status is None
        assert outcome.error.startswith(
            'no object server could run node "g"')


def test_a_server_that_does_not_answer_is_named_as_such(spool):
    import eventlet
    late = eventlet.Timeout(32)
    late.cancel()
    servers = FakeObjectServers(
        behave=lambda device, spec: late if device == 'sda' else None)
    plan = plan_of(job())
    outcome, = dispatcher(servers, spool).run(requests_for(plan, spool))
    assert outcome.ran and outcome.server.device == 'sdb'
    assert outcome.tried == ['10.0.0.0:6200/sda (did not answer within 32 '
                             'seconds)']


def test_timeouts_fail_over(spool):
    servers = FakeObjectServers(
        behave=lambda d, s: Timeout(1) if d == 'sda' else None)
    outcome, = dispatcher(servers, spool).run(
        requests_for(plan_of(job()), spool))
    assert outcome.ran and outcome.server.device == 'sdb'


@pytest.mark.parametrize('status', [400, 422, 500])
def test_other_statuses_are_not_retried(spool, status):
    servers = FakeObjectServers(behave=lambda d, s: status)
    outcome, = dispatcher(servers, spool).run(
        requests_for(plan_of(job()), spool))
    assert len(servers.sent) == 1
    assert not outcome.ran and outcome.status == status
    assert 'answered %d: busy' % status in outcome.error


def test_bad_answer_is_a_node_error(spool):
    class Garbage(FakeObjectServers):
        def request(self, *args):
            super().request(*args)
            return FakeResponse(200, b'garbage' * 200)
    outcome, = dispatcher(Garbage(), spool).run(
        requests_for(plan_of(job()), spool))
    assert not outcome.ran and outcome.status == 200
    assert 'bad tar answer' in outcome.error or 'report' in outcome.error


def test_concurrency_is_bounded_and_order_kept(spool):
    import eventlet
    active, peak = [0], [0]

    class Slow(FakeObjectServers):
        def request(self, *args):
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            eventlet.sleep(0.01)
            active[0] -= 1
            return super().request(*args)
    plan = plan_of(job(count=7))
    outcomes = dispatcher(Slow(), spool, concurrency=3).run(
        requests_for(plan, spool))
    assert peak[0] == 3
    assert [o.node.name for o in outcomes] == ['g-%d' % i
                                               for i in range(1, 8)]


def test_answer_outputs_are_bounded(spool):
    servers = FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x' * 200}))
    outcome, = dispatcher(servers, spool, max_output=100).run(
        requests_for(plan_of(job()), spool))
    assert not outcome.ran
    assert 'larger than 100 bytes' in outcome.error


def test_report_passes_through(spool):
    servers = FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'hi'}))
    outcome, = dispatcher(servers, spool).run(
        requests_for(plan_of(job()), spool))
    assert outcome.report['result']['reason'] == 'ok'
    assert outcome.report['result'] == run_result(
        0, channels=outcome.report['result']['channels'])


def test_spool_cleanup(tmp_path):
    spool = Spool(str(tmp_path))
    with open(spool.new_path(), 'wb') as f:
        f.write(b'x')
    spool.cleanup()
    assert os.listdir(str(tmp_path)) == []


# --- the real transport, against a green HTTP server on 127.0.0.1 ---------

def _serve_once(handler):
    """Listen on 127.0.0.1; ``handler(request line, headers, body)``
    returns raw response bytes (or None to never answer)."""
    import eventlet
    sock = eventlet.listen(('127.0.0.1', 0))
    seen = {}

    def serve():
        conn, _addr = sock.accept()
        reader = conn.makefile('rb')
        line = reader.readline().decode()
        headers = {}
        while True:
            header = reader.readline().decode().strip()
            if not header:
                break
            key, _sep, value = header.partition(':')
            headers[key.strip().lower()] = value.strip()
        body = reader.read(int(headers.get('content-length', 0)))
        seen.update(line=line, headers=headers, body=body)
        answer = handler(line, headers, body)
        if answer is None:
            eventlet.sleep(5)
        else:
            conn.sendall(answer)
        conn.close()
    thread = eventlet.spawn(serve)
    return sock.getsockname()[1], seen, thread, sock


def test_http_transport_round_trip(spool):
    from zerocloud.middleware.dispatch import HTTPTransport
    from zerocloud.middleware.plan import Server
    tar = answer_tar({'result': {}}, {0: b'out'})
    port, seen, thread, sock = _serve_once(lambda *a: (
        b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(tar)) + tar)
    server = Server('127.0.0.1', port, 'sdb', partition=5)
    transport = HTTPTransport(1, 2)
    resp = transport.request(server, 'POST', '/AUTH_t/c/o n',
                             {'X-Backend-Zerocloud-Execute': '1',
                              'Content-Length': '5'}, io.BytesIO(b'hello'), 5)
    assert resp.status == 200
    report, outputs = read_answer(resp, spool, 100)
    resp.close()
    thread.wait()
    sock.close()
    assert report == {'result': {}}
    with open(outputs[0], 'rb') as out:
        assert out.read() == b'out'
    assert seen['line'].startswith('POST /sdb/5/AUTH_t/c/o%20n HTTP/1.')
    assert seen['headers']['x-backend-zerocloud-execute'] == '1'
    assert seen['body'] == b'hello'


@pytest.mark.parametrize('framing', ['length', 'chunked'])
def test_an_answer_cut_short_is_lost_not_malformed(spool, framing):
    # The server died while answering: once "bad tar answer: unexpected
    # end of data", a 500, where the node belongs on the next server.
    from zerocloud.middleware.dispatch import AnswerCut, HTTPTransport
    from zerocloud.middleware.plan import Server
    tar = answer_tar({'result': {}}, {0: b'x' * 50000})
    if framing == 'length':
        head = b'Content-Length: %d\r\n\r\n' % len(tar)
        body = tar[:20000]
    else:
        head = b'Transfer-Encoding: chunked\r\n\r\n'
        body = b'%x\r\n' % len(tar) + tar[:20000]
    port, seen, thread, sock = _serve_once(
        lambda *a: b'HTTP/1.1 200 OK\r\n' + head + body)
    resp = HTTPTransport(1, 2).request(
        Server('127.0.0.1', port, 'sdb', partition=5), 'POST', '/a/c/o',
        {'Content-Length': '0'}, io.BytesIO(b''), 0)
    with pytest.raises(AnswerCut) as err:
        read_answer(resp, spool, 10 ** 6)
    resp.close()
    thread.wait()
    sock.close()
    assert str(err.value).startswith('the answer ended after ')
    # The part of the output that came is not kept (nor counted).
    assert os.listdir(spool.path) == [] and spool.used == 0


def test_http_transport_errors_are_connection_errors():
    from zerocloud.middleware.dispatch import HTTPTransport
    from zerocloud.middleware.plan import Server
    import eventlet
    probe = eventlet.listen(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    transport = HTTPTransport(1, 0.2)
    with pytest.raises(OSError):
        transport.request(Server('127.0.0.1', port, 'sdb', partition=1),
                          'POST', '/a/c/o', {}, io.BytesIO(b''), 0)
    port, seen, thread, sock = _serve_once(lambda *a: None)
    with pytest.raises(Timeout):
        transport.request(Server('127.0.0.1', port, 'sdb', partition=1),
                          'POST', '/a/c/o', {'Content-Length': '0'},
                          io.BytesIO(b''), 0)
    thread.kill()
    sock.close()


def test_lost_answer_reruns_on_the_next_candidate(spool):
    class Breaking(FakeResponse):
        def read(self, size=-1):
            data = super().read(size)
            if self._body.tell() > 700:
                raise OSError('connection reset')
            return data

    class Flaky(FakeObjectServers):
        def request(self, server, *args):
            resp = super().request(server, *args)
            if server.device == 'sda':
                return Breaking(200, resp.read())
            return resp
    servers = Flaky(lambda spec, members: (0, {'/dev/stdout': b'y' * 50}))
    outcome, = dispatcher(servers, spool).run(
        requests_for(plan_of(job()), spool))
    assert [s['device'] for s in servers.sent] == ['sda', 'sdb']
    assert outcome.ran and outcome.server.device == 'sdb'
    assert 'answer lost: connection reset' in outcome.tried[0]


@pytest.mark.parametrize('spec', [{}, {'node': 'n', 'argv': ['x'] * 200},
                                  {'node': 'caf\u00e9', 'env': {'a': 'b'}}])
def test_spec_only_bodies_are_tarfiles(tmp_path, spec):
    # Bodies are made without tarfile: the same bytes.
    want = tmp_path / 'want'
    with tarfile.open(want, 'w', format=tarfile.PAX_FORMAT) as tar:
        data = json.dumps(spec, sort_keys=True).encode('utf-8')
        info = tarfile.TarInfo('spec.json')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert spec_request_tar(spec) == want.read_bytes()
    assert read_all(RequestBody(spec)) == want.read_bytes()


def test_stop_sends_no_more_and_run_raises_stopped(spool):
    import eventlet

    class Hanging(FakeObjectServers):
        def request(self, server, method, path, headers, body, length):
            super().request(server, method, path, headers, body, length)
            eventlet.sleep(60)      # a node that runs for ever
    servers = Hanging()
    d = dispatcher(servers, spool, concurrency=1)
    runner = eventlet.spawn(d.run, requests_for(plan_of(job(count=3)),
                                                spool))
    with Timeout(5):
        while not servers.sent:
            eventlet.sleep(0.001)
    eventlet.sleep(0.01)    # the runner waits for the only slot now
    d.stop()
    with Timeout(5):
        with pytest.raises(Stopped):
            runner.wait()
    eventlet.sleep(0.01)
    assert len(servers.sent) == 1   # the two others were never sent
