# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The proxy-side rendezvous of connected nodes, driven in-process: the
"nodes" are green threads on 127.0.0.1 speaking the line protocol."""
import json
import os
import time

import eventlet
import pytest

from zerocloud.job import parse_job
from zerocloud.middleware.planner import expand
from zerocloud.middleware import rendezvous
from zerocloud.middleware.rendezvous import Rendezvous, read_line, send_line

#: Bound on every wait: a bug fails the test instead of hanging it.
LIMIT = 2
#: How long "nothing arrives" is watched for.
QUIET = 0.05


class FakeLogger:
    def __init__(self):
        self.lines = []
        self.metrics = []       # (method, metric)

    def _log(self, level, msg, *args):
        self.lines.append((level, msg % args if args else msg))

    def increment(self, metric):
        self.metrics.append(('increment', metric))

    def timing_since(self, metric, since):
        assert since <= time.time()
        self.metrics.append(('timing_since', metric))

    def warning(self, msg, *args):
        self._log('warning', msg, *args)

    def info(self, msg, *args):
        self._log('info', msg, *args)

    def error(self, msg, *args):
        self._log('error', msg, *args)


def gang_nodes(writers=2):
    """PlanNodes: a-1..a-N each write to b (``/dev/out/b`` ->
    ``/dev/in/a-<i>``)."""
    job = [{'name': 'a', 'count': writers, 'connect': ['b'],
            'exec': {'path': 'swift://~/e/x'}},
           {'name': 'b', 'exec': {'path': 'swift://~/e/x'}}]
    return expand(parse_job(json.dumps(job), 'AUTH_t')).nodes


class FakeNode:
    """One object server's side of the protocol."""

    def __init__(self, port, name, token, tcp=None, unix=None, host='h'):
        self.name = name
        self.token = token
        self.endpoint = {'tcp': tcp or ['127.0.0.1', 40000 + len(name)],
                         'unix': unix or 'zerocloud-%s' % name,
                         'host': host}
        with eventlet.Timeout(LIMIT):
            self.sock = eventlet.connect(('127.0.0.1', port))
        self.reader = self.sock.makefile('rb')

    def hello(self, token=None, name=None):
        msg = {'hello': name or self.name, 'token': token or self.token}
        msg.update(self.endpoint)
        send_line(self.sock, msg)

    def send(self, msg):
        send_line(self.sock, msg)

    def read(self, timeout=LIMIT):
        """The next message; None at EOF; fails the test on timeout."""
        with eventlet.Timeout(timeout):
            return read_line(self.reader)

    def quiet(self):
        """True when nothing arrives for a while."""
        try:
            with eventlet.Timeout(QUIET):
                read_line(self.reader)
        except eventlet.Timeout:
            return True
        return False

    def close(self):
        self.reader.close()
        self.sock.close()


@pytest.fixture
def logger():
    return FakeLogger()


@pytest.fixture
def gang(logger):
    """A listening rendezvous for a-1, a-2, b and a way to add fake
    nodes; everything is closed afterwards."""
    made = []

    class Gang:
        def __init__(self, nodes=None, register_timeout=LIMIT, wall=LIMIT):
            self.rdv = Rendezvous(nodes or gang_nodes(), '127.0.0.1',
                                  register_timeout, wall, logger)
            self.port = self.rdv.listen()
            made.append(self)
            self.fakes = []

        def node(self, name, **kwargs):
            fake = FakeNode(self.port, name, self.rdv.token, **kwargs)
            self.fakes.append(fake)
            return fake

        def all_hello(self, names=('a-1', 'a-2', 'b')):
            fakes = [self.node(n) for n in names]
            for fake in fakes:
                fake.hello()
            return fakes

    yield Gang
    for made_gang in made:
        for fake in made_gang.fakes:
            fake.close()
        made_gang.rdv.close()


def wait_for(predicate, timeout=LIMIT):
    with eventlet.Timeout(timeout):
        while not predicate():
            eventlet.sleep(0.001)


def test_go_only_after_the_last_hello_with_reader_endpoints(gang):
    g = gang()
    a1, a2, b = g.node('a-1'), g.node('a-2'), g.node('b', host='hb')
    a1.hello()
    a2.hello()
    assert a1.quiet() and a2.quiet()
    assert not g.rdv.started and g.rdv.may_retry('a-1')
    b.hello()
    go_a1, go_a2, go_b = a1.read(), a2.read(), b.read()
    reader = {'tcp': b.endpoint['tcp'], 'unix': b.endpoint['unix'],
              'host': 'hb', 'node': 'b'}
    assert go_a1 == {'go': {'/dev/out/b': dict(reader,
                                               alias='/dev/in/a-1')}}
    assert go_a2 == {'go': {'/dev/out/b': dict(reader,
                                               alias='/dev/in/a-2')}}
    assert go_b == {'go': {}}       # b writes nothing
    assert g.rdv.started and g.rdv.failure is None
    assert g.rdv.logger.metrics == [('timing_since', 'gangs.assembly.timing')]


def test_go_for_a_two_way_connect_names_each_reader():
    nodes = expand(parse_job(json.dumps([
        {'name': 'x', 'connect': ['y'], 'exec': {'path': 'swift://~/e/x'}},
        {'name': 'y', 'connect': ['x'], 'exec': {'path': 'swift://~/e/x'}},
    ]), 'AUTH_t')).nodes
    rdv = Rendezvous(nodes, '127.0.0.1', LIMIT, LIMIT, FakeLogger())
    port = rdv.listen()
    x = FakeNode(port, 'x', rdv.token, host='hx')
    y = FakeNode(port, 'y', rdv.token, host='hy')
    try:
        x.hello()
        y.hello()
        assert x.read()['go']['/dev/out/y'] == {
            'node': 'y', 'alias': '/dev/in/x', 'host': 'hy',
            'tcp': y.endpoint['tcp'], 'unix': y.endpoint['unix']}
        assert y.read()['go']['/dev/out/x']['alias'] == '/dev/in/y'
    finally:
        x.close()
        y.close()
        rdv.close()


@pytest.mark.parametrize('bad', [
    {'token': '0' * 32},                      # wrong token
    {'name': 'stranger'},                     # not in the gang
    {'token': 7},                             # not even a string
])
def test_bad_hello_is_refused(gang, logger, bad):
    g = gang()
    intruder = g.node('a-1')
    intruder.hello(**bad)
    assert intruder.read() is None            # closed, no go
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    assert any('refused' in line for _level, line in logger.lines)


def test_garbage_hello_is_refused(gang):
    g = gang()
    peer = g.node('a-1')
    peer.sock.sendall(b'hello there\n')
    assert peer.read() is None
    assert g.rdv.failure is None


def test_nested_json_is_refused_not_a_traceback(gang):
    g = gang()
    peer = g.node('a-1')
    peer.sock.sendall(b'[' * 3000 + b'\n')
    assert peer.read() is None
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)


def test_a_silent_peer_is_dropped_after_the_hello_timeout(gang, monkeypatch):
    monkeypatch.setattr(rendezvous, 'HELLO_TIMEOUT', 0.05)
    g = gang()
    silent = g.node('a-1')
    assert silent.read() is None        # closed by the rendezvous
    assert g.rdv._pending == 0
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)


def test_connections_past_the_pending_bound_are_closed(gang, monkeypatch):
    # Anyone may connect: idle peers must not take every fd the proxy has.
    monkeypatch.setattr(rendezvous, 'MAX_PENDING', 2)
    g = gang()      # 3 nodes: 5 peers may wait for their hello at once
    idle = [g.node('x%d' % i) for i in range(5)]
    wait_for(lambda: g.rdv._pending == 5)
    sixth = g.node('z')
    assert sixth.read() is None
    for peer in idle:
        peer.close()
    wait_for(lambda: g.rdv._pending == 0)
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)


def test_the_accept_loop_outlives_running_out_of_fds(gang, monkeypatch):
    import errno
    g = gang()
    real = type(g.rdv._listener).accept
    failures = [OSError(errno.EMFILE, 'Too many open files')] * 3

    def accept(listener):
        if failures:
            raise failures.pop()
        return real(listener)
    monkeypatch.setattr(type(g.rdv._listener), 'accept', accept)
    monkeypatch.setattr(rendezvous, 'ACCEPT_BACKOFF', 0.01)
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    assert not failures


def test_duplicate_hello_is_refused(gang):
    g = gang()
    first, twin = g.node('a-1'), g.node('a-1')
    first.hello()
    wait_for(lambda: g.rdv.members['a-1'].endpoint is not None)
    twin.hello()
    assert twin.read() is None
    assert not g.rdv.started
    a2, b = g.node('a-2'), g.node('b')
    a2.hello()
    b.hello()
    assert 'go' in first.read() and 'go' in a2.read() and 'go' in b.read()


def test_registration_deadline(gang):
    g = gang(register_timeout=0.05)
    a1 = g.node('a-1')
    a1.hello()
    wait_for(lambda: g.rdv.members['a-1'].endpoint is not None)
    assert g.rdv.failure is None
    g.rdv.arm()
    msg = a1.read()
    assert 'abort' in msg
    node, status, message = g.rdv.failure
    assert (node, status) == (None, 503)
    assert message == msg['abort']
    assert '"a-2", "b"' in message and '"a-1"' not in message
    assert not g.rdv.may_retry('a-2')
    assert g.rdv.logger.metrics == [('increment', 'gangs.aborted.503')]
    # A late hello is aborted at once, and never gets go.
    late = g.node('a-2')
    late.hello()
    assert late.read() == {'abort': message}
    assert late.quiet()


def test_the_deadline_names_nodes_whose_objects_were_being_read(gang):
    g = gang(register_timeout=0.05)
    g.rdv.fetching.update(['a-2', 'a-1'])
    a1 = g.node('a-1')
    a1.hello()
    wait_for(lambda: g.rdv.members['a-1'].endpoint is not None)
    g.rdv.arm()
    message = a1.read()['abort']
    assert message.endswith('(waiting for "a-2", "b"); the proxy was still '
                            'reading the large objects (or symlinks\' '
                            'targets) of 1 of them: the operator\'s '
                            'rendezvous_timeout bounds that too')


def test_deadline_is_not_armed_before_arm(gang):
    g = gang(register_timeout=0.01)
    eventlet.sleep(0.05)
    assert g.rdv.failure is None
    assert all('go' in f.read() for f in g.all_hello())


def test_deadline_does_not_fire_after_go(gang):
    g = gang(register_timeout=0.05)
    g.rdv.arm()
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    assert all(f.quiet() for f in fakes)
    assert g.rdv.failure is None


def test_abort_before_a_late_hello(gang):
    g = gang()
    a1 = g.node('a-1')
    a1.hello()
    wait_for(lambda: g.rdv.members['a-1'].endpoint is not None)
    g.rdv.node_failed('b', 422, 'invalid program')
    assert g.rdv.failure == ('b', 422, 'node "b": invalid program')
    assert a1.read() == {'abort': 'node "b": invalid program'}
    a2 = g.node('a-2')
    a2.hello()
    assert a2.read() == {'abort': 'node "b": invalid program'}
    assert not g.rdv.started and not g.rdv.may_retry('a-2')


def test_when_checked_in_fires_at_the_hello_or_at_once(gang):
    g = gang()
    called = []
    g.rdv.when_checked_in('a-1', lambda: called.append('a-1'))
    g.rdv.when_checked_in('a-1', lambda: called.append('a-1 again'))
    a1 = g.node('a-1')
    assert a1.quiet() and called == []
    a1.hello()
    wait_for(lambda: len(called) == 2)
    assert called == ['a-1', 'a-1 again']
    # Checked in already: at once.  Not a member: at once (nothing to wait
    # for).  Each callback is called once.
    g.rdv.when_checked_in('a-1', lambda: called.append('late'))
    g.rdv.when_checked_in('nobody', lambda: called.append('nobody'))
    g.node('a-2').hello()
    wait_for(lambda: g.rdv.members['a-2'].endpoint is not None)
    assert called == ['a-1', 'a-1 again', 'late', 'nobody']


def test_when_checked_in_fires_on_abort_and_on_close(gang):
    g = gang()
    called = []
    g.rdv.when_checked_in('a-1', lambda: called.append('a-1'))
    g.rdv.abort('stop')
    assert called == ['a-1']
    g.rdv.when_checked_in('a-2', lambda: called.append('a-2'))
    assert called == ['a-1', 'a-2']     # aborted: nothing to wait for
    h = gang()
    h.rdv.when_checked_in('b', lambda: called.append('b'))
    h.rdv.close()
    assert called == ['a-1', 'a-2', 'b']
    h.rdv.when_checked_in('a-1', lambda: called.append('closed'))
    assert called[-1] == 'closed'


def test_done_not_ok_aborts_the_others(gang):
    g = gang()
    a1, a2, b = g.all_hello()
    assert all('go' in f.read() for f in (a1, a2, b))
    a1.send({'done': {'ok': False, 'message': 'exit 1'}})
    assert a2.read() == {'abort': 'node "a-1" failed: exit 1'}
    assert b.read() == {'abort': 'node "a-1" failed: exit 1'}
    assert g.rdv.failure == ('a-1', 424, 'node "a-1" failed: exit 1')
    assert a1.quiet()                   # the node that ended is left alone
    assert g.rdv.logger.metrics == [
        ('timing_since', 'gangs.assembly.timing'),
        ('increment', 'gangs.aborted.424')]     # counted once


def test_done_ok_aborts_nobody(gang):
    g = gang()
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    for fake in fakes:
        fake.send({'done': {'ok': True, 'message': ''}})
    wait_for(lambda: all(m.done for m in g.rdv.members.values()))
    assert all(f.quiet() for f in fakes)
    assert g.rdv.failure is None


def test_failed_aborts_with_503(gang):
    g = gang()
    a1, a2, b = g.all_hello()
    assert all('go' in f.read() for f in (a1, a2, b))
    b.send({'failed': 'cannot connect /dev/out/x'})
    message = 'node "b" could not be started: cannot connect /dev/out/x'
    assert a1.read() == {'abort': message}
    assert a2.read() == {'abort': message}
    assert g.rdv.failure == ('b', 503, message)


def test_lost_contact_before_done(gang):
    g = gang()
    a1, a2, b = g.all_hello()
    assert all('go' in f.read() for f in (a1, a2, b))
    a2.close()
    msg = a1.read()
    assert 'lost contact with node "a-2"' in msg['abort']
    assert b.read() == msg
    assert g.rdv.failure[:2] == ('a-2', 503)


def test_lost_contact_after_done_is_fine(gang):
    g = gang()
    a1, a2, b = g.all_hello()
    assert all('go' in f.read() for f in (a1, a2, b))
    a2.send({'done': {'ok': True, 'message': ''}})
    wait_for(lambda: g.rdv.members['a-2'].done is not None)
    a2.close()
    assert a1.quiet() and b.quiet()
    assert g.rdv.failure is None


def test_wall_limit_after_go(gang):
    g = gang(wall=0.05)
    a1, a2, b = g.all_hello()
    assert all('go' in f.read() for f in (a1, a2, b))
    a1.send({'done': {'ok': True, 'message': ''}})
    msg = b.read()
    assert 'wall-clock limit of 0.05s' in msg['abort']
    assert a2.read() == msg
    assert g.rdv.failure == (None, 504, msg['abort'])
    assert a1.quiet()
    assert g.rdv.logger.metrics[-1] == ('increment', 'gangs.aborted.504')


def test_may_retry(gang):
    g = gang()
    assert g.rdv.may_retry('a-1')
    assert g.rdv.in_gang('a-1') and not g.rdv.in_gang('c')
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    assert not g.rdv.may_retry('a-1')
    other = gang()
    other.rdv.abort('the client went away')
    assert not other.rdv.may_retry('a-1')
    assert other.rdv.failure == (None, 503, 'the client went away')


def test_first_failure_is_kept(gang):
    g = gang()
    fakes = g.all_hello()
    assert all('go' in f.read() for f in fakes)
    g.rdv.node_failed('a-2', 500, 'boom')
    g.rdv.abort('later', 'b', 504)
    assert g.rdv.failure == ('a-2', 500, 'node "a-2": boom')
    assert all(f.read() == {'abort': 'node "a-2": boom'} for f in fakes)
    assert all(f.quiet() for f in fakes)    # aborted once only


def test_spec():
    rdv = Rendezvous(gang_nodes(), '127.0.0.1', 3, 9, FakeLogger())
    assert rdv.spec(1234, '', 99) == {'port': 1234, 'ip': None,
                                      'token': rdv.token, 'timeout': 3,
                                      'pipe_limit': 99}
    assert len(rdv.token) == 32
    rdv.close()


def fds():
    return set(os.listdir('/proc/self/fd'))


def test_close_ends_threads_and_sockets(logger):
    eventlet.sleep(0)           # the hub's own fds exist before counting
    before = fds()
    rdv = Rendezvous(gang_nodes(), '127.0.0.1', LIMIT, LIMIT, logger)
    port = rdv.listen()
    rdv.arm()
    fakes = [FakeNode(port, n, rdv.token) for n in ('a-1', 'a-2', 'b')]
    fakes[0].hello()
    fakes[1].hello()
    wait_for(lambda: len(rdv._threads) == 4)   # accept + 3 nodes
    threads = list(rdv._threads)
    rdv.close()
    # Every node sees its connection end, without an abort.
    assert [f.read() for f in fakes[:2]] == [None, None]
    eventlet.sleep(0)
    assert all(t.dead for t in threads)
    with pytest.raises(OSError):
        with eventlet.Timeout(LIMIT):
            late = eventlet.connect(('127.0.0.1', port))
            late.close()
    for fake in fakes:
        fake.close()
    eventlet.sleep(0)
    assert fds() == before
    rdv.close()                 # idempotent
