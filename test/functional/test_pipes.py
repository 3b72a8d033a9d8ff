# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Pipes between nodes end to end: the rendezvous, TCP and Unix pipes,
gang start and abort, on the shared cluster (test/programs/pipes.c)."""
import json
import re
import socket
import threading
import time
import urllib.parse

import pytest
import swiftclient

from zerocloud import client

from .leaks import (assert_nothing_left, assert_sockets_back, children,
                    object_server_pids, server_sockets)
from .workspace import workspace

DATA = {'a.txt': b'alpha\n' * 3, 'b.txt': b'bravo\n', 'c.txt': b'charlie\n'}


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    return workspace(auth, programs, DATA, ('pipes',))


def _post(env, job):
    return client.submit(env['url'], env['token'], json.dumps(job),
                         json_report=True)


def _objects(env):
    _, listing = swiftclient.get_container(env['url'], env['token'],
                                           env['out'])
    return sorted(o['name'] for o in listing)


def _exe(env, args):
    return {'path': 'swift://~/%s/pipes' % env['exec'], 'args': args}


def _mesh(env, src_args='fanout', sink_args='gather', sinks=2, prefix=''):
    return [
        {'name': 'src', 'exec': _exe(env, src_args),
         'devices': [{'name': 'stdin',
                      'path': 'swift://~/%s/*.txt' % env['data']},
                     {'name': 'stderr'}],
         'connect': ['sink']},
        {'name': 'sink', 'exec': _exe(env, sink_args), 'count': sinks,
         'devices': [{'name': 'stdout',
                      'path': 'swift://~/%s/%s*.txt' % (env['out'], prefix)},
                     {'name': 'stderr'}]}]


def _gathered(sink, sources):
    out = b''
    for i, name in enumerate(sources, 1):
        body = b'from src-%d to %s\n' % (i, sink.encode()) + DATA[name]
        out += b'== src-%d\n' % i + body + b'== %d bytes\n' % len(body)
    return out


def test_connect_makes_a_mesh_of_pipes(env, cluster):
    sockets = server_sockets()
    answer = _post(env, _mesh(env, prefix='mesh-'))
    assert answer.status == 200, answer.body
    report = answer.report()
    assert [n['name'] for n in report['nodes']] == [
        'src-1', 'src-2', 'src-3', 'sink-1', 'sink-2']
    assert _objects(env) == ['mesh-sink-1.txt', 'mesh-sink-2.txt']
    for sink in ('sink-1', 'sink-2'):
        _, body = swiftclient.get_object(env['url'], env['token'],
                                         env['out'], 'mesh-%s.txt' % sink)
        assert body == _gathered(sink, ['a.txt', 'b.txt', 'c.txt'])
    # Every pipe's two ends counted the same bytes.
    ends = {}
    for node in report['nodes']:
        for chan in node['channels']:
            if chan['kind'] == 'pipe':
                peer = chan['endpoint']
                key = (node['name'], chan['alias']) if \
                    chan['direction'] == 'w' else tuple(
                        peer[len('zvm://'):].split(':', 1))
                side = 'w' if chan['direction'] == 'w' else 'r'
                ends.setdefault(key, {})[side] = (
                    chan['bytes_written'] if side == 'w'
                    else chan['bytes_read'])
    assert len(ends) == 6
    for key, sides in ends.items():
        assert sides['w'] == sides['r'] > 0, (key, sides)
    assert_nothing_left(cluster)
    assert_sockets_back(sockets)


def _failed_nodes(report, kind):
    return [n['name'] for n in report['nodes'] if n['failure'] == kind]


def test_a_crashing_writer_stops_the_job_and_writes_nothing(env, cluster):
    sockets = server_sockets()
    answer = _post(env, _mesh(env, src_args='crash', prefix='crash-'))
    assert answer.status == 424, answer.body
    report = answer.report()
    # The first crash stops the others, which may not have crashed yet.
    crashed = _failed_nodes(report, 'program')
    assert crashed and set(crashed) <= {'src-1', 'src-2', 'src-3'}, report
    assert 'src-' in report['message']
    for node in report['nodes'][:3]:
        assert node['reason'] in ('signal', 'aborted'), node
    for node in report['nodes'][3:]:
        assert node['reason'] in ('ok', 'aborted'), node
    assert not [o for o in _objects(env) if o.startswith('crash-')]
    assert_nothing_left(cluster)
    assert_sockets_back(sockets)


def test_a_reader_that_leaves_input_unread_fails_the_job(env, cluster):
    sockets = server_sockets()
    answer = _post(env, _mesh(env, sink_args='early', prefix='early-'))
    assert answer.status == 424, answer.body
    report = answer.report()
    sinks = {n['name']: n for n in report['nodes'] if n['group'] == 'sink'}
    for node in sinks.values():
        if node['reason'] == 'ok':
            assert node['failure'] == 'pipe', node
            assert 'unread' in node['error'], node
    assert any(n['failure'] == 'pipe' for n in sinks.values()), sinks
    assert not [o for o in _objects(env) if o.startswith('early-')]
    assert_nothing_left(cluster)
    assert_sockets_back(sockets)


def test_pipes_that_carry_nothing_succeed_every_time(env):
    # A reader that exits before its writer's end arrived was failed or
    # not depending on that timing ("left 0 of the 0 bytes unread").
    for run in range(4):
        answer = _post(env, _mesh(env, src_args='early', sink_args='early',
                                  prefix='none-'))
        assert answer.status == 200, (run, answer.body)


def test_a_reader_gone_before_its_writer_wrote_is_failed_for_it(env):
    # The sinks end at once; the sources write later (after some CPU):
    # the sinks are failed for the bytes they never read, every time.
    for run in range(2):
        answer = _post(env, _mesh(env, src_args='busy 30', sink_args='early',
                                  prefix='late-'))
        assert answer.status == 424, answer.body
        sinks = [n for n in answer.report()['nodes'] if n['group'] == 'sink']
        assert sinks and all(n['failure'] == 'pipe' for n in sinks), sinks
        for node in sinks:
            left, sent = map(int, re.search(
                r'left (\d+) of the (\d+) bytes', node['error']).groups())
            assert left == sent > 0, node
        assert not [o for o in _objects(env) if o.startswith('late-')]


def test_a_failing_node_stops_the_spinning_others(env, cluster):
    sockets = server_sockets()
    start = time.monotonic()
    answer = _post(env, _mesh(env, src_args='spin', sink_args='fail',
                              prefix='spin-'))
    assert answer.status == 424, answer.body
    report = answer.report()
    # The first sink to fail may stop the other before it fails too.
    failed = _failed_nodes(report, 'program')
    assert failed and set(failed) <= {'sink-1', 'sink-2'}, report
    for node in report['nodes'][3:]:
        assert node['reason'] in ('exit', 'aborted'), node
    for node in report['nodes'][:3]:
        assert node['reason'] == 'aborted', node
        assert 'sink-' in node['message'], node
    assert 'connected nodes stopped' in report['message']
    # The spinning nodes would run for node_wall (60 s) otherwise.
    assert time.monotonic() - start < 50
    assert not [o for o in _objects(env) if o.startswith('spin-')]
    assert_nothing_left(cluster)
    assert_sockets_back(sockets)


def _running_sandboxes(cluster):
    """{object server index: number of sandboxes it runs}."""
    pids = object_server_pids(cluster)
    names = [s.name for s in cluster.object_servers]
    found = {}
    for pid in pids:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode(errors='replace').split('\0')
        index = next(i for i, n in enumerate(names) if n in argv)
        found[index] = len(children(pid))
    return found


def test_an_object_server_dying_mid_job_stops_every_node(env, cluster):
    result = {}

    def submit():
        result['answer'] = _post(env, _mesh(env, src_args='spin',
                                            sink_args='gather',
                                            prefix='dead-'))
    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 30
    victim = None
    while time.monotonic() < deadline and victim is None:
        running = _running_sandboxes(cluster)
        if sum(running.values()) >= 5:
            victim = max(running, key=running.get)
        time.sleep(0.05)
    assert victim is not None, 'the job never started its five sandboxes'
    cluster.stop_object_server(victim, kill=True)
    try:
        thread.join(50)
        assert not thread.is_alive(), 'the job did not end'
    finally:
        cluster.start_object_server(victim)
    answer = result['answer']
    assert answer.status in (500, 503), answer.body
    report = answer.report()
    assert 'lost contact' in report['message'] or \
        'object server' in report['message'], report['message']
    assert not [o for o in _objects(env) if o.startswith('dead-')]
    assert_nothing_left(cluster)


def _hang_up_while_running(env, cluster, job, sandboxes):
    """POST ``job`` on a raw connection, close it once ``sandboxes`` run."""
    parts = urllib.parse.urlsplit(env['url'])
    body = json.dumps(job).encode()
    sock = socket.create_connection((parts.hostname, parts.port))
    try:
        sock.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n'
                     b'X-Zerovm-Execute: 1.0\r\nContent-Type: '
                     b'application/json\r\nContent-Length: %d\r\n\r\n%s' % (
                         parts.path.encode(), env['token'].encode(),
                         len(body), body))
        deadline = time.monotonic() + 30
        while sum(_running_sandboxes(cluster).values()) < sandboxes:
            assert time.monotonic() < deadline, 'the job never started'
            time.sleep(0.05)
    finally:
        sock.close()


@pytest.mark.parametrize('kind', ['alone', 'many', 'gang'])
def test_a_client_hanging_up_stops_its_nodes_at_once(env, cluster, kind):
    # 'many': six nodes without pipes.  Killing the first of them once
    # ended the request, and with it the green thread killing the rest:
    # their sandboxes spun on.
    sockets = server_sockets()
    if kind == 'gang':
        job, running = _mesh(env, src_args='spin', prefix='hup-'), 5
    else:
        count = 6 if kind == 'many' else 1
        job, running = [{'name': kind, 'exec': _exe(env, 'spin'),
                         'count': count,
                         'devices': [{'name': 'stdout',
                                      'path': 'swift://~/%s/hup-%s*.txt'
                                      % (env['out'], kind)}]}], count
    _hang_up_while_running(env, cluster, job, running)
    # The spinning programs would run for node_wall (60 s) otherwise.
    assert_nothing_left(cluster, wait=10.0)
    assert_sockets_back(sockets)
    assert not [o for o in _objects(env) if o.startswith('hup-')]
