# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The per-job rendezvous of connected nodes (proxy side).

A job whose nodes are joined by pipes (``connect``, ``zvm://``) runs as one
*gang*: every node starts, or none does.  For such a job the proxy filter
opens a :class:`Rendezvous`, a TCP listener on an ephemeral port that lives
as long as the job, and puts its port and a random token in the spec of
every connected node.  Each node's object server, once it has read the
request, validated the program and taken a sandbox slot, opens listeners
for the pipes it reads and connects here (``doc/internals.rst``)::

    node -> proxy   {"hello": NODE, "token": T, "tcp": [IP, PORT],
                     "unix": NAME, "host": HOSTKEY}
    proxy -> node   {"go": {ALIAS: {"node": PEER, "alias": PEER_ALIAS,
                                    "tcp": [...], "unix": ..., "host": ...}}}
                  | {"abort": MESSAGE}
    node -> proxy   {"failed": MESSAGE}               (pipes not set up)
                  | {"done": {"ok": BOOL, "message": TEXT}}
    proxy -> node   {"abort": MESSAGE}                (at any time)

One JSON object per line.  ``go`` is sent to every node at once when the
last one has said hello, with the listening address of the reader of each
of its writable pipes; until then no program runs.  The first failure
anywhere (a node that could not be admitted or set up, a node that ended
without exiting 0, a connection lost before ``done``, the registration
deadline, the job's wall-clock limit) aborts every node that has not
finished, and :attr:`Rendezvous.failure` keeps the first cause.

Everything runs on the proxy's eventlet hub, one green thread per
connection; :meth:`Rendezvous.close` ends them all.  Order of use:
:meth:`listen` (the port goes into the specs), :meth:`arm` when the
requests are sent, :meth:`close` when the job is answered.
"""
import errno
import hmac
import json
import secrets
import socket
import time

import eventlet
from eventlet import greenthread

from zerocloud.middleware.green import keeping_txn

__all__ = ['Rendezvous', 'send_line', 'read_line', 'ProtocolError',
           'MAX_LINE']

#: Longest protocol line (a ``go`` for a node with many pipes is the
#: largest).
MAX_LINE = 1 << 20
#: Seconds a peer has to send its hello line once connected.
HELLO_TIMEOUT = 5.0
#: Connections that have not said hello yet, at most, per listener, besides
#: one per node expected: more are closed at once (the port is reachable
#: by anyone on the network; without a bound idle ones would take the
#: process's fds).
MAX_PENDING = 64
#: accept() failures that pass (out of fds or memory for now): the loop
#: waits this long and goes on instead of ending.
ACCEPT_BACKOFF = 0.1
_TRANSIENT = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
              errno.ECONNABORTED)


class ProtocolError(Exception):
    """A peer broke the line protocol."""


def send_line(sock, obj):
    """Send one JSON object as a line (green-safe)."""
    sock.sendall(json.dumps(obj, sort_keys=True).encode('utf-8') + b'\n')


def accept(listener):
    """The next connection on ``listener``, or None after a failure that
    passes (out of fds: it waited :data:`ACCEPT_BACKOFF` first).

    :raises OSError: the listener is closed or broken.
    """
    try:
        return listener.accept()[0]
    except OSError as err:
        if err.errno not in _TRANSIENT:
            raise
    eventlet.sleep(ACCEPT_BACKOFF)
    return None


def read_line(reader, limit=MAX_LINE):
    """Read one JSON object from the file-like ``reader``; None at EOF.

    :raises ProtocolError: a line too long, or not a JSON object.
    """
    line = reader.readline(limit + 1)
    if not line:
        return None
    if len(line) > limit or not line.endswith(b'\n'):
        raise ProtocolError('line too long or cut short')
    try:
        obj = json.loads(line)
    except ValueError:
        raise ProtocolError('not JSON') from None
    except RecursionError:
        raise ProtocolError('JSON nested too deeply') from None
    if not isinstance(obj, dict):
        raise ProtocolError('not a JSON object')
    return obj


class _Member:
    """One node of the gang, as the rendezvous sees it."""

    def __init__(self, name):
        self.name = name
        self.sock = None
        self.endpoint = None    # {'tcp': [ip, port], 'unix': .., 'host': ..}
        self.done = None        # {'ok': bool, 'message': str}
        self.aborted = False
        self.on_hello = []      # callbacks for when_checked_in()

    def fire(self):
        callbacks, self.on_hello = self.on_hello, []
        for callback in callbacks:
            callback()


class Rendezvous:
    """Gang start and abort for the connected nodes of one job.

    :param nodes: the :class:`~zerocloud.middleware.plan.PlanNode` objects
        that have pipe channels.
    :param bind_ip: address to listen on.
    :param register_timeout: seconds from :meth:`start` for every node to
        say hello; then the job is aborted.
    :param wall: seconds the gang may run after ``go``; then it is aborted.
    :param logger: a Swift logger.
    """

    def __init__(self, nodes, bind_ip, register_timeout, wall, logger):
        self.nodes = {n.name: n for n in nodes}
        self.members = {n.name: _Member(n.name) for n in nodes}
        self.bind_ip = bind_ip
        self.register_timeout = register_timeout
        self.wall = wall
        self.logger = logger
        self.token = secrets.token_hex(16)
        self.failure = None         # (node name or None, status, message)
        self.started = False        # ``go`` was sent
        self._listener = None
        self._threads = []
        self._timer = None
        self._since = None          # listening or armed: for the metric
        self._pending = 0           # connections not past their hello
        #: Nodes whose object the proxy is reading for them (not stored
        #: as its bytes): named when the registration expires.
        self.fetching = set()

    # --- life cycle -------------------------------------------------------

    def listen(self):
        """Start listening; returns the port."""
        family = socket.AF_INET6 if ':' in self.bind_ip else socket.AF_INET
        self._listener = eventlet.listen((self.bind_ip, 0), family=family,
                                         backlog=max(64, len(self.members)))
        self._threads.append(eventlet.spawn(
            keeping_txn(self.logger, self._accept_loop)))
        self._since = time.time()
        return self._listener.getsockname()[1]

    def arm(self):
        """The nodes are being sent: from now on they have
        ``register_timeout`` seconds to say hello."""
        if self._timer is None and not self.started:
            self._since = time.time()
            self._timer = eventlet.spawn_after(
                self.register_timeout,
                keeping_txn(self.logger, self._registration_expired))

    def in_gang(self, name):
        return name in self.members

    def when_checked_in(self, name, callback):
        """Call ``callback()`` once node ``name`` has said hello -- at once
        if it has -- or once the gang is aborted or closed, whichever comes
        first.  (The dispatcher waits so for the node that brings a
        program to its server: by its hello the server keeps it.)"""
        member = self.members.get(name)
        if member is None or member.endpoint is not None or self.aborted \
                or self._listener is None:
            callback()
        else:
            member.on_hello.append(callback)

    def spec(self, port, advertise_ip, pipe_limit):
        """The ``rendezvous`` object of a connected node's spec."""
        return {'port': port, 'ip': advertise_ip or None,
                'token': self.token, 'timeout': self.register_timeout,
                'pipe_limit': pipe_limit}

    def close(self):
        """Stop listening and drop every connection and green thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        current = greenthread.getcurrent()
        for thread in self._threads:
            if thread is not current:
                thread.kill()
        self._threads = []
        for member in self.members.values():
            member.fire()
            if member.sock is not None:
                member.sock.close()
                member.sock = None

    # --- what the dispatcher asks -----------------------------------------

    @property
    def aborted(self):
        return self.failure is not None

    def may_retry(self, name):
        """May node ``name`` be sent to its next candidate server?  Only
        while the gang has neither started nor been aborted."""
        return not self.started and not self.aborted

    def node_failed(self, name, status, message):
        """The dispatcher's word that ``name`` failed (could not be run
        anywhere, or answered an error): abort the gang."""
        self.abort('node %s: %s' % (json.dumps(name), message), name, status)

    def abort(self, message, node=None, status=503):
        """Abort every node that has not finished; the first call's cause
        is kept in :attr:`failure`."""
        if self.failure is None:
            self.failure = (node, status, message)
            self.logger.warning('aborting connected nodes: %s', message)
            self.logger.increment('gangs.aborted.%d' % status)
        for member in self.members.values():
            member.fire()
            if member.done is None and not member.aborted \
                    and member.sock is not None:
                member.aborted = True
                try:
                    send_line(member.sock, {'abort': self.failure[2]})
                except OSError:
                    pass

    # --- green threads ----------------------------------------------------

    def _registration_expired(self):
        self._timer = None
        if self.started or self.aborted:
            return
        missing = sorted(n for n, m in self.members.items()
                         if m.endpoint is None)
        fetching = self.fetching & set(missing)
        self.abort('connected nodes could not all be admitted within %ss '
                   '(waiting for %s)%s' % (
                       self.register_timeout, ', '.join(
                           json.dumps(n) for n in missing[:5]) +
                       (' and %d more' % (len(missing) - 5)
                        if len(missing) > 5 else ''),
                       '; the proxy was still reading the large objects '
                       '(or symlinks\' targets) of %d of them: the '
                       'operator\'s rendezvous_timeout bounds that too'
                       % len(fetching) if fetching else ''),
                   None, 503)

    def _wall_expired(self):
        self._timer = None
        if any(m.done is None for m in self.members.values()):
            self.abort('the job ran longer than its wall-clock limit of '
                       '%ss' % self.wall, None, 504)

    def _accept_loop(self):
        while self._listener is not None:
            try:
                sock = accept(self._listener)
            except OSError:
                return
            if sock is None:
                continue
            if self._pending >= MAX_PENDING + len(self.members):
                sock.close()
                continue
            self._threads = [t for t in self._threads if not t.dead]
            self._threads.append(eventlet.spawn(
                keeping_txn(self.logger, self._serve), sock))

    def _serve(self, sock):
        member = None
        reader = sock.makefile('rb')
        try:
            self._pending += 1
            try:
                with eventlet.Timeout(HELLO_TIMEOUT, ProtocolError(
                        'no hello within %gs' % HELLO_TIMEOUT)):
                    hello = read_line(reader, 4096)
            finally:
                self._pending -= 1
            member = self._register(sock, hello)
            if member is None:
                sock.close()
                return
            while True:
                msg = read_line(reader)
                if msg is None:
                    break
                if 'failed' in msg:
                    member.done = {'ok': False,
                                   'message': str(msg['failed'])}
                    if not member.aborted:
                        self.abort('node %s could not be started: %s' % (
                            json.dumps(member.name), msg['failed']),
                            member.name, 503)
                    return
                if 'done' in msg and isinstance(msg['done'], dict):
                    self._ended(member, msg['done'])
                    return
        except (OSError, ProtocolError) as err:
            self.logger.warning('rendezvous: %s: %s', member.name
                                if member else 'unknown peer', err)
        finally:
            reader.close()
            if member is None:
                # Never registered: refused, garbage, gone, or killed by
                # close() while waiting for its hello.
                sock.close()
        if member is not None and member.done is None:
            member.sock = None
            sock.close()
            if not member.aborted:
                self.abort('lost contact with node %s (its object server '
                           'stopped or failed)' % json.dumps(member.name),
                           member.name, 503)

    def _register(self, sock, hello):
        if not hello or not isinstance(hello.get('token'), str) or \
                not hmac.compare_digest(hello['token'], self.token):
            self.logger.warning('rendezvous: refused a peer without the '
                                'job token')
            return None
        member = self.members.get(hello.get('hello'))
        if member is None or member.endpoint is not None:
            self.logger.warning('rendezvous: refused hello for %r',
                                hello.get('hello'))
            return None
        member.sock = sock
        if self.aborted:
            member.aborted = True
            send_line(sock, {'abort': self.failure[2]})
            return member
        member.endpoint = {'tcp': hello.get('tcp'),
                           'unix': hello.get('unix'),
                           'host': hello.get('host')}
        member.fire()
        if all(m.endpoint is not None for m in self.members.values()):
            self._go()
        return member

    def _go(self):
        self.started = True
        if self._since is not None:
            # From dispatch to the last hello: all admitted, all set up.
            self.logger.timing_since('gangs.assembly.timing', self._since)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = eventlet.spawn_after(
            self.wall, keeping_txn(self.logger, self._wall_expired))
        for name, member in self.members.items():
            peers = {}
            for chan in self.nodes[name].channels:
                if chan.kind == 'pipe' and chan.direction == 'w':
                    peer = self.members[chan.peer].endpoint
                    peers[chan.alias] = dict(peer, node=chan.peer,
                                             alias=chan.peer_alias)
            try:
                send_line(member.sock, {'go': peers})
            except OSError as err:
                self.abort('could not start node %s: %s'
                           % (json.dumps(name), err), name, 503)
                return

    def _ended(self, member, done):
        member.done = {'ok': bool(done.get('ok')),
                       'message': str(done.get('message') or '')}
        if not member.done['ok'] and not member.aborted:
            self.abort('node %s failed: %s' % (
                json.dumps(member.name),
                member.done['message'] or 'no message'), member.name, 424)
