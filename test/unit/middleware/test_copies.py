# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Replicated nodes (``replicate: 2|3``): where the copies run, and how
their outcomes merge into the node's (zerocloud.middleware.copies)."""
import json

import pytest

from proxy_fakes import FakeObjectServers
from swift.common.utils import get_logger
from zerocloud.exceptions import JobError
from zerocloud.job import parse_job
from zerocloud.middleware.dispatch import (Dispatcher, NodeRequest,
                                           RequestBody, node_spec)
from zerocloud.middleware.placement import (RingView, copy_candidates,
                                            place)
from zerocloud.middleware.plan import Server
from zerocloud.middleware.planner import expand
from zerocloud.middleware.report import build_report

LOGGER = get_logger({}, log_route='test-copies')
LIMITS = {'memory': 1 << 28, 'cpu': 10, 'timeout': 60, 'max_output': 100}
SERVERS = [{'id': i, 'ip': '10.0.0.%d' % i, 'port': 6200,
            'device': 'sd%s' % 'abcd'[i]} for i in range(4)]


def plan_of(replicate, holders=3, count=1):
    job = [{'name': 'g', 'count': count, 'replicate': replicate,
            'exec': {'path': 'file://python:/bin/p'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/c/o'},
                        {'name': 'stdout'},
                        {'name': 'output', 'path': 'swift://~/c/out'
                         + ('-*' if count > 1 else '')}]}]
    ring = RingView(lambda a, c, o: (5, SERVERS[:holders]))
    return place(expand(parse_job(json.dumps(job), 'AUTH_t')), ring)


def run(plan, servers, tmp_spool):
    requests = []
    for node in plan.nodes:
        spec, _members = node_spec(node, plan.account, LIMITS)
        requests.append(NodeRequest(node, '/AUTH_t/c/o', 0,
                                    RequestBody(spec)))
    return Dispatcher(servers, 4, tmp_spool, 100, LOGGER, 'tx').run(requests)


class PerServer(FakeObjectServers):
    """Every server runs the node; ``outputs[device]`` says what it
    writes (default ``b'same'``), ``ends[device]`` how it ends."""

    def __init__(self, outputs=None, ends=None, behave=None):
        self.device = None
        outputs, ends = outputs or {}, ends or {}

        def program(spec, members):
            data = outputs.get(self.device, b'same')
            code, reason = ends.get(self.device, (0, None))
            return code, {'/dev/stdout': data, '/dev/output': data}, reason

        def record(device, spec):
            self.device = device
            return (behave or (lambda d, s: None))(device, spec)
        super().__init__(program, record)


def devices(outcome):
    return [c['server'] and c['server'].split('/')[1]
            for c in outcome.copies]


def test_copies_run_on_different_servers_and_agree(spool):
    servers = PerServer()
    outcome, = run(plan_of(2), servers, spool)
    assert sorted(s['device'] for s in servers.sent) == ['sda', 'sdb']
    assert outcome.ran and outcome.disagreement is None
    assert devices(outcome) == ['sda', 'sdb']
    assert [c['used'] for c in outcome.copies] == [True, False]
    assert all(c['ran'] and c['reason'] == 'ok' for c in outcome.copies)
    report = build_report(plan_of(2), [outcome], 100)
    assert report.status == 200
    assert report.nodes[0]['copies'] == outcome.copies


def test_three_copies_on_three_servers(spool):
    servers = PerServer()
    outcome, = run(plan_of(3), servers, spool)
    assert devices(outcome) == ['sda', 'sdb', 'sdc']


def test_a_copy_fails_over_to_its_own_next_candidate(spool):
    # Copy 1 has sda then sdc; copy 2 has sdb only.
    servers = PerServer(behave=lambda d, s: OSError('down')
                        if d == 'sda' else None)
    outcome, = run(plan_of(2), servers, spool)
    assert devices(outcome) == ['sdc', 'sdb']
    assert outcome.tried == ['10.0.0.0:6200/sda (unreachable: down)']


def test_a_copy_that_cannot_run_is_left_out(spool):
    servers = PerServer(behave=lambda d, s: 503 if d == 'sdb' else None)
    outcome, = run(plan_of(2), servers, spool)
    assert outcome.ran and outcome.server.device == 'sda'
    assert outcome.copies[1]['ran'] is False
    assert 'no object server could run node "g"' in \
        outcome.copies[1]['error']
    assert build_report(plan_of(2), [outcome], 100).status == 200


def test_a_copy_out_of_time_is_left_out(spool):
    servers = PerServer(ends={'sda': (None, 'timeout')})
    outcome, = run(plan_of(2), servers, spool)
    assert outcome.server.device == 'sdb'
    assert outcome.copies[0]['error'] == 'did not settle: timeout'
    assert [c['used'] for c in outcome.copies] == [False, True]
    assert build_report(plan_of(2), [outcome], 100).status == 200


def test_every_copy_out_of_time_is_the_node_timing_out(spool):
    servers = PerServer(ends={'sda': (None, 'timeout'),
                              'sdb': (None, 'timeout')})
    outcome, = run(plan_of(2), servers, spool)
    assert outcome.ran and outcome.disagreement is None
    report = build_report(plan_of(2), [outcome], 100)
    assert report.status == 504


def test_no_copy_runs(spool):
    servers = PerServer(behave=lambda d, s: 503)
    outcome, = run(plan_of(2), servers, spool)
    assert not outcome.ran
    assert len(outcome.tried) == 3      # sda, sdc; sdb
    report = build_report(plan_of(2), [outcome], 100)
    assert report.status == 503


def test_copies_that_fail_alike_are_the_program_failing(spool):
    servers = PerServer(ends={'sda': (1, None), 'sdb': (1, None)})
    outcome, = run(plan_of(2), servers, spool)
    assert outcome.disagreement is None
    assert build_report(plan_of(2), [outcome], 100).status == 424


def test_different_bytes_are_a_disagreement(spool):
    servers = PerServer(outputs={'sdb': b'else'})
    plan = plan_of(2)
    outcome, = run(plan, servers, spool)
    assert outcome.disagreement.startswith(
        'copies of node "g" disagree: /dev/stdout 4 bytes written, '
        'sha256 ')
    assert 'on 10.0.0.0:6200/sda' in outcome.disagreement
    assert 'on 10.0.0.1:6200/sdb' in outcome.disagreement
    assert outcome.disagreement.endswith('nothing was written')
    report = build_report(plan, [outcome], 100)
    assert report.status == 502
    assert report.message == 'copies disagree: node "g"'
    assert report.nodes[0]['failure'] == 'disagreement'
    assert report.nodes[0]['error'] == outcome.disagreement
    assert report.headers['X-Nexe-Error'].startswith('copies of node')


def test_different_ends_are_a_disagreement(spool):
    servers = PerServer(ends={'sdc': (3, None)})
    outcome, = run(plan_of(3), servers, spool)
    assert 'disagree: ok 0 on 10.0.0.0:6200/sda, exit 3 on ' \
        '10.0.0.2:6200/sdc' in outcome.disagreement


def test_each_node_of_a_group_has_its_copies(spool):
    servers = PerServer()
    outcomes = run(plan_of(2, count=3), servers, spool)
    assert len(servers.sent) == 6
    assert [len(o.copies) for o in outcomes] == [2, 2, 2]


def test_unreplicated_nodes_have_no_copies(spool):
    outcome, = run(plan_of(1), PerServer(), spool)
    assert outcome.copies is None
    assert 'copies' not in build_report(plan_of(1), [outcome], 100).nodes[0]


def test_more_copies_than_holders_is_refused():
    with pytest.raises(JobError) as caught:
        plan_of(3, holders=2)
    assert caught.value.status == 400
    assert str(caught.value) == (
        'group "g": replicate 3: node "g" can run on only 2 object servers '
        '(those holding swift://AUTH_t/c/o)')


def test_copy_candidates_never_share_a_server():
    def server(ip, device):
        return Server(ip=ip, port=6200, device=device)
    found = (server('a', 'd1'), server('a', 'd2'), server('b', 'd3'),
             server('c', 'd4'), server('b', 'd5'))
    first, second = copy_candidates(found, 2)
    assert [s.device for s in first] == ['d1', 'd2', 'd4']
    assert [s.device for s in second] == ['d3', 'd5']
    assert copy_candidates(found, 1) == [found]
