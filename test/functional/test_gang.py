# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Admission and the limits of jobs with pipes, on a cluster with few
places: one sandbox per object server and no queue for ordinary nodes, 3
per server (9 in all) for connected ones, and small pipe and job limits.

The cluster is built from a copy of etc/*.conf-sample in which only those
options are changed, so it is the shipped pipeline."""
import json
import threading
import time
import urllib.request

import pytest
import swiftclient

from zerocloud import client
from zerocloud import saio

from .leaks import assert_nothing_left
from .samples import changed_samples

PROXY = {'max_pipe_bytes': '1000000', 'max_job_wall': '4',
         'rendezvous_timeout': '5'}
OBJECT = {'max_connected': '3', 'max_running': '1', 'max_queued': '0'}


@pytest.fixture(scope='module')
def small(tmp_path_factory, programs):
    samples = changed_samples(tmp_path_factory.mktemp('gang-samples'),
                              proxy=PROXY, object_server=OBJECT)
    with saio.Cluster(sample_dir=samples) as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        for c in ('exec', 'out'):
            swiftclient.put_container(url, token, c)
        with open(programs.build('pipes'), 'rb') as f:
            swiftclient.put_object(url, token, 'exec', 'pipes', f)
        yield cluster, url, token


def _mesh(sources, sinks, src_args, sink_args='gather', tag='x'):
    return [
        {'name': 'src', 'count': sources,
         'exec': {'path': 'swift://~/exec/pipes', 'args': src_args},
         'devices': [{'name': 'stderr'}], 'connect': ['sink']},
        {'name': 'sink', 'count': sinks,
         'exec': {'path': 'swift://~/exec/pipes', 'args': sink_args},
         'devices': [{'name': 'stdout',
                      'path': 'swift://~/out/%s-*.txt' % tag},
                     {'name': 'stderr'}]}]


def _submit(small, job):
    _, url, token = small
    return client.submit(url, token, json.dumps(job), json_report=True)


def _outputs(small, tag):
    _, url, token = small
    _, listing = swiftclient.get_container(url, token, 'out')
    return [o['name'] for o in listing if o['name'].startswith(tag + '-')]


def test_info_shows_the_pipe_limits(small):
    cluster = small[0]
    with urllib.request.urlopen(cluster.proxy_url + '/info') as resp:
        info = json.load(resp)
    assert info['zerocloud']['max_pipe_bytes'] == 1000000
    assert info['zerocloud']['max_job_wall'] == 4


def test_a_gang_larger_than_the_cluster_is_refused_as_a_whole(small):
    cluster = small[0]
    answer = _submit(small, _mesh(8, 4, 'fanout', tag='big'))
    assert answer.status == 503, answer.body
    assert answer.headers['retry-after'] == '1'
    report = answer.report()
    assert 'connected' in report['message'] or \
        'could not run' in report['message'], report['message']
    # Never half-started: no program of the gang ran.
    for node in report['nodes']:
        assert node['reason'] in (None, 'aborted'), node
    assert _outputs(small, 'big') == []
    assert_nothing_left(cluster)


def test_two_gangs_at_once_both_end_cleanly(small):
    """12 nodes wanted, 9 places: each job runs or is refused as a whole
    (both may be, each holding places the other needed), none hangs, and
    a refused one runs once resubmitted."""
    cluster = small[0]
    answers = {}

    def submit(tag):
        answers[tag] = _submit(small, _mesh(3, 3, 'busy 300', tag=tag))
    threads = [threading.Thread(target=submit, args=(t,))
               for t in ('one', 'two')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), 'a job hung'
    assert sorted(answers) == ['one', 'two']
    assert {a.status for a in answers.values()} <= {200, 503}, answers
    for tag, answer in answers.items():
        expected = 3 if answer.status == 200 else 0
        assert len(_outputs(small, tag)) == expected, (tag, answer.body)
        if answer.status == 503:
            assert answer.headers['retry-after'] == '1'
            message = answer.report()['message']
            assert 'no object server could run' in message or \
                'could not all be admitted' in message, message
    assert_nothing_left(cluster)
    for tag, answer in answers.items():
        if answer.status == 503:
            again = _submit(small, _mesh(3, 3, 'busy 300', tag=tag))
            assert again.status == 200, again.body
            assert len(_outputs(small, tag)) == 3
    assert_nothing_left(cluster)


def test_a_pipe_over_max_pipe_bytes_fails_the_job(small):
    cluster = small[0]
    answer = _submit(small, _mesh(1, 1, 'flood 2', tag='flood'))
    assert answer.status == 424, answer.body
    report = answer.report()
    src = report['nodes'][0]
    assert src['reason'] == 'output-limit', src
    assert '/dev/out/sink' in src['message'], src
    assert _outputs(small, 'flood') == []
    assert_nothing_left(cluster)


def test_the_job_wall_clock_limit_stops_every_node(small):
    cluster = small[0]
    start = time.monotonic()
    answer = _submit(small, _mesh(2, 2, 'spin', tag='wall'))
    assert answer.status == 504, answer.body
    assert time.monotonic() - start < 30
    for node in answer.report()['nodes']:
        if node['name'].startswith('src'):
            assert node['reason'] in ('timeout', 'aborted'), node
        else:
            # A sink may see its inputs end (the sources were stopped
            # first) and finish before its own abort reaches it: its run
            # was fine, the job is not.
            assert node['reason'] in ('timeout', 'aborted', 'ok'), node
    assert _outputs(small, 'wall') == []
    assert_nothing_left(cluster)


def test_ordinary_nodes_beyond_every_servers_slots_get_503(small):
    cluster = small[0]
    job = [{'name': 'busy', 'count': 4,
            'exec': {'path': 'swift://~/exec/pipes', 'args': 'busy 600'},
            'devices': [{'name': 'stdout',
                         'path': 'swift://~/out/busy-*.txt'}]}]
    answer = _submit(small, job)
    assert answer.status == 503, answer.body
    assert answer.headers['retry-after'] == '1'
    report = answer.report()
    refused = [n for n in report['nodes'] if n['failure'] == 'unavailable']
    assert refused, report
    for node in refused:
        assert '(503)' in node['error'], node
    assert _outputs(small, 'busy') == []
    assert_nothing_left(cluster)
