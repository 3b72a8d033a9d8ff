# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The Dispatcher with a gang (nodes joined by pipes): a fake transport
and a fake rendezvous."""
import hashlib
import io
import json

import eventlet
import pytest
from eventlet import Timeout

from proxy_fakes import FakeObjectServers, FakeResponse
from swift.common.utils import get_logger
from test_dispatch import LIMITS, SERVERS, requests_for
from zerocloud.middleware.dispatch import (CONNECTED_HEADER, Dispatcher,
                                           Fetched, NodeRequest, RequestBody,
                                           Stopped, node_spec)
from zerocloud.job import parse_job
from zerocloud.middleware.placement import RingView, place
from zerocloud.middleware.planner import expand

LOGGER = get_logger({}, log_route='test-dispatch-gang')
#: Bound on every wait: a bug fails the test instead of hanging it.
LIMIT = 2


class FakeGang:
    """What the Dispatcher asks of a Rendezvous."""

    register_timeout = LIMIT

    def __init__(self, names):
        self.names = set(names)
        self.armed = 0
        self.started = False
        self.failure = None
        self.failed = []
        self.waiting = {}   # name -> callbacks (when_checked_in)
        self.checked_in = set()

    def when_checked_in(self, name, callback):
        if name in self.checked_in:
            callback()
        else:
            self.waiting.setdefault(name, []).append(callback)

    def check_in(self, name):
        self.checked_in.add(name)
        for callback in self.waiting.pop(name, []):
            callback()

    def in_gang(self, name):
        return name in self.names

    def arm(self):
        self.armed += 1

    @property
    def aborted(self):
        return self.failure is not None

    def may_retry(self, name):
        return not self.started and not self.aborted

    def node_failed(self, name, status, message):
        self.failed.append((name, status, message))
        if self.failure is None:
            self.failure = (name, status, 'node %s: %s'
                            % (json.dumps(name), message))


def group(name, **extra):
    item = {'name': name, 'exec': {'path': 'file://python:/bin/p'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/c/%s' % name},
                        {'name': 'stdout'}]}
    item.update(extra)
    return item


def plan_of(writers=2, solo=0):
    """a-1..a-N -> b (the gang), plus ``solo`` unconnected nodes s-*."""
    groups = [group('a', count=writers, connect=['b']), group('b')]
    if solo:
        groups.append(group('s', count=solo))
    ring = RingView(lambda a, c, o: (5, SERVERS[:3]))
    return place(expand(parse_job(json.dumps(groups), 'AUTH_t')), ring)


def _node(plan, name):
    node, = [n for n in plan.nodes if n.name == name]
    return node


def gang_of(plan):
    return FakeGang(n.name for n in plan.nodes
                    if any(c.kind == 'pipe' for c in n.channels))


def dispatch(servers, spool, plan, gang, concurrency=4):
    dispatcher = Dispatcher(servers, concurrency, spool, 100, LOGGER, 'tx1',
                            gang)
    with Timeout(LIMIT):
        return dispatcher.run(requests_for(plan, spool))


def sent_to(servers, node):
    return [s['device'] for s in servers.sent if s['spec']['node'] == node]


def test_gang_is_sent_all_at_once_whatever_the_concurrency(spool):
    plan = plan_of(writers=3, solo=3)
    gang = gang_of(plan)
    active = {'gang': 0, 'solo': 0}
    peak = {'gang': 0, 'solo': 0}

    class Barrier(FakeObjectServers):
        def request(self, server, method, path, headers, body, length):
            kind = 'gang' if CONNECTED_HEADER in headers else 'solo'
            active[kind] += 1
            peak[kind] = max(peak[kind], active[kind])
            # A gang node answers only once all its gang is in.
            while kind == 'gang' and peak['gang'] < len(gang.names):
                eventlet.sleep(0.001)
            eventlet.sleep(0.001)
            active[kind] -= 1
            return super().request(server, method, path, headers, body,
                                   length)
    outcomes = dispatch(Barrier(), spool, plan, gang, concurrency=1)
    assert peak == {'gang': 4, 'solo': 1}
    assert gang.armed == 1
    assert all(o.ran for o in outcomes)
    assert [o.node.name for o in outcomes] == [n.name for n in plan.nodes]
    assert gang.failed == []


def test_no_gang_node_no_arm(spool):
    plan = plan_of(solo=2)
    gang = FakeGang([])
    outcomes = dispatch(FakeObjectServers(), spool, plan, gang)
    assert gang.armed == 0 and all(o.ran for o in outcomes)


def test_connected_header_only_for_gang_nodes(spool):
    plan = plan_of(solo=1)
    servers = FakeObjectServers()
    dispatch(servers, spool, plan, gang_of(plan))
    marked = {s['spec']['node']: s['headers'].get(CONNECTED_HEADER)
              for s in servers.sent}
    assert marked == {'a-1': '1', 'a-2': '1', 'b': '1', 's': None}


@pytest.mark.parametrize('refusal', [503, 404, OSError('refused')])
def test_gang_node_fails_over_before_the_start(spool, refusal):
    plan = plan_of()
    gang = gang_of(plan)
    servers = FakeObjectServers(
        behave=lambda d, s: refusal if (d, s['node']) == ('sda', 'a-1')
        else None)
    outcomes = dispatch(servers, spool, plan, gang)
    assert sent_to(servers, 'a-1') == ['sda', 'sdb']
    assert all(o.ran for o in outcomes)
    assert gang.failed == []


@pytest.mark.parametrize('refusal', [503, OSError('refused')])
def test_gang_node_is_not_retried_once_the_gang_started(spool, refusal):
    plan = plan_of(solo=1)
    gang = gang_of(plan)

    def behave(device, spec):
        gang.started = True         # the others said hello meanwhile
        if device == 'sda' and spec['node'] in ('a-1', 's'):
            return refusal
    servers = FakeObjectServers(behave=behave)
    outcomes = {o.node.name: o for o in dispatch(servers, spool, plan,
                                                 gang)}
    assert sent_to(servers, 'a-1') == ['sda']
    assert not outcomes['a-1'].ran
    assert outcomes['a-1'].error.startswith(
        'no object server could run node "a-1": tried 10.0.0.0:6200/sda (')
    assert gang.failed == [('a-1', 503, outcomes['a-1'].error)]
    # A node outside the gang still fails over.
    assert sent_to(servers, 's') == ['sda', 'sdb'] and outcomes['s'].ran


def test_gang_node_is_not_retried_once_aborted(spool):
    plan = plan_of()
    gang = gang_of(plan)

    def behave(device, spec):
        if spec['node'] == 'a-1':
            gang.failure = ('b', 422, 'node "b": invalid program')
            return 503
    servers = FakeObjectServers(behave=behave)
    outcomes = {o.node.name: o for o in dispatch(servers, spool, plan,
                                                 gang)}
    assert sent_to(servers, 'a-1') == ['sda']
    assert outcomes['a-1'].error == \
        'node "a-1" did not run: node "b": invalid program'
    assert gang.failed == [('a-1', 503, outcomes['a-1'].error)]


@pytest.mark.parametrize('status', [422, 400, 500])
def test_gang_node_error_answer_fails_the_gang(spool, status):
    plan = plan_of(solo=1)
    gang = gang_of(plan)
    servers = FakeObjectServers(
        behave=lambda d, s: status if s['node'] in ('b', 's') else None)
    outcomes = {o.node.name: o for o in dispatch(servers, spool, plan,
                                                 gang)}
    first = _node(plan, 'b').candidates[0]
    assert sent_to(servers, 'b') == [first.device]
    assert gang.failed == [
        ('b', status, 'object server %s:6200/%s answered %d: busy'
         % (first.ip, first.device, status))]
    assert outcomes['b'].status == status
    # The same answer from a node outside the gang fails only that node.
    assert not outcomes['s'].ran and outcomes['s'].status == status


def test_gang_node_nowhere_to_run_fails_the_gang(spool):
    plan = plan_of()
    gang = gang_of(plan)
    servers = FakeObjectServers(
        behave=lambda d, s: OSError('unreachable') if s['node'] == 'a-2'
        else None)
    outcomes = {o.node.name: o for o in dispatch(servers, spool, plan,
                                                 gang)}
    tried = _node(plan, 'a-2').candidates
    assert sent_to(servers, 'a-2') == [s.device for s in tried]
    assert gang.failed == [('a-2', 503, outcomes['a-2'].error)]
    assert outcomes['a-2'].error.startswith(
        'no object server could run node "a-2": tried '
        '%s:6200/%s (unreachable: unreachable), '
        % (tried[0].ip, tried[0].device))


def test_a_gang_node_that_ran_and_failed_is_left_to_the_rendezvous(spool):
    plan = plan_of()
    gang = gang_of(plan)
    servers = FakeObjectServers(lambda spec, members: (
        1 if spec['node'] == 'b' else 0, {}))
    outcomes = dispatch(servers, spool, plan, gang)
    assert all(o.ran for o in outcomes)
    assert gang.failed == []


def test_stop_kills_requests_in_flight(spool):
    plan = plan_of(solo=1)
    gang = gang_of(plan)
    connections = []
    responses = []

    class Stuck(FakeResponse):
        def read(self, size=-1):
            eventlet.sleep(60)      # an answer that never comes

    class Hanging(FakeObjectServers):
        def request(self, server, method, path, headers, body, length):
            super().request(server, method, path, headers, body, length)
            if CONNECTED_HEADER not in headers:
                responses.append(Stuck(200))
                return responses[-1]
            conn = {'node': self.sent[-1]['spec']['node'], 'closed': False}
            connections.append(conn)
            try:
                eventlet.sleep(60)  # waiting for the node's answer
            finally:
                conn['closed'] = True   # like HTTPTransport's conn.close()
    dispatcher = Dispatcher(Hanging(), 4, spool, 100, LOGGER, 'tx1', gang)
    runner = eventlet.spawn(dispatcher.run, requests_for(plan, spool))
    with Timeout(LIMIT):
        while len(connections) < 3 or not responses:
            eventlet.sleep(0.001)
    assert not any(c['closed'] for c in connections)
    dispatcher.stop()
    assert all(c['closed'] for c in connections)
    assert responses[0].closed
    with Timeout(LIMIT):
        with pytest.raises(Stopped):
            runner.wait()


def cold_requests(plan, spool, program=b'\x7fELF the program'):
    """Requests as the proxy makes them for a Swift program: without it
    first, and ``with_program`` for a server that answers 428."""
    prog = spool.new_path('prog')
    with open(prog, 'wb') as f:
        f.write(program)
    sha = hashlib.sha256(program).hexdigest()
    exe = Fetched(prog, len(program), 'etag', sha)
    result = []
    for node in plan.nodes:
        spec, _members = node_spec(node, plan.account, LIMITS, exe)
        full = RequestBody(spec, prog)
        result.append(NodeRequest(node, '/AUTH_t/c/o', 0, RequestBody(spec),
                                  lambda full=full: full, sha))
    return result


class ColdServers(FakeObjectServers):
    """Servers that keep no program yet; a gang node that brings one
    checks in (its server keeps the program) a moment later."""

    def __init__(self, gang, **kwargs):
        super().__init__(warm=False, **kwargs)
        self.gang = gang

    def request(self, server, method, path, headers, body, length):
        eventlet.sleep(0)   # the network: every node is on its way at once
        resp = super().request(server, method, path, headers, body, length)
        sent = self.sent[-1]
        if 'exec' in sent['members'] and CONNECTED_HEADER in headers:
            eventlet.sleep(0.01)
            self.gang.check_in(sent['spec']['node'])
        return resp


def brought(servers):
    return [(s['device'], s['spec']['node']) for s in servers.sent
            if 'exec' in s['members']]


def test_a_cold_server_gets_the_program_once_for_a_gang(spool):
    plan = plan_of(writers=6, solo=2)
    gang = gang_of(plan)
    servers = ColdServers(gang)
    dispatcher = Dispatcher(servers, 4, spool, 100, LOGGER, 'tx1', gang)
    with Timeout(LIMIT):
        outcomes = dispatcher.run(cold_requests(plan, spool))
    assert all(o.ran for o in outcomes), [o.error for o in outcomes]
    # The gang's first choices, spread over the three servers.
    firsts = {_node(plan, n).candidates[0].device for n in gang.names}
    assert len(firsts) == 3
    gang_uploads = [n for d, n in brought(servers) if gang.in_gang(n)]
    solo_uploads = [n for d, n in brought(servers) if not gang.in_gang(n)]
    # One gang node brought it to each server; the 4 others were sent
    # again without it.
    assert sorted(d for d, n in brought(servers) if gang.in_gang(n)) == \
        sorted(firsts), brought(servers)
    for node in gang.names - set(gang_uploads):
        tries = [s for s in servers.sent if s['spec']['node'] == node]
        assert [('exec' in s['members']) for s in tries] == [False, False]
    # Nodes outside the gang wait for nobody: each refused one brings it.
    assert all(n.startswith('s-') for n in solo_uploads)
    assert gang.failed == []


def test_when_the_bringer_fails_the_others_bring_it_themselves(spool):
    plan = plan_of(writers=3)
    gang = gang_of(plan)
    failed = []

    class FirstUploadLost(ColdServers):
        def request(self, server, method, path, headers, body, length):
            data = body.read(length)
            if not failed and b'\x7fELF the program' in data:
                failed.append(server.device)
                raise ConnectionRefusedError('gone')
            return super().request(server, method, path, headers,
                                   io.BytesIO(data), length)
    servers = FirstUploadLost(gang)
    dispatcher = Dispatcher(servers, 4, spool, 100, LOGGER, 'tx1', gang)
    with Timeout(LIMIT):
        outcomes = dispatcher.run(cold_requests(plan, spool))
    assert all(o.ran for o in outcomes), [o.error for o in outcomes]
    assert failed == [SERVERS[0]['device']]
    # Nobody waited past the bringer's failure: the others, refused again,
    # brought the program to that server themselves.
    assert SERVERS[0]['device'] in {d for d, _ in brought(servers)}
    assert gang.failed == []
