# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""StatsD metrics end to end: a cluster whose two filters send their
metrics (``log_statsd_host``/``log_statsd_port``, Swift's own options) to a
UDP socket of the test, jobs run on it, and what arrives.  Also the usage
records the proxy filter stores (``accounting_account``).

The cluster is built from a copy of etc/*.conf-sample in which only those
options are added to the filters' sections."""
import collections
import json

import pytest
import swiftclient

from zerocloud import client
from zerocloud import saio
from zerocloud.middleware import object as objfilter
from zerocloud.middleware import proxy

from .samples import changed_samples

TEXTS = {'a.txt': b'one two\n', 'b.txt': b'two three\n', 'c.txt': b'four\n'}
USAGE = 'AUTH_usage'


@pytest.fixture(scope='module')
def metered(tmp_path_factory, programs, module_statsd):
    samples = changed_samples(tmp_path_factory.mktemp('samples'),
                              proxy=dict(module_statsd.conf,
                                         accounting_account=USAGE),
                              object_server=module_statsd.conf)
    with saio.Cluster(sample_dir=samples) as cluster:
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing')
        for c in ('exec', 'data', 'out'):
            swiftclient.put_container(url, token, c)
        for name, body in TEXTS.items():
            swiftclient.put_object(url, token, 'data', name, body)
        for prog in ('wordcount', 'limits', 'wc_map', 'wc_reduce'):
            with open(programs.build(prog), 'rb') as f:
                swiftclient.put_object(url, token, 'exec', prog, f)
        module_statsd.metrics()     # nothing of ours yet, but drain
        yield url, token, module_statsd, cluster


P, O = proxy.STATSD_PREFIX, objfilter.STATSD_PREFIX


def run(metered, job, status):
    """Submit ``job`` (a list, or raw text), check the answer's status and
    return :func:`received`."""
    url, token, statsd, _cluster = metered
    answer = client.submit(url, token, job if isinstance(job, str)
                           else json.dumps(job))
    assert answer.status == status, answer.body
    return received(statsd)


def received(statsd):
    """{(prefix, metric): [values]} of everything received."""
    found = collections.defaultdict(list)
    for name, value, _kind in statsd.metrics(wait=0.5):
        prefix, _, metric = name.partition('.')
        found[(prefix, metric)].append(value)
    return dict(found)


def test_a_map_job_reports_its_nodes_runs_and_outputs(metered):
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/exec/wordcount'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/*.txt'},
                        {'name': 'stdout',
                         'path': 'swift://~/out/*.count'}]}]
    got = run(metered, job, 200)
    # The proxy filter: one job, its three nodes, their three outputs.
    assert len(got[(P, 'jobs.200.timing')]) == 1
    assert sum(got[(P, 'nodes.ran')]) == 3
    assert sum(got[(P, 'outputs.written')]) == 3
    assert len(got[(P, 'commit.timing')]) == 1
    assert (P, 'nodes.not_run') not in got
    # The object servers: three runs, each an answered execution request
    # (the first request a server gets for a program it has not kept is
    # answered 428, and the program comes with the next).
    assert sum(got[(O, 'runs.ok')]) == 3
    assert len(got[(O, 'executions.200.timing')]) == 3
    assert len(got[(O, 'runs.timing')]) == 3
    assert len(got[(O, 'queue.timing')]) == 3
    received_programs = sum(got.get((O, 'programs.received'), []))
    assert received_programs + sum(got.get((O, 'programs.cached'), [])) == 3
    assert len(got.get((O, 'executions.428.timing'), [])) == \
        received_programs
    assert {prefix for prefix, _ in got} == {P, O}


def test_a_failed_job_reports_why(metered):
    job = [{'name': 'crash', 'exec': {'path': 'swift://~/exec/limits',
                                      'args': 'crash'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/a.txt'},
                        {'name': 'stdout', 'path': 'swift://~/out/x'}]}]
    got = run(metered, job, 424)
    assert len(got[(P, 'jobs.424.timing')]) == 1
    assert sum(got[(P, 'nodes.ran')]) == 1
    assert (P, 'outputs.written') not in got
    assert (P, 'commit.timing') not in got
    assert sum(got[(O, 'runs.signal')]) == 1
    # A job the proxy refuses never reaches an object server.
    got = run(metered, '[{"name": ', 422)
    assert list(got) == [(P, 'jobs.422.timing')]


def test_a_mapreduce_reports_its_gang(metered):
    job = [{'name': 'map', 'exec': {'path': 'swift://~/exec/wc_map'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/*.txt'}],
            'connect': ['reduce']},
           {'name': 'reduce', 'exec': {'path': 'swift://~/exec/wc_reduce'},
            'count': 2,
            'devices': [{'name': 'stdout', 'path': 'swift://~/out/r*.txt'}]}]
    got = run(metered, job, 200)
    assert len(got[(P, 'gangs.assembly.timing')]) == 1
    assert sum(got[(P, 'nodes.ran')]) == 5
    assert sum(got[(P, 'outputs.written')]) == 2
    assert sum(got[(O, 'runs.ok')]) == 5
    assert not [m for _, m in got if m.startswith('gangs.aborted')]
    # A reducer that refuses its arguments fails the job: the gang is
    # aborted, and counted so, once.
    job[1]['exec']['args'] = '--bogus'
    got = run(metered, job, 424)
    assert got[(P, 'gangs.aborted.424')] == [1]


def test_every_job_s_usage_is_stored_for_the_operator(metered):
    import time
    url, token, statsd, cluster = metered
    job = [{'name': 'wc', 'replicate': 2,
            'exec': {'path': 'swift://~/exec/wordcount'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/a.txt'},
                        {'name': 'stdout'}]}]
    answer = client.submit(url, token, json.dumps(job), json_report=True)
    assert answer.status == 200, answer.body
    trans_id = answer.headers['x-trans-id']
    # The reseller admin reads the accounting account, not the user.
    admin_url, admin_token = swiftclient.get_auth(cluster.auth_url,
                                                  'admin:admin', 'admin')
    usage_url = admin_url.rsplit('/', 1)[0] + '/' + USAGE
    account = url.rsplit('/', 1)[1]
    deadline = time.time() + 10
    while True:
        try:
            _, listing = swiftclient.get_container(usage_url, admin_token,
                                                   account)
        except swiftclient.ClientException:
            listing = []
        found = [o['name'] for o in listing
                 if o['name'].endswith('-%s.json' % trans_id)]
        if found or time.time() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1, listing
    _, body = swiftclient.get_object(usage_url, admin_token, account,
                                     found[0])
    record = json.loads(body)
    assert (record['account'], record['status'], record['nodes'],
            record['sandboxes']) == (account, 200, 1, 2)
    assert record['cpu_ms'] >= 0 and record['bytes_written'] > 0
    assert found[0].startswith(record['start'][:10].replace('-', '/'))
    with pytest.raises(swiftclient.ClientException) as refused:
        swiftclient.get_container(usage_url, token, account)
    assert refused.value.http_status == 403
