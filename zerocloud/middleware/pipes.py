# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Pipes between nodes (object server side).

For a node with pipe channels the object filter builds a :class:`PipeSet`:

1. :meth:`PipeSet.listen` opens a TCP listener (on ``bind_ip``, an
   ephemeral port) and an abstract Unix socket for the pipes the node
   reads; nothing is opened when it reads none;
2. :meth:`PipeSet.register` connects to the job's rendezvous in the proxy
   (:mod:`zerocloud.middleware.rendezvous`), says hello with those
   addresses and waits for ``go`` (or ``abort``);
3. :meth:`PipeSet.connect` connects every writable pipe to its reader (the
   Unix socket when both ends are on the same host, TCP otherwise) and
   accepts every readable one, each checked by a first line carrying the
   job token and the pipe's two ends.  Only then may the program start.

A written pipe is the connected socket itself, handed to the sandbox as
the channel's fd (``zvm`` relays and counts the bytes).  A read pipe is
the read end of a local pipe fed by an :class:`Inbound` relay, which
receives whatever the writer sends as soon as it comes, buffers it (in
memory, then in a file in the node's work directory) and feeds the
sandbox as fast as it reads: a writer
never waits for a reader that reads its inputs in another order, so
readers can take their inputs one after the other without a deadlock, and
nothing about timing reaches the program (its reads return full buffers).
The relay enforces ``pipe_limit`` bytes per pipe.

The guest only ever sees fds; no address reaches it.
"""
import errno
import hmac
import json
import os
import secrets
import socket
import time

import eventlet
import eventlet.event
import eventlet.queue
from eventlet import hubs

from zerocloud.middleware.rendezvous import (HELLO_TIMEOUT, MAX_PENDING,
                                             ProtocolError, accept,
                                             read_line, send_line)

__all__ = ['PipeSet', 'PipeError', 'Aborted', 'Inbound', 'host_key']

_CHUNK = 64 * 1024
_HANDSHAKE = 4096
#: Seconds between looks at the read pipes while :meth:`PipeSet.settle`
#: waits for their writers' ends.
_SETTLE_POLL = 0.005


class PipeError(Exception):
    """Pipes could not be set up (a peer unreachable, a bad handshake,
    the rendezvous gone)."""


class Aborted(Exception):
    """The rendezvous aborted the job before this node started."""


_host_keys = {}     # pid -> host_key(): asked per hello and per pipe


def host_key():
    """Who this host is, for "same host" decisions: boot id plus network
    namespace (an abstract Unix socket is only reachable within both).
    Read once per process (a failure is not remembered)."""
    pid = os.getpid()
    key = _host_keys.get(pid)
    if key is not None:
        return key
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            boot = f.read().strip()
        netns = os.stat('/proc/self/ns/net').st_ino
    except OSError:
        return None
    key = _host_keys[pid] = '%s/%d' % (boot, netns)
    return key


#: Bytes of one read pipe kept in memory before they spill to a file.
MEMORY_BUFFER = 256 * 1024


def _pwrite_all(fd, data, offset):
    """pwrite every byte of ``data`` at ``offset`` (a short write is
    retried; one that writes nothing is ENOSPC)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view, offset = view[done:], offset + done


class Inbound:
    """Relay of one read pipe: socket -> buffer -> local pipe.  The buffer
    is memory up to :data:`MEMORY_BUFFER` unfed bytes, then a spool file.

    ``read_fd`` is the pipe end for the sandbox.  :meth:`start` spawns the
    receiver, which writes straight into the pipe while it takes every
    chunk, and the feeder once bytes wait (the pipe was full); :meth:`stop`
    ends both and closes everything.
    ``received`` counts the bytes that came; ``eof`` tells whether the
    writer closed; ``error`` is set when the pipe went over ``limit`` or
    broke.
    """

    def __init__(self, sock, spool_path, limit, label, on_error):
        self.sock = sock
        self.limit = limit
        self.label = label
        self.on_error = on_error
        self.received = 0
        self.fed = 0
        self.eof = False
        self.error = None
        self._spool_path = spool_path
        self._spool = None      # the file, once the bytes spilled over
        self._mem = bytearray()     # unfed bytes, until then
        self._file_base = 0     # offset in the stream of the file's start
        self.read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._write_fd, False)
        self._wake = eventlet.queue.LightQueue()
        self._threads = []
        self._feeding = False   # the feeder was started
        self._stopped = False

    def start(self, initial=b''):
        if initial:
            self._store(initial)
        self._threads = [eventlet.spawn(self._receive)]
        if self.fed < self.received:
            self._start_feeder()

    def _start_feeder(self):
        # Only once something waits to be fed: while the pipe takes every
        # chunk as it comes (_store), a relay needs no feeder.
        self._feeding = True
        self._threads.append(eventlet.spawn(self._feed))

    def _store(self, data):
        if self.received + len(data) > self.limit:
            self.error = '%s carried more than %d bytes' % (self.label,
                                                            self.limit)
            self.on_error(self.error)
            return False
        if self.fed == self.received and self._spool is None and \
                self._write_fd is not None:
            # Nothing waits to be fed: straight into the pipe, as far as
            # it takes it, without waking the feeder (which gets what the
            # pipe did not take, and any error the write hit).
            try:
                written = os.write(self._write_fd, data)
            except OSError:
                written = 0
            self.received += written
            self.fed += written
            if written == len(data):
                return True
            data = data[written:]
        if self._spool is None and \
                len(self._mem) + len(data) <= MEMORY_BUFFER:
            self._mem += data
        else:
            try:
                self._spill(data)
            except OSError as err:
                # A full device: the reader cannot get these bytes.  (The
                # state is as before the call: nothing half counted.)
                self._fail('%s: no room to keep its bytes: %s'
                           % (self.label, err.strerror or err))
                return False
        self.received += len(data)
        return True

    def _spill(self, data):
        """Write ``data`` to the spool file, made (with the unfed bytes
        first) when it is the first spill."""
        if self._spool is None:
            fd = os.open(self._spool_path, os.O_RDWR | os.O_CREAT
                         | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.unlink(self._spool_path)     # it lives as long as its fd
            try:
                _pwrite_all(fd, bytes(self._mem), 0)
            except OSError:
                os.close(fd)
                raise
            self._spool, self._file_base = fd, self.fed
            self._mem = bytearray()
        _pwrite_all(self._spool, data, self.received - self._file_base)

    def _fail(self, message):
        if self.error is None:
            self.error = message
            self.on_error(message)

    def _receive(self):
        try:
            while True:
                data = self.sock.recv(_CHUNK)
                if not data:
                    self.eof = True
                    break
                if not self._store(data):
                    break
                if self.fed < self.received:
                    if not self._feeding:
                        self._start_feeder()
                    elif self._wake.empty():
                        self._wake.put(None)    # the feeder may be waiting
        except OSError as err:
            self._fail('%s broke: %s' % (self.label, err))
        finally:
            if self._feeding:
                self._wake.put(None)
            elif not self._stopped:
                if self.fed < self.received:
                    self._start_feeder()
                elif self._write_fd is not None:
                    # All fed: the end of the pipe, as the feeder would.
                    os.close(self._write_fd)
                    self._write_fd = None

    def _feed(self):
        try:
            while True:
                if self.fed < self.received:
                    if self._spool is None:
                        chunk = bytes(self._mem[:_CHUNK])
                    else:
                        chunk = os.pread(
                            self._spool,
                            min(_CHUNK, self.received - self.fed),
                            self.fed - self._file_base)
                        if not chunk:
                            # Never without a bug: an empty write would
                            # loop here forever, without yielding.
                            self._fail('%s: its spool file ended early'
                                       % self.label)
                            break
                    try:
                        written = os.write(self._write_fd, chunk)
                    except BlockingIOError:
                        hubs.trampoline(self._write_fd, write=True)
                        continue
                    self.fed += written
                    if self._spool is None:
                        del self._mem[:written]
                    continue
                if self.eof or self.error:
                    break
                self._wake.get()
        except OSError as err:
            if err.errno != errno.EPIPE:    # (the reader left)
                self._fail('%s broke: %s' % (self.label, err))
        finally:
            os.close(self._write_fd)
            self._write_fd = None

    def stop(self):
        self._stopped = True
        for thread in self._threads:
            thread.kill()
        self._threads = []
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        for fd in (self.read_fd, self._spool):
            if fd is not None:
                os.close(fd)
        self.read_fd = self._spool = None
        self.sock.close()


class PipeSet:
    """The pipes of one node: listeners, rendezvous, connections, relays.

    :param spec: the node's :class:`~zerocloud.executor.base.NodeSpec`
        (its ``rendezvous`` dict and pipe channels).
    :param workdir: the node's private directory (relay spools).
    :param proxy_ip: the proxy's address as the request came from it (used
        when the rendezvous does not name one).
    :param bind_ip: where to listen for read pipes ('' or ``0.0.0.0``:
        every address, advertised as the address used to reach the proxy).
    :param conn_timeout: seconds to connect anywhere.
    :param setup_timeout: seconds for all pipes to be connected after
        ``go``.
    """

    def __init__(self, spec, workdir, proxy_ip, bind_ip, conn_timeout,
                 setup_timeout, logger):
        self.spec = spec
        self.rdv = spec.rendezvous
        self.workdir = workdir
        self.proxy_ip = self.rdv.get('ip') or proxy_ip
        self.bind_ip = bind_ip or '0.0.0.0'
        self.conn_timeout = conn_timeout
        self.setup_timeout = setup_timeout
        self.logger = logger
        self.limit = self.rdv['pipe_limit']
        self.fds = {}           # channel index -> fd for the sandbox
        self.inbound = {}       # channel index -> Inbound
        self.abort_message = None
        self.on_abort = None    # called with the message while running
        self._control = None
        self._reader = None
        self._tcp = self._unix = None
        self._unix_name = None
        self._outbound = []     # sockets of written pipes
        self._watch = None
        self._wake = None       # set when setup may go on

    # -- channels

    def _pipes(self, direction):
        return [(i, c) for i, c in enumerate(self.spec.channels)
                if c.kind == 'pipe' and c.direction == direction]

    # -- 1 and 2

    def register(self):
        """Connect to the rendezvous, listen, say hello, wait for ``go``.

        :returns: ``{alias: endpoint}`` of the written pipes' readers.
        :raises Aborted: the job was aborted meanwhile.
        :raises PipeError: the rendezvous cannot be reached or misbehaved.
        """
        try:
            with eventlet.Timeout(self.conn_timeout):
                self._control = eventlet.connect(
                    (self.proxy_ip, self.rdv['port']),
                    family=socket.AF_INET6 if ':' in self.proxy_ip
                    else socket.AF_INET)
        except (OSError, eventlet.Timeout) as err:
            raise PipeError('cannot reach the job rendezvous at %s:%s: %s'
                            % (self.proxy_ip, self.rdv['port'],
                               err or 'timeout'))
        self._reader = self._control.makefile('rb')
        hello = {'hello': self.spec.node, 'token': self.rdv['token'],
                 'tcp': None, 'unix': None, 'host': host_key()}
        if self._pipes('r'):
            ip = self.bind_ip
            if ip in ('0.0.0.0', '::'):
                ip = self._control.getsockname()[0]
            family = socket.AF_INET6 if ':' in ip else socket.AF_INET
            self._tcp = eventlet.listen((ip, 0), family=family)
            hello['tcp'] = [ip, self._tcp.getsockname()[1]]
            self._unix_name = 'zerocloud-%s' % secrets.token_hex(12)
            self._unix = eventlet.listen('\0' + self._unix_name,
                                         family=socket.AF_UNIX)
            hello['unix'] = self._unix_name
        try:
            send_line(self._control, hello)
            with eventlet.Timeout(self.rdv['timeout'] + self.conn_timeout):
                msg = read_line(self._reader)
        except (OSError, ProtocolError, eventlet.Timeout) as err:
            raise PipeError('job rendezvous failed: %s' % (err or 'timeout'))
        if msg is None:
            raise PipeError('the job rendezvous closed before the start')
        if 'abort' in msg:
            raise Aborted(str(msg['abort']))
        if not isinstance(msg.get('go'), dict):
            raise PipeError('job rendezvous: unexpected %r' % msg)
        # From now on an abort may come at any time.
        self._watch = eventlet.spawn(self._watch_control)
        return msg['go']

    # -- 3

    def connect(self, peers):
        """Connect every pipe, then start the read relays.

        :raises PipeError: naming the pipe that could not be set up.
        :raises Aborted: the rendezvous aborted meanwhile.
        """
        expected = {}
        for index, chan in self._pipes('r'):
            expected[(chan.peer, chan.peer_alias, chan.alias)] = (index, chan)
        accepted = {}
        acceptors = []
        if expected:
            for listener in (self._tcp, self._unix):
                acceptors.append(eventlet.spawn(
                    self._accept, listener, expected, accepted, acceptors))
        done = False
        try:
            with eventlet.Timeout(self.setup_timeout, PipeError(
                    'pipes were not all connected within %ss'
                    % self.setup_timeout)):
                for index, chan in self._pipes('w'):
                    self.fds[index] = self._connect_one(chan,
                                                        peers.get(chan.alias))
                if len(accepted) < len(expected) and \
                        self.abort_message is None:
                    self._wake = eventlet.event.Event()
                    self._wake.wait()   # all accepted, or an abort
                if self.abort_message is not None:
                    raise Aborted(self.abort_message)
            done = True
        finally:
            for thread in list(acceptors):
                thread.kill()
            if not done:
                for sock, _rest in accepted.values():
                    sock.close()
            for listener in (self._tcp, self._unix):
                if listener is not None:
                    listener.close()
            self._tcp = self._unix = None
        for key, (index, chan) in expected.items():
            sock, rest = accepted[key]
            relay = Inbound(sock, os.path.join(self.workdir, 'pipe-%d'
                                               % index), self.limit,
                            'pipe %s from node %s' % (chan.alias, chan.peer),
                            self._relay_error)
            self.inbound[index] = relay
            self.fds[index] = relay.read_fd
            relay.start(rest)

    def _wake_setup(self):
        if self._wake is not None and not self._wake.ready():
            self._wake.send()

    def _connect_one(self, chan, peer):
        if not isinstance(peer, dict):
            raise PipeError('the rendezvous gave no reader for %s'
                            % chan.alias)
        same_host = peer.get('unix') and peer.get('host') == host_key()
        try:
            with eventlet.Timeout(self.conn_timeout):
                if same_host:
                    sock = eventlet.connect('\0' + peer['unix'],
                                            family=socket.AF_UNIX)
                else:
                    ip, port = peer['tcp']
                    sock = eventlet.connect(
                        (ip, port), family=socket.AF_INET6 if ':' in ip
                        else socket.AF_INET)
        except (OSError, eventlet.Timeout, TypeError, ValueError) as err:
            raise PipeError('cannot connect %s to node %s: %s' % (
                chan.alias, json.dumps(chan.peer), err or 'timeout'))
        self._outbound.append(sock)
        line = {'token': self.rdv['token'], 'writer': self.spec.node,
                'writer_alias': chan.alias, 'reader': chan.peer,
                'reader_alias': chan.peer_alias}
        try:
            send_line(sock, line)
            answer = b''
            while len(answer) < 3:
                got = sock.recv(3 - len(answer))
                if not got:
                    break
                answer += got
        except OSError as err:
            raise PipeError('pipe %s to node %s: %s' % (
                chan.alias, json.dumps(chan.peer), err))
        if answer != b'ok\n':
            raise PipeError('node %s refused pipe %s' % (
                json.dumps(chan.peer), chan.alias))
        if not same_host:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The sandbox writes to it directly: a blocking fd of its own.
        fd = os.dup(sock.fileno())
        os.set_blocking(fd, True)
        return fd

    def _accept(self, listener, expected, accepted, threads):
        while True:
            try:
                sock = accept(listener)
            except OSError:
                return
            if sock is None:
                continue
            if sum(not t.dead for t in threads) > \
                    MAX_PENDING + len(expected) + 2:     # 2: the acceptors
                sock.close()    # anyone may connect: bound the handshakes
                continue
            threads.append(eventlet.spawn(self._handshake, sock, expected,
                                          accepted))

    def _handshake(self, sock, expected, accepted):
        data = b''
        ok = False
        try:
            with eventlet.Timeout(min(HELLO_TIMEOUT, self.setup_timeout)):
                while b'\n' not in data and len(data) <= _HANDSHAKE:
                    got = sock.recv(_HANDSHAKE)
                    if not got:
                        break
                    data += got
            line, _, rest = data.partition(b'\n')
            hello = json.loads(line)
            key = (hello['writer'], hello['writer_alias'],
                   hello['reader_alias'])
            ok = (isinstance(hello.get('token'), str)
                  and hmac.compare_digest(hello['token'], self.rdv['token'])
                  and hello.get('reader') == self.spec.node
                  and key in expected and key not in accepted)
        except (OSError, ValueError, KeyError, TypeError, RecursionError,
                eventlet.Timeout):
            ok = False
        finally:
            if not ok:
                sock.close()    # refused, or killed before it was checked
        if not ok:
            self.logger.warning('node %s: refused a pipe connection',
                                self.spec.node)
            return
        try:
            sock.sendall(b'ok\n')
        except OSError:
            sock.close()
            return
        # Only now: once every pipe is in, the handshakes are killed.
        accepted[key] = (sock, rest)
        if len(accepted) == len(expected):
            self._wake_setup()

    # -- while running

    def watch(self, cancel):
        """Until :meth:`finish`: an ``abort`` from the rendezvous (or the
        rendezvous going away), or a read pipe over its limit, calls
        ``cancel(message)``."""
        self.on_abort = cancel
        if self.abort_message is not None:
            cancel(self.abort_message)

    def _watch_control(self):
        try:
            msg = read_line(self._reader)
        except (OSError, ProtocolError):
            msg = None
        if msg is None:
            message = 'lost contact with the job rendezvous'
        else:
            message = str(msg.get('abort') or 'aborted by the rendezvous')
        self._watch = None
        self.abort_message = message
        self._wake_setup()
        if self.on_abort is not None:
            self.on_abort(message)

    def _relay_error(self, message):
        if self.abort_message is None:
            self.abort_message = message
        if self.on_abort is not None:
            self.on_abort(message)

    def fail(self, message):
        """Tell the rendezvous this node could not be set up."""
        self._tell({'failed': message})

    def finish(self, ok, message):
        """Tell the rendezvous this node ended."""
        if self._watch is not None:
            self._watch.kill()
            self._watch = None
        self._tell({'done': {'ok': bool(ok), 'message': message}})

    def _tell(self, msg):
        if self._control is None:
            return
        try:
            send_line(self._control, msg)
        except OSError:
            pass

    def settle(self, counted, timeout):
        """After the program ended: close its written pipes (their readers
        see their end now), then wait until every read pipe whose bytes
        it all read has either ended or brought more, so that whether it
        left bytes unread does not depend on when its writer's end
        arrives.  At most ``timeout`` seconds, and no longer once the job
        is aborted.  ``counted`` is as for :meth:`unread`."""
        self._close_written()
        deadline = time.monotonic() + timeout
        while self.abort_message is None and any(
                self._pending(index, relay, counted)
                for index, relay in self.inbound.items()):
            if time.monotonic() >= deadline:
                return
            eventlet.sleep(_SETTLE_POLL)

    def _close_written(self):
        for sock in self._outbound:
            sock.close()
        self._outbound = []
        for index, fd in list(self.fds.items()):
            if self.spec.channels[index].direction == 'w':
                os.close(fd)
                del self.fds[index]

    def _pending(self, index, relay, counted):
        read = counted.get(self.spec.channels[index].alias, 0)
        return relay.received <= read and not (relay.eof or relay.error)

    def unread(self, counted):
        """Read pipes whose writer sent more than the program read, or
        that had not ended when :meth:`settle` stopped waiting (unless the
        job was aborted: its writer failed, not this program); not those
        that failed themselves (no room, over their limit), which the node
        reports instead:
        ``[(alias, peer, sent, read)]``.  ``counted`` maps a channel alias
        to the bytes the program read from it."""
        out = []
        for index, relay in sorted(self.inbound.items()):
            if relay.error is not None:
                # It failed (no room, over its limit): the node reports
                # that, not the bytes it could not read.
                continue
            chan = self.spec.channels[index]
            read = counted.get(chan.alias, 0)
            if relay.received > read or (
                    not relay.eof and self.abort_message is None):
                out.append((chan.alias, chan.peer, relay.received, read))
        return out

    def close(self):
        """Close everything still open (idempotent)."""
        if self._watch is not None:
            self._watch.kill()
            self._watch = None
        for relay in self.inbound.values():
            relay.stop()
        self.inbound = {}
        self._close_written()
        self.fds = {}
        for listener in (self._tcp, self._unix):
            if listener is not None:
                listener.close()
        self._tcp = self._unix = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._control is not None:
            self._control.close()
            self._control = None
