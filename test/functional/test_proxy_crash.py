# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""A proxy killed in the middle of a job's commit, on a cluster of its own:
the outputs it had written are visible until a proxy process starts again
on its host, whose first request rolls them back from the commit journal
it left in ``temp_dir`` (:mod:`zerocloud.middleware.journal`); the job
spools it left go too."""
import glob
import json
import os
import tempfile
import threading
import time

import pytest
import swiftclient

from zerocloud import client, saio
from zerocloud.middleware.journal import JOURNAL_PREFIX

from .leaks import assert_nothing_left, proxy_spools

NODES = 48
SIZE = 2 * 1024 * 1024


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    with saio.Cluster(run_dir=str(tmp_path_factory.mktemp('crash'))) as c:
        yield c


def _journals():
    return glob.glob(os.path.join(tempfile.gettempdir(),
                                  JOURNAL_PREFIX + '*.json'))


def _names(url, token):
    return sorted(o['name'] for o in swiftclient.get_container(
        url, token, 'crash')[1])


def test_a_commit_cut_by_a_killed_proxy_is_rolled_back(cluster, programs):
    url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                      'testing')
    swiftclient.put_container(url, token, 'exec')
    swiftclient.put_container(url, token, 'crash')
    with open(programs.build('limits'), 'rb') as f:
        swiftclient.put_object(url, token, 'exec', 'limits', f)
    swiftclient.put_object(url, token, 'crash', 'keep.txt', b'not the job\'s')
    spools = proxy_spools()
    job = [{'name': 'w', 'count': NODES,
            'exec': {'path': 'swift://~/exec/limits',
                     'args': 'write %d' % SIZE},
            'devices': [{'name': 'stdout',
                         'path': 'swift://~/crash/w*.bin'}]}]
    answered = {}

    def submit():
        try:
            answered['answer'] = client.submit(url, token, json.dumps(job))
        except Exception as err:        # the proxy went away: expected
            answered['error'] = repr(err)
    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 120
    while len(_names(url, token)) < 2:
        assert time.monotonic() < deadline and thread.is_alive(), answered
        time.sleep(0.02)
    cluster.stop_core(kill=True)
    thread.join(60)
    assert 'answer' not in answered or answered['answer'].status >= 500
    left = _journals()
    assert left, 'the commit ended before the proxy was killed'

    cluster.start_core()
    url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                      'testing')
    # The first request (this listing) starts the roll-back.
    written = _names(url, token)
    deadline = time.monotonic() + 60
    while _names(url, token) != ['keep.txt']:
        assert time.monotonic() < deadline, (written, _names(url, token))
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while set(_journals()) & set(left):
        assert time.monotonic() < deadline, left
        time.sleep(0.05)
    assert set(proxy_spools()) <= set(spools)
    assert swiftclient.get_object(url, token, 'crash', 'keep.txt')[1] == \
        b'not the job\'s'
    with open(os.path.join(cluster.log_dir, 'core.log'),
              errors='replace') as f:
        assert 'rolled back the commit of a stopped proxy' in f.read()
    assert_nothing_left(cluster)
    # And jobs run again.
    answer = client.submit(url, token, json.dumps([dict(
        job[0], count=2, exec={'path': 'swift://~/exec/limits',
                               'args': 'write 10'})]))
    assert answer.status == 200, answer.body
