# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Dispatch: one backend execution request per node, with failover.

The proxy side of ``doc/internals.rst``.  For each node of a placed plan the
proxy filter builds a *node request* (:func:`node_spec` and
:class:`RequestBody`: ``spec.json``, ``exec``, ``in/<n>``) and a
:class:`Dispatcher` sends them to the object servers, at most
``concurrency`` at a time (an eventlet ``GreenPool``), each to its
candidates in order:

* a connection error or timeout, ``404``, ``503`` or ``507`` before the
  node ran moves on to the next candidate;
* ``200`` is a node that ran, whatever its exit status: its tar answer
  (``report.json``, ``out/<n>``) is read, outputs spooled to temp files
  under a :class:`Spool`, at most ``max_output`` bytes per node.  If the
  connection breaks while reading it, the node runs again on the next
  candidate (outputs are committed by the proxy only, and the sandbox is
  deterministic);
* any other status (``400``, ``422`` the validator's refusal, ...) ends the
  node without retrying: the same bytes would fail everywhere.

When no candidate can run a node its :class:`NodeOutcome` says so
(``ran`` False, ``error`` naming the node and every server tried).

The network sits behind a :class:`Transport`; :class:`HTTPTransport` is the
real one (Swift's ``bufferedhttp``, eventlet timeouts) and unit tests pass
a fake to the :class:`Dispatcher` constructor.
"""
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from typing import Callable, Optional

from zerocloud import owner
from zerocloud.middleware import tarstream
from zerocloud.middleware.copies import merge_copies
from zerocloud.middleware.green import keeping_txn
from zerocloud.middleware.placement import copy_candidates

__all__ = ['Transport', 'HTTPTransport', 'Spool', 'NodeRequest',
           'NodeOutcome', 'Dispatcher', 'node_spec', 'RequestBody',
           'spec_request_tar', 'read_answer', 'AnswerError', 'SpoolError',
           'open_spool_file', 'Stopped', 'InputUnavailable',
           'RETRY_STATUSES', 'SPEC_VERSION', 'CONNECTED_HEADER',
           'NOT_LOCAL_HEADER', 'GONE_HEADER']

#: Marks the request of a node joined to others by pipes: the object
#: server admits it against its connected-node slots, without waiting.
CONNECTED_HEADER = 'X-Backend-Zerocloud-Connected'
#: On an object server's ``409``: the node's object is there, but its
#: data file is not the object's bytes (a large object's manifest, a
#: symlink, encrypted); the value says which.  The proxy then reads the
#: object through its pipeline, as the caller, and sends it with the node.
NOT_LOCAL_HEADER = 'X-Backend-Zerocloud-Not-Local'
#: On an object server's ``404``: the object is gone, not just absent
#: here: ``expired`` (its ``X-Delete-At`` passed) or ``deleted``.
GONE_HEADER = 'X-Backend-Zerocloud-Gone'
#: What a gone object's message says, by the header's value.
GONE_WORDS = {'expired': 'expired (its X-Delete-At has passed; listings '
                         'show it until the object expirer removes it)',
              'deleted': 'was deleted after the listing matched it'}
#: Statuses that mean "this server could not run the node; try the next".
RETRY_STATUSES = (404, 503, 507)
#: ``version`` of the node spec.
SPEC_VERSION = 1
#: Largest ``report.json`` accepted from an object server.
MAX_REPORT_BYTES = 1024 * 1024
#: Bytes of an unexpected backend answer kept for the error message.
ERROR_BODY_BYTES = 512

_CHUNK = 64 * 1024
_OUT_RE = re.compile(r'out/(0|[1-9][0-9]{0,5})')


class AnswerError(Exception):
    """An object server's answer is not what the protocol says."""


class Stopped(Exception):
    """:meth:`Dispatcher.run` ended because :meth:`Dispatcher.stop` was
    called (the client went away).  ``finished``: the outcomes of the
    nodes that had ended; ``running``: how many more had been sent to an
    object server (their sandboxes stopped, their use not known here)."""

    def __init__(self, finished=(), running=0):
        super().__init__('stopped')
        self.finished = list(finished)
        self.running = running


class SpoolError(Exception):
    """The proxy could not write to its spool (``temp_dir``): disk full,
    quota, I/O error.  Not the object server's fault: the node is not
    tried elsewhere, and the job answers ``507``.  Its text is for the
    client and names no path of the proxy's; ``detail`` (for the log)
    may."""

    def __init__(self, message, detail=None):
        super().__init__(message)
        self.detail = detail or message


def _spool_failure(what, err):
    """A SpoolError for an OSError while ``what``."""
    return SpoolError('%s: %s' % (what, err.strerror or err),
                      '%s: %s' % (what, err))


def open_spool_file(path, spool=None):
    """A new spool file open for writing, unbuffered: a full disk says so
    at the ``write`` that does not fit (:class:`SpoolError`), never later
    when the file is closed.  Its bytes count against ``spool``'s budget
    (:class:`Spool`) when given."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                     | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise _spool_failure('cannot create a spool file', err) from None
    return _SpoolFile(fd, spool)


class _SpoolFile:
    def __init__(self, fd, spool=None):
        self._fd = fd
        self._spool = spool

    def write(self, data):
        view = memoryview(data)
        if self._spool is not None:
            self._spool.charge(len(view))
        while view:
            try:
                done = os.write(self._fd, view)
            except OSError as err:
                raise _spool_failure('cannot write a spool file', err) \
                    from None
            view = view[done:]
        return len(data)

    def flush(self):
        pass

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- transport ------------------------------------------------------------

class Transport:
    """Sends one request to one object server.

    :meth:`request` returns a response with ``status`` (int),
    ``getheader(name)``, ``read(size)`` and ``close()``; it raises
    ``OSError`` (or an eventlet ``Timeout``) when the server cannot be
    reached.
    """

    def request(self, server, method, path, headers, body, length):
        """Send ``length`` bytes from the file ``body`` to
        ``/<server.device>/<server.partition><path>``."""
        raise NotImplementedError


class _TimedResponse:
    """A response whose every read is bounded by ``timeout`` seconds, and
    whose body ending before its ``Content-Length`` (the server died while
    answering) raises :class:`AnswerCut`, an ``OSError``: the answer was
    lost on the way, not malformed."""

    def __init__(self, conn, resp, timeout):
        self._conn, self._resp, self._timeout = conn, resp, timeout
        self.status = resp.status
        try:
            self._expected = int(resp.getheader('Content-Length'))
        except (TypeError, ValueError):
            self._expected = None
        self._got = 0

    def getheader(self, name, default=None):
        return self._resp.getheader(name, default)

    def read(self, size=-1):
        from eventlet import Timeout
        with Timeout(self._timeout):
            try:
                # eventlet's HTTPResponse.read wants None, not -1, for all
                data = self._resp.read(None if size is None or size < 0
                                       else size)
            except _incomplete_reads() as err:     # a chunked body cut
                raise AnswerCut('the answer ended after %d bytes'
                                % (self._got + len(err.partial))) from None
        self._got += len(data)
        if not data and size != 0 and self._expected is not None and \
                self._got < self._expected:
            raise AnswerCut('the answer ended after %d of %d bytes'
                            % (self._got, self._expected))
        return data

    def close(self):
        self._resp.close()
        self._conn.close()


class HTTPTransport(Transport):
    """The real transport: ``swift.common.bufferedhttp.http_connect``."""

    def __init__(self, conn_timeout, node_timeout):
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout

    def request(self, server, method, path, headers, body, length):
        from eventlet import Timeout
        from swift.common.bufferedhttp import http_connect
        with Timeout(self.conn_timeout):
            conn = http_connect(server.ip, server.port, server.device,
                                server.partition, method, path, headers)
        try:
            while length > 0:
                chunk = body.read(min(_CHUNK, length))
                if not chunk:
                    raise OSError('request body ended early')
                with Timeout(self.node_timeout):
                    conn.send(chunk)
                length -= len(chunk)
            with Timeout(self.node_timeout):
                resp = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return _TimedResponse(conn, resp, self.node_timeout)


def _incomplete_reads():
    import http.client
    from eventlet.green.http import client as green_client
    return (http.client.IncompleteRead, green_client.IncompleteRead)


class AnswerCut(OSError):
    """A server's answer ended before all of it arrived."""


def _connection_errors():
    from eventlet import Timeout
    return (OSError, Timeout)


def _unreachable(err):
    """What went wrong reaching a server, for logs and messages."""
    from eventlet import Timeout
    if isinstance(err, Timeout):
        return 'did not answer within %s' % (err or 'its timeout')
    return 'unreachable: %s' % (err or type(err).__name__)


# --- spooling -------------------------------------------------------------

#: Name prefixes of the proxy's job spools and upload copies in its
#: ``temp_dir``, each followed by the owner's tag (:mod:`zerocloud.owner`):
#: a restarted proxy removes those of processes that are gone.
JOB_SPOOL_PREFIX = 'zerocloud-job-'
UPLOAD_SPOOL_PREFIX = 'zerocloud-upload-'


class Spool:
    """A private temporary directory for one job; :meth:`cleanup` removes
    it and everything in it (call it exactly when the job is done).

    ``budget``: most bytes the job may keep here in all (None: no bound);
    a spool file that would pass it fails like a full disk
    (:class:`SpoolError`).
    """

    def __init__(self, temp_dir=None, budget=None):
        try:
            self.path = os.path.abspath(tempfile.mkdtemp(
                prefix='%s%s-' % (JOB_SPOOL_PREFIX, owner.tag()),
                dir=temp_dir))
        except OSError as err:
            raise _spool_failure('cannot create a spool directory', err) \
                from None
        self._count = 0
        self.budget = budget or None
        self.used = 0

    def charge(self, size):
        """Count ``size`` more bytes, or raise :class:`SpoolError` when
        that would pass the budget."""
        if self.budget is not None and self.used + size > self.budget:
            raise SpoolError('the job would keep more than %d bytes on the '
                             'proxy (max_job_spool_bytes)' % self.budget)
        self.used += size

    def new_path(self, label='f'):
        self._count += 1
        return os.path.join(self.path, '%d-%s' % (self._count, label))

    def discard(self, path):
        """Remove the spool file ``path`` now, its bytes no longer
        counted (an answer that was lost on the way: its node runs again
        elsewhere, and the job may not keep both).  Only files of this
        spool's directory are removed."""
        if os.path.dirname(os.path.abspath(path)) != self.path:
            return
        try:
            size = os.stat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            return
        self.used = max(0, self.used - size)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def copy_bounded(src, dst, limit, what):
    """Copy ``src`` to the file ``dst`` (both file objects), at most
    ``limit`` bytes; returns (size, md5 hex, sha256 hex).

    :raises AnswerError: when there is more than ``limit``.
    :raises SpoolError: when ``dst`` cannot be written (a buffered file
        may only fail when closed: use :func:`open_spool_file`).
    """
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return size, md5.hexdigest(), sha.hexdigest()
        size += len(chunk)
        if size > limit:
            raise AnswerError('%s is larger than %d bytes' % (what, limit))
        md5.update(chunk)
        sha.update(chunk)
        try:
            dst.write(chunk)
        except OSError as err:
            raise _spool_failure('cannot write a spool file', err) \
                from None


# --- the node request -----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Fetched:
    """An object the proxy fetched (as the caller) into a spool file."""

    path: str           #: the spool file
    size: int
    etag: str
    sha256: str


def node_spec(node, account, limits, exec_info=None, rendezvous=None):
    """The ``spec.json`` of one node and its tar members.

    :param node: a placed :class:`~zerocloud.middleware.plan.PlanNode`.
    :param limits: the node's ``limits`` dict.
    :param exec_info: the :class:`Fetched` executable (None for a program
        of a system image).
    :param rendezvous: a connected node's ``rendezvous`` object.
    :returns: ``(spec dict, [(member name, SwiftPath)])``, the members
        being the non-local readable objects (``in/<n>``).
    """
    members = []
    channels = []
    for index, chan in enumerate(node.channels):
        item = {'alias': chan.alias, 'direction': chan.direction,
                'kind': chan.kind}
        if chan.kind == 'object':
            item['path'] = chan.path.url
            if chan.direction == 'r':
                item['local'] = chan.path == node.attach
                if not item['local']:
                    item['member'] = 'in/%d' % index
                    members.append((item['member'], chan.path))
                if chan.device == 'image':
                    item['image'] = 'image'     # its files seen from /
            else:
                item.update(content_type=chan.content_type,
                            meta=dict(chan.meta), limit=0)
        elif chan.kind == 'pipe':
            item.update(peer=chan.peer, peer_alias=chan.peer_alias)
            if chan.direction == 'w' and rendezvous:
                item['limit'] = rendezvous['pipe_limit']
        elif chan.kind == 'image':
            item['image'] = chan.device
        channels.append(item)
    exe = {'path': node.exec.url}
    if exec_info is not None:
        exe.update(etag=exec_info.etag, sha256=exec_info.sha256)
    spec = {'version': SPEC_VERSION, 'node': node.name, 'account': account,
            'argv': list(node.argv), 'env': dict(node.env), 'seed': 0,
            'limits': dict(limits), 'exec': exe, 'channels': channels}
    if rendezvous is not None:
        spec['rendezvous'] = dict(rendezvous)
    return spec, members


def spec_request_tar(spec):
    """The request body of a node with neither program nor inputs, in
    memory: the bytes a :class:`RequestBody` streams for it (those of
    ``tarfile``: header, ``spec.json``, padding, two zero blocks, zeros
    up to a whole record), without tarfile or a spool file."""
    data = json.dumps(spec, sort_keys=True).encode('utf-8')
    body = (tarstream.member_header('spec.json', len(data)) + data
            + tarstream.padding(len(data)) + tarstream.END)
    return body + b'\0' * (-len(body) % tarfile.RECORDSIZE)


class RequestBody:
    """An execution request's tar (``spec.json``, ``exec``, ``in/<n>``),
    streamed from its parts each time it is sent: the program and the
    inputs are read from their spool files, never copied per node (a job
    whose 1000 nodes read one fetched object spools it once, not 1001
    times).  The bytes are those of :func:`spec_request_tar` for a spec
    alone: PAX headers as ``tarfile`` writes them (mode 0644, mtime 0),
    the end blocks, zeros up to a whole record.

    :param exec_file: the program's spool file, or None.
    :param inputs: ``[(member name, spool file path)]``.
    """

    def __init__(self, spec, exec_file=None, inputs=()):
        data = json.dumps(spec, sort_keys=True).encode('utf-8')
        parts = [tarstream.member_header('spec.json', len(data)) + data
                 + tarstream.padding(len(data))]
        members = ([('exec', exec_file)] if exec_file else []) \
            + list(inputs)
        for name, path in members:
            size = os.path.getsize(path)
            parts[-1] += tarstream.member_header(name, size)
            parts += [(path, size), tarstream.padding(size)]
        done = sum(p[1] if isinstance(p, tuple) else len(p) for p in parts)
        done += len(tarstream.END)
        parts[-1] += tarstream.END + b'\0' * (-done % tarfile.RECORDSIZE)
        self.parts = tuple(p for p in parts if p)
        self.length = sum(p[1] if isinstance(p, tuple) else len(p)
                          for p in self.parts)

    def open(self):
        """A new reader (``read(n)``, ``close()``) of the whole body."""
        return _PartsReader(self.parts)


class _PartsReader:
    """Reads bytes parts and ``(path, size)`` file parts one after the
    other; a file shorter than its size is an ``OSError`` (the length was
    announced already)."""

    def __init__(self, parts):
        self._parts = parts
        self._index = 0
        self._offset = 0
        self._file = None

    def read(self, size=-1):
        chunks = []
        want = size if size >= 0 else float('inf')
        while want > 0 and self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                chunk = part[self._offset:self._offset + int(min(
                    want, len(part)))]
                end = len(part)
            else:
                path, end = part
                if self._offset == end:     # an empty file: nothing to read
                    self._index += 1
                    continue
                if self._file is None:
                    self._file = open(path, 'rb')
                chunk = self._file.read(int(min(want, end - self._offset,
                                                _CHUNK)))
                if not chunk:
                    raise OSError('%s ended before its %d bytes'
                                  % (path, end))
            self._offset += len(chunk)
            want -= len(chunk)
            chunks.append(chunk)
            if self._offset == end:
                self.close()
                self._index += 1
                self._offset = 0
        return b''.join(chunks)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def read_answer(resp, spool, max_output):
    """Read a node's tar answer: ``(report dict, {channel index: spool
    file path})``.  Outputs beyond ``max_output`` bytes in all, a missing
    or bad ``report.json`` raise :class:`AnswerError`; on any error the
    outputs already spooled are removed."""
    made = []
    try:
        return _read_answer(resp, spool, max_output, made)
    except BaseException:
        for path in made:
            spool.discard(path)
        raise


def _read_answer(resp, spool, max_output, made):
    report = None
    outputs = {}
    left = max_output
    try:
        tar = tarfile.open(fileobj=resp, mode='r|')
        for member in tar:
            if not member.isfile():
                continue
            match = _OUT_RE.fullmatch(member.name)
            if member.name == 'report.json':
                if member.size > MAX_REPORT_BYTES:
                    raise AnswerError('report.json is too large')
                report = json.loads(tar.extractfile(member).read())
            elif match:
                if member.size > left:
                    raise AnswerError('outputs are larger than %d bytes'
                                      % max_output)
                left -= member.size
                path = spool.new_path('out')
                made.append(path)
                with open_spool_file(path, spool) as dst:
                    copy_bounded(tar.extractfile(member), dst, member.size,
                                 member.name)
                outputs[int(match.group(1))] = path
    except (tarfile.TarError, ValueError, EOFError) as err:
        raise AnswerError('bad tar answer: %s' % err) from None
    if not isinstance(report, dict):
        raise AnswerError('answer has no report.json')
    return report, outputs


# --- dispatching ----------------------------------------------------------

@dataclasses.dataclass
class NodeRequest:
    """What to send for one node: backend path (``/a/c/o``), policy, and
    the tar body: the bytes (a spec alone), or a :class:`RequestBody`."""

    node: object
    path: str
    policy_index: int
    #: bytes, or a :class:`RequestBody`.
    body: object
    #: Makes (once) and returns a body that includes the program, for a
    #: server that answered 428 to ``body``; None when ``body`` has it.
    with_program: Optional[Callable[[], str]] = None
    #: The program's sha256 (what object servers keep programs by).
    exec_sha256: Optional[str] = None
    #: Makes (once) and returns this request with the node's object read
    #: through the proxy and sent along, for a server that answered
    #: ``409`` with :data:`NOT_LOCAL_HEADER`; raises
    #: :class:`InputUnavailable`.  None: nothing to read in place.
    not_local: Optional[Callable[[], 'NodeRequest']] = None


class InputUnavailable(Exception):
    """The proxy could not read a node's object for it (``status``:
    401, 403, 404, 413, 503 or 507); ``str()`` is the client's message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class NodeOutcome:
    """What became of one node.

    ``ran`` is True when an object server ran it (``report`` is its
    ``report.json``, ``outputs`` its spooled ``out/<n>``); otherwise
    ``error`` says why and ``status`` is the backend status that ended it
    (None when no server could be reached or every one refused).
    """

    node: object
    server: Optional[object] = None
    ran: bool = False
    report: Optional[dict] = None
    outputs: dict = dataclasses.field(default_factory=dict)
    error: Optional[str] = None
    status: Optional[int] = None
    tried: list = dataclasses.field(default_factory=list)
    #: A replicated node's copies (:mod:`zerocloud.middleware.copies`).
    copies: Optional[list] = None
    #: Why its copies disagree, when they do.
    disagreement: Optional[str] = None
    #: ``expired`` or ``deleted``: a node of a wildcard, not run because
    #: its object is gone since the listing (``error`` says so); not a
    #: failure.
    skipped: Optional[str] = None


class Dispatcher:
    """Send node requests to object servers.

    :param transport: a :class:`Transport` (the test seam).
    :param concurrency: most requests in flight at once.
    :param spool: the job's :class:`Spool` (answers are spooled there).
    :param max_output: most bytes of one node's answer outputs.
    :param logger: a Swift logger.
    :param trans_id: the client request's transaction id.
    :param gang: the job's :class:`~zerocloud.middleware.rendezvous.
        Rendezvous` when nodes are connected by pipes: those are sent all
        at once, never to another server once the gang started, and a
        failure of one aborts the others.
    """

    def __init__(self, transport, concurrency, spool, max_output, logger,
                 trans_id='', gang=None):
        self.transport = transport
        self.concurrency = concurrency
        self.spool = spool
        self.max_output = max_output
        self.logger = logger
        self.trans_id = trans_id or ''
        self.gang = gang
        self._threads = []
        self._stopped = False
        #: Outcomes of the nodes ended so far; ids of the nodes sent.
        self._finished = []
        self._sent = set()
        # (address, device, sha256) -> Event: a gang node is bringing that
        # program to that server (_after_428).
        self._uploads = {}

    def _in_gang(self, node):
        return self.gang is not None and self.gang.in_gang(node.name)

    def run(self, requests):
        """Dispatch every request; returns their outcomes, in order.

        The nodes of the gang (connected by pipes) are all sent at once,
        whatever ``concurrency`` says: they must run together.

        :raises Stopped: when :meth:`stop` was called meanwhile.
        """
        import eventlet
        from greenlet import GreenletExit
        gang = [r for r in requests if self._in_gang(r.node)]
        rest = [r for r in requests if not self._in_gang(r.node)]
        if gang:
            self.gang.arm()
        threads = {}
        for request in gang:
            threads[id(request)] = eventlet.spawn(
                keeping_txn(self.logger, self.run_one), request)
            self._threads.append(threads[id(request)])
        pool = eventlet.GreenPool(max(1, min(self.concurrency, len(rest))))
        for request in rest:
            if self._stopped:
                break
            # Blocks while ``concurrency`` requests are in flight.
            threads[id(request)] = pool.spawn(
                keeping_txn(self.logger, self.run_one), request)
            self._threads.append(threads[id(request)])
        outcomes = []
        for request in requests:
            if self._stopped:
                self._kill_all()
                raise self._stopped_with()
            try:
                outcomes.append(threads[id(request)].wait())
            except GreenletExit:
                if self._stopped:   # killed by stop()
                    self._kill_all()
                    raise self._stopped_with() from None
                raise
        return outcomes

    def _stopped_with(self):
        finished = list(self._finished)
        return Stopped(finished, max(0, len(self._sent) - len(
            {id(o.node) for o in finished})))

    def stop(self):
        """Abandon the job: kill every request in flight (each closes its
        connection, and the object server stops the node); :meth:`run`
        sends no more and raises :class:`Stopped`."""
        self._stopped = True
        self._kill_all()

    def _kill_all(self):
        # Each kill switches to the killed thread, and so to whoever waits
        # for it: run() may see the first one dead and end the request,
        # killing the green thread that called stop() before it killed
        # the rest (their sandboxes then ran on).  So run() finishes it.
        for thread in list(self._threads):
            thread.kill()

    def headers(self, request, length):
        from swift.common.utils import Timestamp
        headers = {'X-Backend-Zerocloud-Execute': '1',
                   'X-Backend-Storage-Policy-Index': str(
                       request.policy_index),
                   'X-Timestamp': Timestamp.now().internal,
                   'X-Trans-Id': self.trans_id,
                   'Content-Type': 'application/x-tar',
                   'Content-Length': str(length)}
        if self._in_gang(request.node):
            headers[CONNECTED_HEADER] = '1'
        return headers

    def run_one(self, request):
        """Try the node's candidates in order; returns a NodeOutcome.
        A replicated node runs its copies at once, each on its own
        servers, and merges them (:mod:`zerocloud.middleware.copies`)."""
        outcome = self._run_one(request)
        self._finished.append(outcome)
        return outcome

    def _run_one(self, request):
        node = request.node
        if node.replicate > 1 and not self._in_gang(node):
            import eventlet
            run_on = keeping_txn(self.logger, self._run_on)
            threads = [eventlet.spawn(run_on, request, candidates)
                       for candidates in copy_candidates(node.candidates,
                                                         node.replicate)]
            self._threads.extend(threads)     # stop() kills them too
            return merge_copies(node, [t.wait() for t in threads])
        return self._run_on(request, node.candidates)

    def _run_on(self, request, candidates):
        node = request.node
        outcome = NodeOutcome(node)
        if self._stopped:       # spawned while stop() freed its slot
            return outcome
        in_gang = self._in_gang(node)
        gone = None     # what a server said of the object, if gone
        for server in candidates:
            if in_gang and outcome.tried and \
                    not self.gang.may_retry(node.name):
                break       # the gang started or was aborted: too late
            where = '%s/%s' % (server.address, server.device)
            try:
                resp = self._send_node(request, server)
                if resp.status == 409 and request.not_local and \
                        resp.getheader(NOT_LOCAL_HEADER):
                    # The object is there, but not as its bytes.
                    self.logger.info('node %s: the object on %s is %s; '
                                     'sending its bytes', node.name, where,
                                     resp.getheader(NOT_LOCAL_HEADER))
                    resp.close()
                    if in_gang:
                        self.gang.fetching.add(node.name)
                    try:
                        request = request.not_local()
                    except InputUnavailable as err:
                        return self._unreadable(outcome, err)
                    finally:
                        if in_gang:
                            self.gang.fetching.discard(node.name)
                    resp = self._send_node(request, server)
            except _connection_errors() as err:
                why = _unreachable(err)
                self.logger.warning('node %s: %s %s', node.name, where, why)
                outcome.tried.append('%s (%s)' % (where, why))
                continue
            try:
                if resp.status in RETRY_STATUSES:
                    self.logger.info('node %s: %s answered %d, trying the '
                                     'next server', node.name, where,
                                     resp.status)
                    outcome.tried.append('%s (%d)' % (where, resp.status))
                    if resp.status == 404 and \
                            resp.getheader(GONE_HEADER) in GONE_WORDS:
                        gone = resp.getheader(GONE_HEADER)
                    continue
                outcome.server = server
                outcome.status = resp.status
                if self._answered(outcome, resp, where):
                    if in_gang and outcome.error:
                        # A 200 with a bad answer is the server's error.
                        self.gang.node_failed(
                            node.name, 500 if outcome.status == 200
                            else outcome.status, outcome.error)
                    return outcome
                outcome.server = outcome.status = None
            finally:
                resp.close()
        outcome.error = 'no object server could run node %s: tried %s' % (
            json.dumps(node.name), ', '.join(outcome.tried) or 'none')
        if outcome.tried and all(t.endswith('(404)')
                                 for t in outcome.tried):
            outcome.status = 404
            outcome.error = '%s is on none of its object servers (node %s)' \
                % (node.attach.url if node.attach else 'the object',
                   json.dumps(node.name))
            if gone:
                outcome.error = '%s %s (node %s)' % (
                    node.attach.url if node.attach else 'the object',
                    GONE_WORDS[gone], json.dumps(node.name))
                if node.listed and not in_gang and node.replicate == 1:
                    # As if the listing had been made a moment later.
                    outcome.status, outcome.skipped = None, gone
                    self.logger.info('node %s skipped: %s', node.name,
                                     outcome.error)
                    return outcome
        if in_gang and self.gang.aborted and \
                self.gang.failure[0] != node.name:
            outcome.error = 'node %s did not run: %s' % (
                json.dumps(node.name), self.gang.failure[2])
        self.logger.error('%s', outcome.error)
        if in_gang:
            self.gang.node_failed(node.name, 503, outcome.error)
        return outcome

    def _send_node(self, request, server):
        resp = self._send(request, server, request.body)
        if resp.status == 428 and request.with_program:
            # The server does not have the program yet.
            resp.close()
            resp = self._after_428(request, server)
        return resp

    def _unreadable(self, outcome, err):
        """The node cannot run: the proxy could not read its object."""
        outcome.status, outcome.error = err.status, str(err)
        self.logger.warning('node %s: %s', outcome.node.name, err)
        if self._in_gang(outcome.node):
            self.gang.node_failed(outcome.node.name, err.status, str(err))
        return outcome

    def _after_428(self, request, server):
        """The request again, after ``server`` answered 428 (it does not
        keep the node's program).

        A gang's nodes arrive all at once, and each would be refused and
        bring the program along: one copy per node.  Instead the first one
        refused by a server brings it, and the others bound for that server
        wait until that node has checked in at the rendezvous (its server
        validated and kept the program by then, doc/internals.rst), then
        are sent again without it: one copy per server.  Other nodes bring
        it at once: waiting for another node's answer would mean waiting
        for its whole run."""
        import eventlet
        import eventlet.event
        if not self._in_gang(request.node) or not request.exec_sha256:
            return self._send(request, server, request.with_program())
        key = (server.address, server.device, request.exec_sha256)
        upload = self._uploads.get(key)
        if upload is None:
            upload = self._uploads[key] = eventlet.event.Event()

            def arrived():
                if not upload.ready():
                    upload.send()
            self.gang.when_checked_in(request.node.name, arrived)
            try:
                return self._send(request, server, request.with_program())
            finally:
                arrived()   # failed or ended before its hello: stop waiting
        with eventlet.Timeout(self.gang.register_timeout, False):
            upload.wait()
        resp = self._send(request, server, request.body)
        if resp.status == 428:
            # Not kept after all (the bringer failed, or it was evicted).
            resp.close()
            resp = self._send(request, server, request.with_program())
        return resp

    def _send(self, request, server, body):
        self._sent.add(id(request.node))
        if isinstance(body, bytes):
            reader, length = io.BytesIO(body), len(body)
        else:
            reader, length = body.open(), body.length
        try:
            return self.transport.request(
                server, 'POST', request.path,
                self.headers(request, length), reader, length)
        finally:
            reader.close()

    def _answered(self, outcome, resp, where):
        """Fill ``outcome`` from a server's answer; False when the answer
        was lost on the way (the node is then run on the next candidate:
        its outputs are only committed by the proxy, and a re-run of the
        same program on the same bytes writes the same bytes)."""
        node = outcome.node
        if resp.status != 200:
            text = resp.read(ERROR_BODY_BYTES).decode('utf-8', 'replace')
            outcome.error = 'object server %s answered %d: %s' % (
                where, resp.status, text.strip())
            self.logger.warning('node %s: %s', node.name, outcome.error)
            return True
        try:
            outcome.report, outcome.outputs = read_answer(
                resp, self.spool, self.max_output)
        except _connection_errors() as err:
            self.logger.warning('node %s: answer from %s lost (%s), trying '
                                'the next server', node.name, where,
                                err or 'timeout')
            outcome.tried.append('%s (answer lost: %s)' % (
                where, err or 'timeout'))
            return False
        except AnswerError as err:
            outcome.error = 'object server %s: %s' % (where, err)
            self.logger.error('node %s: %s', node.name, outcome.error)
            return True
        except SpoolError as err:
            # Ours, not the server's: another server would not help.
            outcome.status = 507
            outcome.error = 'the proxy has no room for the answer of node ' \
                '%s: %s' % (json.dumps(node.name), err)
            self.logger.error('node %s: %s', node.name, err.detail)
            return True
        outcome.ran = True
        return True
