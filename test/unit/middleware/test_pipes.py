# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Pipes between nodes: PipeSets in-process against a real Rendezvous on
127.0.0.1, the sandbox's fds read and written green-friendly."""
import gc
import json
import os
import socket

import eventlet
import pytest
from eventlet import hubs

from zerocloud.executor.base import parse_spec
from zerocloud.job import parse_job
from zerocloud.middleware import pipes
from zerocloud.middleware.dispatch import node_spec
from zerocloud.middleware.pipes import Aborted, PipeError, PipeSet
from zerocloud.middleware.planner import expand
from zerocloud.middleware.rendezvous import Rendezvous, send_line

#: Bound on every wait: a bug fails the test instead of hanging it.
LIMIT = 2
MIB = 1 << 20
EXE = {'path': 'swift://~/e/x'}
#: a -> b
PAIR = [{'name': 'a', 'connect': ['b'], 'exec': EXE},
        {'name': 'b', 'exec': EXE}]
#: a-1, a-2 -> b
FAN_IN = [{'name': 'a', 'count': 2, 'connect': ['b'], 'exec': EXE},
          {'name': 'b', 'exec': EXE}]


class FakeLogger:
    def __init__(self):
        self.lines = []

    def _log(self, msg, *args):
        self.lines.append(msg % args if args else msg)

    warning = info = error = _log

    def increment(self, metric, *args):
        pass

    timing_since = increment


class Job:
    """A rendezvous and one PipeSet per node (each its own workdir)."""

    def __init__(self, tmp_path, groups, pipe_limit=64 * MIB):
        self.logger = FakeLogger()
        nodes = expand(parse_job(json.dumps(groups), 'AUTH_t')).nodes
        self.rdv = Rendezvous(nodes, '127.0.0.1', LIMIT, LIMIT, self.logger)
        self.port = self.rdv.listen()
        self.rdv.arm()
        self.sets = {}
        self.workdirs = []
        for node in nodes:
            spec, _members = node_spec(node, 'AUTH_t', {}, rendezvous=(
                self.rdv.spec(self.port, '127.0.0.1', pipe_limit)))
            workdir = tmp_path / node.name
            workdir.mkdir()
            self.workdirs.append(workdir)
            self.sets[node.name] = PipeSet(
                parse_spec(json.dumps(spec).encode()), str(workdir),
                '127.0.0.1', '127.0.0.1', LIMIT, LIMIT, self.logger)

    def register(self, names=None):
        threads = {name: eventlet.spawn(self.sets[name].register)
                   for name in names or self.sets}
        with eventlet.Timeout(LIMIT):
            return {name: t.wait() for name, t in threads.items()}

    def connect(self, peers):
        threads = [eventlet.spawn(self.sets[name].connect, peers[name])
                   for name in peers]
        with eventlet.Timeout(LIMIT):
            for thread in threads:
                thread.wait()

    def start(self):
        self.connect(self.register())

    def index(self, name, alias):
        return [c.alias for c in self.sets[name].spec.channels].index(alias)

    def fd(self, name, alias):
        return self.sets[name].fds[self.index(name, alias)]

    def relay(self, name, alias):
        return self.sets[name].inbound[self.index(name, alias)]

    def close(self):
        for pipe_set in self.sets.values():
            pipe_set.close()
        self.rdv.close()


@pytest.fixture
def make_job(tmp_path):
    made = []

    def make(groups=PAIR, **kwargs):
        job = Job(tmp_path, groups, **kwargs)
        made.append(job)
        return job
    yield make
    for job in made:
        job.close()


def wait_for(predicate, timeout=LIMIT):
    with eventlet.Timeout(timeout):
        while not predicate():
            eventlet.sleep(0.001)


def write_all(fd, data):
    """Write like the sandbox would, without blocking the hub."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    with eventlet.Timeout(LIMIT):
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                hubs.trampoline(fd, write=True)


def read_fd(fd, size=None):
    """Read ``size`` bytes (or to EOF) without blocking the hub."""
    os.set_blocking(fd, False)
    out = bytearray()
    with eventlet.Timeout(LIMIT):
        while size is None or len(out) < size:
            try:
                chunk = os.read(fd, 1 << 16 if size is None
                                else min(1 << 16, size - len(out)))
            except BlockingIOError:
                hubs.trampoline(fd, read=True)
                continue
            if not chunk:
                break
            out += chunk
    return bytes(out)


def end_write(fd):
    """The writer closes its end (the sandbox exits)."""
    sock = socket.socket(fileno=os.dup(fd))
    sock.shutdown(socket.SHUT_WR)
    sock.close()


def pattern(size, seed=0):
    block = bytes((i * 7 + seed) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize('path', ['unix', 'tcp'])
def test_bytes_arrive_in_order(make_job, monkeypatch, path):
    job = make_job()
    if path == 'tcp':
        # The reader says hello from "another host".
        monkeypatch.setattr(pipes, 'host_key', lambda: 'elsewhere/1')
        reader = eventlet.spawn(job.sets['b'].register)
        wait_for(lambda: job.rdv.members['b'].endpoint is not None)
        monkeypatch.undo()
        writer = eventlet.spawn(job.sets['a'].register)
        with eventlet.Timeout(LIMIT):
            peers = {'a': writer.wait(), 'b': reader.wait()}
        assert peers['a']['/dev/out/b']['host'] == 'elsewhere/1'
    else:
        peers = job.register()
        assert peers['a']['/dev/out/b']['host'] == pipes.host_key()
    assert peers['b'] == {}
    job.connect(peers)
    family = socket.AF_UNIX if path == 'unix' else socket.AF_INET
    assert job.sets['a']._outbound[0].family == family
    assert job.relay('b', '/dev/in/a').sock.family == family
    assert os.get_blocking(job.fd('a', '/dev/out/b'))   # the sandbox's fd
    data = pattern(300000)
    write_all(job.fd('a', '/dev/out/b'), data)
    end_write(job.fd('a', '/dev/out/b'))
    assert read_fd(job.fd('b', '/dev/in/a')) == data
    assert job.relay('b', '/dev/in/a').eof
    assert job.sets['b'].unread({'/dev/in/a': len(data)}) == []


def test_bytes_flow_while_the_writer_is_still_open(make_job):
    """A two-way connect talking back and forth: every message must reach
    its reader without waiting for the writer to close."""
    job = make_job([{'name': 'x', 'connect': ['y'], 'exec': EXE},
                    {'name': 'y', 'connect': ['x'], 'exec': EXE}])
    job.start()
    for i in range(3):
        write_all(job.fd('x', '/dev/out/y'), b'ping%d' % i)
        assert read_fd(job.fd('y', '/dev/in/x'), 5) == b'ping%d' % i
        write_all(job.fd('y', '/dev/out/x'), b'pong%d' % i)
        assert read_fd(job.fd('x', '/dev/in/y'), 5) == b'pong%d' % i


def test_reader_relay_spools_so_writers_never_wait(make_job):
    job = make_job(FAN_IN)
    job.start()
    one, two = pattern(MIB, 1), pattern(MIB + 5, 2)
    # Nobody reads yet: each writer still writes all it has ...
    write_all(job.fd('a-1', '/dev/out/b'), one)
    write_all(job.fd('a-2', '/dev/out/b'), two)
    end_write(job.fd('a-1', '/dev/out/b'))
    end_write(job.fd('a-2', '/dev/out/b'))
    # ... which the relay takes at once, far more than a pipe holds.
    wait_for(lambda: job.relay('b', '/dev/in/a-1').received == len(one)
             and job.relay('b', '/dev/in/a-2').received == len(two))
    # Beyond MEMORY_BUFFER the unfed bytes went to a spool file.
    relay = job.relay('b', '/dev/in/a-2')
    assert relay._spool is not None
    assert os.fstat(relay._spool).st_size == len(two) - relay._file_base
    assert relay._file_base == relay.fed
    # The reader takes its inputs one after the other, in any order.
    assert read_fd(job.fd('b', '/dev/in/a-2')) == two
    assert read_fd(job.fd('b', '/dev/in/a-1')) == one


def test_small_pipes_stay_in_memory(make_job):
    job = make_job(FAN_IN)
    job.start()
    write_all(job.fd('a-1', '/dev/out/b'), b'small')
    end_write(job.fd('a-1', '/dev/out/b'))
    end_write(job.fd('a-2', '/dev/out/b'))
    wait_for(lambda: job.relay('b', '/dev/in/a-1').eof)
    assert job.relay('b', '/dev/in/a-1')._spool is None
    assert read_fd(job.fd('b', '/dev/in/a-1')) == b'small'
    assert read_fd(job.fd('b', '/dev/in/a-2')) == b''


def test_pipe_limit_cancels_the_reader(make_job):
    job = make_job(pipe_limit=1000)
    job.start()
    cancelled = []
    job.sets['b'].watch(cancelled.append)
    write_all(job.fd('a', '/dev/out/b'), b'x' * 3000)
    wait_for(lambda: cancelled)
    assert cancelled == ['pipe /dev/in/a from node a carried more than '
                         '1000 bytes']
    assert job.relay('b', '/dev/in/a').error == cancelled[0]
    assert len(read_fd(job.fd('b', '/dev/in/a'))) <= 1000


@pytest.mark.parametrize('short', [False, True])
def test_a_full_device_while_spilling_cancels_the_reader(
        make_job, monkeypatch, short):
    # Once: the spill failed half-way, the feeder read past the spool's
    # end and wrote b'' forever without yielding: the object server hung.
    import errno
    real = os.pwrite
    fills = []

    def full(fd, data, offset):
        if short and not fills:
            fills.append(fd)
            return real(fd, bytes(data)[:100], offset)    # then nothing
        if short:
            return 0
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(pipes.os, 'pwrite', full)
    job = make_job()
    job.start()
    cancelled = []
    job.sets['b'].watch(cancelled.append)
    big = pattern(pipes.MEMORY_BUFFER * 3, 7)
    writer = eventlet.spawn(write_all, job.fd('a', '/dev/out/b'), big)
    wait_for(lambda: cancelled)
    assert cancelled == ['pipe /dev/in/a from node a: no room to keep its '
                         'bytes: No space left on device']
    relay = job.relay('b', '/dev/in/a')
    assert relay.error == cancelled[0]
    # The server goes on: what was kept can be read, then the end.
    got = read_fd(job.fd('b', '/dev/in/a'))
    assert big.startswith(got) and len(got) <= relay.received
    writer.kill()


def test_bad_handshakes_are_refused(make_job):
    job = make_job()
    peers = job.register()
    reader = eventlet.spawn(job.sets['b'].connect, peers['b'])
    endpoint = peers['a']['/dev/out/b']
    good = {'token': job.rdv.token, 'writer': 'a',
            'writer_alias': '/dev/out/b', 'reader': 'b',
            'reader_alias': '/dev/in/a'}
    for bad in [dict(good, token='f' * 32),             # wrong token
                dict(good, writer_alias='/dev/out/c'),   # unexpected pipe
                dict(good, reader='c'),                  # not for b
                None,                                    # not JSON
                '[' * 3000]:        # RecursionError: once a traceback
        with eventlet.Timeout(LIMIT):
            rogue = eventlet.connect(tuple(endpoint['tcp']))
            if bad is None:
                rogue.sendall(b'let me in\n')
            elif isinstance(bad, str):
                rogue.sendall(bad.encode() + b'\n')
            else:
                send_line(rogue, bad)
            assert rogue.recv(3) == b''     # closed, no "ok"
            rogue.close()
    assert not reader.dead
    job.connect({'a': peers['a']})
    with eventlet.Timeout(LIMIT):
        reader.wait()
    write_all(job.fd('a', '/dev/out/b'), b'real')
    end_write(job.fd('a', '/dev/out/b'))
    assert read_fd(job.fd('b', '/dev/in/a')) == b'real'
    assert sum('refused a pipe' in line for line in job.logger.lines) == 5


def test_writer_refused_by_a_stranger_is_a_pipe_error(make_job):
    job = make_job()
    peers = job.register()
    stranger = eventlet.listen(('127.0.0.1', 0))
    try:
        def refuse():
            conn, _addr = stranger.accept()
            conn.recv(4096)
            conn.sendall(b'no\n')
            conn.close()
        thread = eventlet.spawn(refuse)
        target = dict(peers['a']['/dev/out/b'], host='elsewhere/1',
                      tcp=['127.0.0.1', stranger.getsockname()[1]])
        with pytest.raises(PipeError, match='node "b" refused pipe '
                           '/dev/out/b'):
            with eventlet.Timeout(LIMIT):
                job.sets['a'].connect({'/dev/out/b': target})
        thread.wait()
    finally:
        stranger.close()


def test_unread_reports_a_pipe_not_drained(make_job):
    job = make_job()
    job.start()
    write_all(job.fd('a', '/dev/out/b'), b'y' * 100)
    relay = job.relay('b', '/dev/in/a')
    wait_for(lambda: relay.received == 100)
    # All read but the writer has not finished: not drained.
    assert job.sets['b'].unread({'/dev/in/a': 100}) == [
        ('/dev/in/a', 'a', 100, 100)]
    end_write(job.fd('a', '/dev/out/b'))
    wait_for(lambda: relay.eof)
    assert read_fd(job.fd('b', '/dev/in/a'), 40) == b'y' * 40
    assert job.sets['b'].unread({'/dev/in/a': 40}) == [
        ('/dev/in/a', 'a', 100, 40)]
    assert job.sets['b'].unread({}) == [('/dev/in/a', 'a', 100, 0)]
    assert job.sets['b'].unread({'/dev/in/a': 100}) == []
    assert job.sets['a'].unread({}) == []       # it reads no pipe


def test_abort_while_running_cancels(make_job):
    job = make_job()
    job.start()
    cancelled = {'a': [], 'b': []}
    for name, pipe_set in job.sets.items():
        pipe_set.watch(cancelled[name].append)
    job.rdv.abort('the client went away')
    wait_for(lambda: cancelled['a'] and cancelled['b'])
    assert cancelled == {'a': ['the client went away'],
                         'b': ['the client went away']}


def test_a_node_that_failed_cancels_the_others(make_job):
    job = make_job()
    job.start()
    cancelled = []
    job.sets['b'].watch(cancelled.append)
    job.sets['a'].finish(False, 'exit 3')
    wait_for(lambda: cancelled)
    assert cancelled == ['node "a" failed: exit 3']
    assert job.rdv.failure == ('a', 424, 'node "a" failed: exit 3')


def test_abort_before_watch_is_reported_by_watch(make_job):
    job = make_job()
    job.start()
    job.rdv.abort('too late')
    wait_for(lambda: job.sets['b'].abort_message is not None)
    cancelled = []
    job.sets['b'].watch(cancelled.append)
    assert cancelled == ['too late']


def test_losing_the_rendezvous_cancels(make_job):
    job = make_job()
    job.start()
    cancelled = []
    job.sets['a'].watch(cancelled.append)
    job.rdv.close()
    wait_for(lambda: cancelled)
    assert cancelled == ['lost contact with the job rendezvous']


def test_abort_before_go_raises_aborted(make_job):
    job = make_job()
    job.rdv.node_failed('b', 422, 'invalid program')
    with pytest.raises(Aborted, match='invalid program'):
        job.register(['a'])


def test_failed_setup_is_told_to_the_rendezvous(make_job):
    job = make_job()
    peers = job.register()
    with pytest.raises(PipeError, match='no reader for /dev/out/b'):
        job.sets['a'].connect({})
    job.sets['a'].fail('no reader')
    wait_for(lambda: job.rdv.failure is not None)
    assert job.rdv.failure == (
        'a', 503, 'node "a" could not be started: no reader')
    assert peers['b'] == {}


def fds():
    return set(os.listdir('/proc/self/fd'))


def test_close_leaves_no_fds_and_no_spool_files(tmp_path):
    # Sockets an earlier test left to the garbage collector would close
    # while this one runs: closed first.  The hub's own fds exist before
    # counting.
    gc.collect()
    eventlet.sleep(0)
    before = fds()
    job = Job(tmp_path, FAN_IN)
    job.start()
    for name in ('a-1', 'a-2'):
        write_all(job.fd(name, '/dev/out/b'), name.encode() * 1000)
    end_write(job.fd('a-1', '/dev/out/b'))
    assert read_fd(job.fd('b', '/dev/in/a-1')) == b'a-1' * 1000
    wait_for(lambda: job.relay('b', '/dev/in/a-2').received == 3000)
    # a-2 left open, its pipe half read: close() must still end it all.
    assert read_fd(job.fd('b', '/dev/in/a-2'), 10) == b'a-2a-2a-2a'
    for name, pipe_set in job.sets.items():
        pipe_set.finish(True, '')
    wait_for(lambda: all(m.done for m in job.rdv.members.values()))
    job.close()
    job.close()                 # idempotent
    eventlet.sleep(0)
    assert fds() == before
    assert [sorted(os.listdir(str(w))) for w in job.workdirs] == [[]] * 3
