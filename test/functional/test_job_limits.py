# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Limits end to end, on a cluster whose proxy gives nodes small limits.

The cluster is built from a copy of etc/*.conf-sample in which only the
proxy filter's node limits (and its heartbeat interval) are lowered, so it
is the shipped pipeline."""
import http.client
import json
import socket
import time
import urllib.parse

import pytest
import swiftclient

from zerocloud import client
from zerocloud import saio

from .leaks import assert_nothing_left, assert_spools_back, proxy_spools
from .samples import changed_samples

LIMITS = {'node_wall': '3', 'node_cpu': '30', 'node_memory': '33554432',
          'node_max_output': '100000',
          # Not a limit: beats often enough to see them in a 3 s job.
          'heartbeat_interval': '0.5'}


@pytest.fixture(scope='module')
def small(tmp_path_factory, programs):
    samples = changed_samples(tmp_path_factory.mktemp('samples'),
                              proxy=LIMITS)
    with saio.Cluster(sample_dir=samples) as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        for c in ('exec', 'data', 'out'):
            swiftclient.put_container(url, token, c)
        swiftclient.put_object(url, token, 'data', 'x.txt', b'some text\n')
        with open(programs.build('limits'), 'rb') as f:
            swiftclient.put_object(url, token, 'exec', 'limits', f)
        yield cluster, url, token


def _job(case):
    return [{'name': case,
             'exec': {'path': 'swift://~/exec/limits', 'args': case},
             'devices': [{'name': 'stdin', 'path': 'swift://~/data/x.txt'},
                         {'name': 'stdout',
                          'path': 'swift://~/out/%s.out' % case}]}]


@pytest.mark.parametrize('case,status,reason', [
    ('spin', 504, 'timeout'),
    ('alloc', 424, 'memory'),
    ('flood', 424, 'output-limit'),
    ('crash', 424, 'signal'),
])
def test_a_limit_fails_the_job_and_writes_nothing(small, case, status,
                                                  reason):
    cluster, url, token = small
    answer = client.submit(url, token, json.dumps(_job(case)))
    assert answer.status == status, answer.body
    node = answer.report()['nodes'][0]
    assert node['reason'] == reason
    _, listing = swiftclient.get_container(url, token, 'out')
    assert listing == []
    assert_nothing_left(cluster)


def test_a_client_gone_mid_job_leaves_nothing(small):
    cluster, url, token = small
    spools = proxy_spools()
    parts = urllib.parse.urlsplit(url)
    body = json.dumps(_job('spin')).encode()
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n'
                 b'X-Zerovm-Execute: 1.0\r\nContent-Type: application/json'
                 b'\r\nContent-Length: %d\r\n\r\n%s' % (
                     parts.path.encode(), token.encode(), len(body), body))
    time.sleep(0.5)     # the node is running now
    sock.close()
    # The proxy stops the job, the object server its sandbox; nothing
    # may remain (the node would otherwise run to its wall limit).
    assert_nothing_left(cluster, wait=15.0)
    _, listing = swiftclient.get_container(url, token, 'out')
    assert listing == []
    assert_spools_back(spools)          # nor in the proxy's temp_dir


def test_info_publishes_public_limits(small):
    cluster, url, token = small
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
    info = conn.get_capabilities(cluster.proxy_url + '/info')
    assert 'zerocloud' in info, sorted(info)
    assert info['zerocloud'].get('max_nodes')


def test_a_long_job_with_heartbeat_sends_spaces_then_its_report(small):
    """Through the real proxy: 202 at once, spaces while the node spins,
    the report (here a timeout) at the end."""
    cluster, url, token = small
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                      timeout=30)
    try:
        conn.request('POST', parts.path + '?heartbeat=on',
                     body=json.dumps(_job('spin')),
                     headers={'X-Auth-Token': token,
                              'X-Zerovm-Execute': '1.0',
                              'Content-Type': 'application/json'})
        resp = conn.getresponse()
        assert resp.status == 202
        pieces = list(iter(lambda: resp.read1(65536), b''))
    finally:
        conn.close()
    body = b''.join(pieces)
    spaces = len(body) - len(body.lstrip(b' '))
    assert spaces >= 3              # a 3 s run, a beat every 0.5 s
    # Each beat reached the client as it was sent, not with the report
    # (eventlet's server held chunks back until 4 KiB had built up).
    assert len([p for p in pieces if not p.strip()]) >= 3, pieces
    report = json.loads(body)
    assert report['status'] == 504
    assert report['nodes'][0]['reason'] == 'timeout'
    _, listing = swiftclient.get_container(url, token, 'out')
    assert listing == []
    assert_nothing_left(cluster)
