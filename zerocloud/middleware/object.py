# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""
Object server filter: run a job's node next to its data.

``zerocloud_object`` sits in the object server's pipeline, right before
``object-server``.  It answers the execution requests that zerocloud's
proxy filter sends to the object servers holding a node's data (the
protocol is ``doc/internals.rst``) and passes every other request through
untouched::

    [pipeline:main]
    pipeline = healthcheck zerocloud_object object-server

What it does with a ``POST /<device>/<partition>/<account>/<container>/
<object>`` carrying ``X-Backend-Zerocloud-Execute: 1``:

1. admits the request, or answers ``503`` with ``Retry-After`` when
   ``max_running`` sandboxes run and ``max_queued`` requests already wait;
2. reads the tar body (``spec.json``, ``exec``, ``in/<n>``) with every
   member bounded, spooling the program and inputs to a private temp
   directory under ``<devices>/<device>/tmp`` (``400`` for a malformed
   body or an ``exec`` that does not match the spec's ``sha256``, ``413``
   for a member over its bound, ``499`` when the client went away); a
   node with pipes to other nodes (``X-Backend-Zerocloud-Connected``) is
   admitted against ``max_connected`` instead, never waits, and meets the
   others at the job's rendezvous before it runs
   (:mod:`zerocloud.middleware.pipes`, ``doc/internals.rst``);
3. opens the object's data file read-only when the node reads it
   (``404`` when this server has no copy -- with
   ``X-Backend-Zerocloud-Gone: expired`` or ``deleted`` when it knows the
   object is gone --, ``507`` when the device is
   missing or unmounted) -- the sandbox reads it in place, no copy --
   unless that file is not the object's bytes: a large object's
   manifest, a symlink or an encrypted object is answered ``409`` (with
   ``X-Backend-Zerocloud-Not-Local``), and the proxy sends the bytes,
   read through its pipeline as the caller;
   and the node's images: system images from ``system_images_dir``
   (``501`` for one this server does not have), indexed once per file,
   and its ``image`` device (``415`` when either is not a usable tar); a
   ``file://IMAGE:PATH`` program is copied out of its image (``422`` when
   it has no such file), or linked from the exec cache;
4. validates the program (``422`` with the validator's message) and runs
   it in the sandbox (:mod:`zerocloud.sandbox`, see ``doc/sandbox.rst``)
   with the node's limits lowered to the maxima below;
5. answers ``200`` with a tar: ``report.json`` and ``out/<n>`` per
   writable channel, whatever the program's exit status.

While the program runs the filter watches the request's connection: when
the proxy closes it (its client hung up, or the proxy died) the sandbox is
stopped at once (reason ``aborted``) instead of running to its limits.

The temp directory, its files and every fd are removed when the answer has
been sent, when the client went away, and on every error; a server that
was killed cannot, so the filter removes what dead server processes left
(``<devices>/*/tmp*/zerocloud-<pid>-*``) when it starts.  The sandbox runs
in a worker thread (``eventlet.tpool``), so the server keeps serving other
requests while programs run.

Requests that carry ``X-Zerovm-Execute`` but not the backend header (a
client's execution request sent to an object server directly, or forwarded
by a proxy without zerocloud) are refused with ``403``.  Swift's gatekeeper
strips ``X-Backend-*`` headers from client requests, so only a proxy can
send an execution request; object servers must not be reachable by clients
(Swift's usual deployment), as for every backend request.

Configuration, every option with its default (the ``devices`` and
``mount_check`` of ``[DEFAULT]`` are Swift's own, shared with the object
server)::

    [filter:zerocloud_object]
    use = egg:zerocloud#object
    # Sandboxes running at once on this server; one per CPU core is sane.
    # At most 1024; the filter starts a worker thread for each.
    # max_running = 4
    # Admitted requests waiting for a sandbox (0: none wait); beyond
    # max_running + max_queued the filter answers 503 at once.
    # max_queued = 16
    # Seconds an admitted request waits for a free sandbox before 503.
    # queue_timeout = 30
    # Retry-After of a 503, in seconds.
    # retry_after = 1
    # Largest spec.json member in bytes (held in memory).
    # max_spec_bytes = 1048576
    # Largest program (exec member) in bytes.
    # max_exec_bytes = 67108864
    # Most bytes of all in/<n> members of one request together.
    # max_input_bytes = 5368709120
    # Most memory a node may use, in bytes, at least 9437184 (a node
    # that asks for none gets 268435456, the sandbox's default).
    # max_memory = 1073741824
    # Most CPU seconds a node may use (also the limit when it asks none).
    # max_cpu = 60
    # Most wall-clock seconds a node may run (also the default).
    # max_timeout = 120
    # Most bytes a node may write over all its outputs (also the default);
    # they wait in the device's tmp directory until sent.
    # max_output_bytes = 1073741824
    # Programs kept per device (by sha256) so that proxies need not send them
    # again; in <devices>/<device>/zerocloud-exec.
    # exec_cache_entries = 64
    # Sandboxes of nodes joined to others by pipes (connect, zvm://) at once,
    # apart from max_running: a job's connected nodes must all run together,
    # so they never queue; beyond this the server answers 503 and the proxy
    # tries another replica or refuses the job (0: no connected nodes here).
    # max_connected = 64
    # Seconds a node joined to others by pipes waits, once the job's
    # rendezvous said go, for all of its pipes to be connected.
    # pipe_setup_timeout = 10
    # Address the pipes this server's nodes read listen on (TCP, an ephemeral
    # port); empty: the bind_ip of [DEFAULT], else every address.
    # pipe_bind_ip =
    # CPU time slice each sandbox asks the kernel's scheduler for, in ms
    # (1-100; 0: the kernel's default, 1.4 ms on a 2-CPU host).  Sandboxes
    # computing side by side then switch, and refill their caches, less
    # often; the servers keep the default, and the scheduler lets a task
    # with a shorter slice preempt them when it wakes.  Linux 6.12 and later
    # (older kernels keep their default); it never changes what a program
    # computes.
    # time_slice_ms = 20
    # Directory of the system images this server offers to jobs: NAME.tar for
    # each image a job may name as a device or in file://NAME:PATH (build
    # lua.tar and python.tar with `zerocloud image lua|python`); the
    # proxy's system_images lists the same names.  Empty: none (a node
    # naming one is refused with 501, and its job fails with 500).
    # system_images_dir =
    # Swift's logging and StatsD options (log_name, log_level,
    # log_statsd_host, ...) apply; the log route and the metrics' prefix
    # are zerocloud-object.

Logging: one line per execution request at INFO (node, object, reason,
exit code, wall time), refusals at INFO or WARNING, failures with a
traceback at ERROR; every line carries the transaction id.  Object data,
program bytes, arguments and environments are never logged.

Metrics, when ``log_statsd_host`` is set: ``executions.<status>.timing``
per execution request, ``runs.<reason>`` and ``runs.timing`` per program
run, ``queue.timing`` (the wait for a sandbox), ``programs.received`` and
``programs.cached``, all under ``zerocloud-object.`` (``doc/operator.rst``).
"""
import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time

import eventlet
from eventlet import hubs, patcher, tpool
from swift.common import swob
from swift.common.exceptions import (DiskFileDeleted,
                                     DiskFileDeviceUnavailable,
                                     DiskFileError, DiskFileExpired,
                                     DiskFileNotExist)
from swift.common.request_helpers import get_name_and_placement
from swift.common.storage_policy import REPL_POLICY
from swift.common.utils import (config_true_value, get_logger, hash_path,
                                storage_directory)
from swift.obj.diskfile import DiskFileRouter, get_data_dir, get_tmp_dir

from zerocloud.config import ObjectFilterConfig
from zerocloud.exceptions import (ManifestError, SandboxError, SpecError,
                                  ValidationError)
from zerocloud.executor.base import NodeJob, NodeResult, parse_spec
from zerocloud.executor.cache import CACHE_DIR, ExecCache
from zerocloud.executor.pool import Abandoned, Pool, PoolFull
from zerocloud.executor.result import Reason, RunResult
from zerocloud.executor.sandbox import SandboxExecutor
from zerocloud import owner
from zerocloud.middleware import tarstream
from zerocloud.middleware.dispatch import (CONNECTED_HEADER, GONE_HEADER,
                                           NOT_LOCAL_HEADER)
from zerocloud.middleware.pipes import Aborted, PipeError, PipeSet
from zerocloud.sandbox import image
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf
from zerocloud.sandbox import validator

__all__ = ['EXECUTE_HEADER', 'CLIENT_HEADER', 'TMP_PREFIX', 'STATSD_PREFIX',
           'ObjectFilter', 'filter_factory']

#: Marks the proxy's execution request (stripped from client requests).
EXECUTE_HEADER = 'X-Backend-Zerocloud-Execute'
#: A client's execution header; refused here without EXECUTE_HEADER.
CLIENT_HEADER = 'X-Zerovm-Execute'
#: Name prefix of the per-request temp directories in a device's tmp dir.
TMP_PREFIX = 'zerocloud-'
#: The filter's StatsD metrics are named ``zerocloud-object.<metric>``.
STATSD_PREFIX = 'zerocloud-object'

_CHUNK = 64 * 1024
#: Request directories of earlier versions: the pid alone.
_LEGACY_WORK_RE = re.compile(re.escape(TMP_PREFIX) + r'([0-9]+)-[a-z0-9_]+')
#: Seconds to connect to the rendezvous or to another node's pipe.
PIPE_CONNECT_TIMEOUT = 3.0
# The validator's cache lock may be green (the server monkey-patches
# threading) and must not be contended across worker threads: one real
# lock serializes validations.
_VALIDATE_LOCK = patcher.original('threading').Lock()


class _ClientDisconnect(Exception):
    """Reading the request body failed: the client went away."""


class _Input:
    """``wsgi.input`` whose read errors mean the client is gone."""

    def __init__(self, fileobj):
        self._f = fileobj

    def read(self, n):
        try:
            return self._f.read(n)
        except (OSError, ValueError) as exc:     # timeouts, bad chunks
            raise _ClientDisconnect(str(exc) or exc.__class__.__name__)


def not_its_bytes(metadata):
    """What the stored object is when its data file is not the bytes a
    ``GET`` through the proxy gives (None when it is): a static or a
    dynamic large object's manifest, a symlink (object versioning makes
    every version one), or an object the proxy's ``encryption`` filter
    encrypted.  A node must not read those in place."""
    keys = {k.lower(): v for k, v in metadata.items()}
    if config_true_value(keys.get('x-static-large-object')):
        return 'a static large object\'s manifest'
    if 'x-object-manifest' in keys:
        return 'a dynamic large object\'s manifest'
    if 'x-object-sysmeta-symlink-target' in keys:
        return 'a symlink'
    if any(k.startswith('x-object-sysmeta-crypto-') for k in keys):
        return 'encrypted'
    return None


class _Work:
    """A request's temp directory and open fds; :meth:`close` removes all."""

    def __init__(self, tmp_root):
        os.makedirs(tmp_root, exist_ok=True)
        # The owner's tag in the name lets a restarted server remove what
        # a crashed one left (sweep_stale_work).
        self.dir = tempfile.mkdtemp(prefix='%s%s-' % (TMP_PREFIX,
                                                      owner.tag()),
                                    dir=tmp_root)
        self.fds = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def open(self, path):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.fds.append(fd)
        return fd

    def close_fds(self):
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)

    def close(self):
        self.close_fds()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class _TarAnswer:
    """The 200 body: a tar of in-memory and on-disk members.

    Owns the request's :class:`_Work`; ``close()`` (called by the WSGI
    server when the answer was sent or the client went away) removes it,
    and so does the end or the closing of the iteration: a middleware that
    iterates with ``iter()`` closes that iterator, not this object (Swift's
    ``reiterate`` does).
    """

    def __init__(self, work, members):
        self.work = work
        self.members = members      # [(name, bytes or path, size)]
        self.headers = [tarstream.member_header(name, size)
                        for name, _data, size in members]
        self.length = len(tarstream.END) + sum(
            len(header) + size + (-size % 512)
            for header, (_name, _data, size) in zip(self.headers, members))
        self._file = None

    def __iter__(self):
        try:
            yield from self._chunks()
        finally:
            self.close()

    def _chunks(self):
        for header, (name, data, size) in zip(self.headers, self.members):
            yield header
            if isinstance(data, bytes):
                yield data
            elif size:
                with open(data, 'rb') as self._file:
                    left = size
                    while left:
                        chunk = self._file.read(min(left, _CHUNK))
                        if not chunk:
                            raise IOError('%s shrank while sent' % name)
                        left -= len(chunk)
                        yield chunk
                self._file = None
            yield tarstream.padding(size)
        yield tarstream.END

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        self.work.close()


class ObjectFilter:
    """The ``zerocloud_object`` filter (see the module docstring).

    :param executor: an :class:`~zerocloud.executor.base.Executor`; the
        real sandbox by default (a test seam, not a config option).
    :param pool: a :class:`~zerocloud.executor.pool.Pool`; built from the
        config by default.
    """

    def __init__(self, app, conf, logger=None, executor=None, pool=None):
        self.app = app
        self.logger = logger or get_logger(
            conf, log_route='zerocloud-object',
            statsd_tail_prefix=STATSD_PREFIX)
        self.config = ObjectFilterConfig.from_conf(conf)
        self.router = DiskFileRouter(conf, self.logger)
        self.executor = executor or SandboxExecutor(
            time_slice_ms=self.config.time_slice_ms)
        self.pool = pool or Pool(self.config.max_running,
                                 self.config.max_queued,
                                 self.config.queue_timeout,
                                 max_connected=self.config.max_connected)
        # Every running sandbox blocks one worker thread; a gang that could
        # not get threads for all of its nodes would wait on itself.
        _ensure_threads(self.config.max_running + self.config.max_connected
                        + 4)
        sweep_stale_work(conf.get('devices', '/srv/node'), self.logger)
        #: Where read pipes listen (Swift's own ``bind_ip`` by default).
        self.pipe_bind_ip = (self.config.pipe_bind_ip or (
            conf.get('bind_ip') or '').strip() or '0.0.0.0')
        #: (tar identity, path) of a system image's program -> its sha256,
        #: so that the exec cache links it instead of a copy per node.
        self._image_execs = {}

    def __call__(self, env, start_response):
        req = swob.Request(env)
        if config_true_value(req.headers.get(EXECUTE_HEADER)):
            handler = self.handle_execute
        elif CLIENT_HEADER in req.headers:
            handler = self.handle_client_execute
        else:
            return self.app(env, start_response)
        self.logger.txn_id = req.headers.get('X-Trans-Id')
        start = time.time()
        try:
            resp = handler(req)
        except swob.HTTPException as err:
            resp = err
        except Exception:
            self.logger.exception('execution request failed')
            resp = swob.HTTPInternalServerError(
                body='zerocloud: internal error', request=req)
        # Until the answer starts (the run included; a 200's tar follows).
        self.logger.timing_since('executions.%d.timing' % resp.status_int,
                                 start)
        return resp(env, start_response)

    # -- the handlers

    def handle_client_execute(self, req):
        self.logger.info('refused %s %s: %s without %s', req.method,
                         req.path, CLIENT_HEADER, EXECUTE_HEADER)
        raise swob.HTTPForbidden(
            body='execution requests go through a zerocloud proxy',
            request=req)

    def handle_execute(self, req):
        if req.method != 'POST':
            raise swob.HTTPMethodNotAllowed(request=req)
        device, partition, account, container, obj, policy = \
            get_name_and_placement(req, 5, 5, True)
        manager = self.router[policy]
        dev_path = manager.get_dev_path(device)
        if not dev_path:
            raise swob.HTTPInsufficientStorage(drive=device, request=req)
        place = (device, partition, account, container, obj, policy)
        try:
            admission = self.pool.gang_admission() if config_true_value(
                req.headers.get(CONNECTED_HEADER)) else self.pool.admission()
            with admission:
                return self._execute(req, manager, dev_path, place)
        except PoolFull as exc:
            self.logger.warning('busy, refused %s: %s', req.path, exc)
            raise swob.HTTPServiceUnavailable(
                body='zerocloud: %s' % exc, request=req,
                headers={'Retry-After': str(self.config.retry_after)})

    def _execute(self, req, manager, dev_path, place):
        work = _Work(os.path.join(dev_path, get_tmp_dir(place[5])))
        cache = ExecCache(os.path.join(dev_path, CACHE_DIR),
                          self.config.exec_cache_entries)
        try:
            spec, program, local, cached = self._read_request(
                req, work, manager, dev_path, place, cache)
            inputs = self._inputs(req, spec, work, local)
            images = self._images(req, spec, inputs)
            if program is None:
                spec, program, cached = self._image_program(
                    req, work, spec, inputs, images, cache)
            limits = self._limits(req, spec)
            if spec.pipes:
                if not config_true_value(req.headers.get(CONNECTED_HEADER)):
                    raise swob.HTTPBadRequest(
                        body='a node with pipes comes with %s'
                        % CONNECTED_HEADER, request=req)
                job, outcome = self._run_connected(
                    req, work, spec, program, inputs, limits, cached,
                    None if cached else cache, images)
            else:
                job = NodeJob(spec, program, inputs, work.dir, limits,
                              images)
                outcome = self._run(req, job, from_cache=cached)
                if not cached:
                    self._keep(cache, spec, program)
            work.close_fds()
            answer = self._answer(req, work, place, job, outcome)
        except BaseException:
            work.close()
            raise
        return swob.Response(request=req, status=200, app_iter=answer,
                             content_type='application/x-tar',
                             content_length=answer.length)

    # -- steps

    def _read_request(self, req, work, manager, dev_path, place, cache):
        """Spool the tar; return (NodeSpec, program path, local fds, whether
        the program came from the cache).

        The local object is opened as soon as the spec asks for it, so a
        server without it answers 404 before the rest is read.
        """
        reader = tarstream.TarReader(_Input(req.environ['wsgi.input']))
        try:
            first = reader.next()
            if first is None or first[0] != 'spec.json':
                raise SpecError('the first member must be spec.json')
            spec = parse_spec(reader.read_bytes(self.config.max_spec_bytes))
            local = []
            if spec.needs_local:
                local = self._open_local(req, work, manager, dev_path, place,
                                         spec)
            program = self._spool(reader, work, spec)
            _drain(req.environ['wsgi.input'])
            cached = program is None
            if spec.exec_image:
                if not cached:
                    raise SpecError('a program of an image comes without '
                                    'an exec member')
                # Taken from its image once the inputs are open.
            elif cached:
                program = self._cached_program(req, work, spec, cache)
                self.logger.increment('programs.cached')
            else:
                self.logger.increment('programs.received')
                self.logger.info('node %s brought program %s', spec.node,
                                 spec.exec_sha256 or '(no digest)')
        except SpecError as exc:
            self.logger.warning('bad execution request %s: %s', req.path,
                                exc)
            status = {413: swob.HTTPRequestEntityTooLarge,
                      501: swob.HTTPNotImplemented}.get(
                          exc.status, swob.HTTPBadRequest)
            raise status(body=str(exc), request=req)
        except _ClientDisconnect as exc:
            self.logger.info('client gone while sending %s: %s', req.path,
                             exc)
            raise swob.HTTPClientDisconnect(request=req)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.logger.error('no room in %s for %s', work.dir, req.path)
            raise swob.HTTPInsufficientStorage(drive=place[0], request=req)
        return spec, program, local, cached

    def _cached_program(self, req, work, spec, cache):
        """The program of a request without an exec member: from the cache,
        or 428 so that the proxy sends it (doc/internals.rst)."""
        program = work.path('exec')
        if cache.link_into(spec.exec_sha256, program):
            return program
        raise swob.HTTPException(
            status='428 Precondition Required', request=req,
            body='zerocloud: send the program (%s)' % (
                spec.exec_sha256 or 'no exec.sha256 given'))

    def _spool(self, reader, work, spec):
        wanted = set(spec.members)
        seen = set()
        budget = self.config.max_input_bytes
        program = None
        while True:
            member = reader.next()
            if member is None:
                break
            name = member[0]
            if name in seen or name == 'spec.json':
                raise SpecError('tar member %r given twice' % name)
            seen.add(name)
            if name == 'exec':
                program = work.path('exec')
                limit = self.config.max_exec_bytes
            elif name in wanted:
                limit = budget
            else:
                raise SpecError('unexpected tar member %r' % name)
            path = work.path(name.replace('/', '-'))
            with open(path, 'xb') as out:
                size = reader.copy_to(out, limit)
            if name != 'exec':
                budget -= size
        missing = wanted - seen
        if missing:
            raise SpecError('missing tar members: %s'
                            % ', '.join(sorted(missing)))
        return program

    def _open_local(self, req, work, manager, dev_path, place, spec):
        """Open the object's data file read-only, once per local channel.

        ``DiskFile.open`` decides whether the object exists (not deleted,
        not expired) and names its data file by timestamp; the fds are
        opened while Swift holds the file open, and checked against its
        length.
        """
        device, partition, account, container, obj, policy = place
        if policy.policy_type != REPL_POLICY:
            raise swob.HTTPBadRequest(
                body='execution needs a replicated storage policy',
                request=req)
        fds = []
        try:
            df = manager.get_diskfile(device, partition, account, container,
                                      obj, policy=policy)
            with df.open():
                unlike = not_its_bytes(df.get_metadata())
                if unlike:
                    self.logger.info('%s is %s: not read in place',
                                     req.path, unlike)
                    raise swob.HTTPConflict(
                        body='zerocloud: the object here is %s, not its '
                        'bytes' % unlike, request=req,
                        headers={NOT_LOCAL_HEADER: unlike})
                datadir = storage_directory(
                    get_data_dir(policy), partition,
                    hash_path(account, container, obj))
                data_file = os.path.join(
                    dev_path, datadir, df.data_timestamp.internal + '.data')
                length = df.content_length
                for channel in spec.channels:
                    if channel.local:
                        fd = work.open(data_file)
                        fds.append(fd)
                        if os.fstat(fd).st_size != length:
                            raise DiskFileNotExist()
        except DiskFileDeviceUnavailable:
            raise swob.HTTPInsufficientStorage(drive=device, request=req)
        except (DiskFileNotExist, DiskFileError) as exc:
            self.logger.info('no local object for %s: %s', req.path,
                             exc.__class__.__name__)
            # Expired or deleted here: a listing may still show it.
            gone = 'expired' if isinstance(exc, DiskFileExpired) else \
                'deleted' if isinstance(exc, DiskFileDeleted) else None
            raise swob.HTTPNotFound(request=req, headers={
                GONE_HEADER: gone} if gone else {})
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            raise swob.HTTPNotFound(request=req)
        return fds

    def _inputs(self, req, spec, work, local):
        """fd per readable channel index: the local object's fds (one per
        local channel, in order), the spooled members and the system
        images' tars."""
        local = iter(local)
        inputs = {}
        for index, channel in enumerate(spec.channels):
            if channel.local:
                inputs[index] = next(local)
            elif channel.readable and channel.kind == 'object':
                inputs[index] = work.open(
                    work.path(channel.member.replace('/', '-')))
            elif channel.kind == 'image':
                inputs[index] = work.open(
                    self._system_image(req, channel.image))
        return inputs

    def _system_image(self, req, name):
        """The path of system image ``name``, or 501 when this server
        does not have it."""
        where = self.config.system_images_dir
        path = os.path.join(where, name + '.tar') if where else None
        if path is None or not os.path.isfile(path):
            self.logger.warning('system image %s asked for, not in %s',
                                name, where or '(no system_images_dir)')
            raise swob.HTTPNotImplemented(
                body='system image %s is not installed on this object '
                'server' % json.dumps(name), request=req)
        return path

    def _images(self, req, spec, inputs):
        """The :class:`zerocloud.sandbox.image.Index` of every image
        channel: system images indexed once per file, the image device
        per request; ``415`` for one that is not a usable tar."""
        images = {}
        for index in spec.images:
            channel = spec.channels[index]
            try:
                # In a worker thread: a user's tar may be large.
                if channel.kind == 'image':
                    images[index] = self.pool.execute(
                        image.index_fd, inputs[index],
                        'system image %s' % channel.image, True)
                else:
                    images[index] = self.pool.execute(
                        image.index_fd, inputs[index],
                        'device %s' % channel.alias)
            except image.ImageError as exc:
                self.logger.info('node %s: %s', spec.node, exc)
                raise swob.HTTPException(
                    status='415 Unsupported Media Type',
                    body='node %s: %s' % (json.dumps(spec.node), exc),
                    request=req)
        return images

    def _image_program(self, req, work, spec, inputs, images, cache):
        """A ``file://IMAGE:PATH`` program, copied from its image into
        the request's directory (or linked from the exec cache, by the
        digest it had the last time).  Returns ``(spec with exec.sha256,
        path, whether it came from the cache)``; ``422`` when the image
        has no such file."""
        name, inner = spec.exec_image
        for index in spec.images:
            channel = spec.channels[index]
            if channel.image == name and (channel.kind == 'image') == (
                    name != 'image'):
                break
        else:
            raise swob.HTTPBadRequest(
                body='exec.path %s names an image the node does not have'
                % spec.exec_path, request=req)
        entry = images[index].find(inner)
        if entry is None or entry.isdir:
            raise swob.HTTPUnprocessableEntity(
                body='node %s: %s is not a file of image %s' % (
                    json.dumps(spec.node), json.dumps(inner),
                    json.dumps(name)), request=req)
        program = work.path('exec')
        key = None
        if channel.kind == 'image':
            st = os.fstat(inputs[index])
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                   entry.path)
            sha = self._image_execs.get(key)
            if sha and cache.link_into(sha, program):
                return dataclasses.replace(spec, exec_sha256=sha), \
                    program, True
        sha = self.pool.execute(_copy_out, inputs[index], entry, program)
        if key is not None:
            if len(self._image_execs) >= 256:
                self._image_execs.clear()   # images replaced many times
            self._image_execs[key] = sha
        return dataclasses.replace(spec, exec_sha256=sha), program, False

    def _limits(self, req, spec):
        asked, c = spec.limits, self.config
        memory = min(asked['memory'] or mf.DEFAULT_MEMORY, c.max_memory)
        if memory < mf.MIN_MEMORY:
            raise swob.HTTPBadRequest(body='memory limit below %d bytes'
                                      % mf.MIN_MEMORY, request=req)
        return mf.Limits(
            memory=memory,
            cpu=min(asked['cpu'] or c.max_cpu, c.max_cpu),
            timeout=min(asked['timeout'] or c.max_timeout, c.max_timeout),
            max_output=min(asked['max_output'] or c.max_output_bytes,
                           c.max_output_bytes))

    def _validate(self, program, spec, from_cache=False):
        # In a worker thread.
        with _VALIDATE_LOCK:
            if from_cache and spec.exec_sha256 and isinstance(
                    validator.DEFAULT_CACHE.get(spec.exec_sha256),
                    validator.ValidationResult):
                # The exec cache holds programs by their sha256, put there
                # once validated; linking one into the request changes its
                # ctime, so the validator would hash it again each time.
                return
            checked = validator.validate_cached(program)
        wanted = spec.exec_sha256
        if wanted and checked.sha256 != wanted:
            raise SpecError('the exec member does not match exec.sha256')

    def _keep(self, cache, spec, program):
        """Keep a validated program, matching its digest, for the next
        requests (a hard link, no copy).  Best effort: a program that could
        not be kept is asked for again (428), the node runs anyway."""
        if not spec.exec_sha256:
            return
        try:
            cache.put(spec.exec_sha256, program)
        except OSError as exc:
            self.logger.warning('could not keep program %s in %s: %s',
                                spec.exec_sha256, cache.root, exc)

    def _validate_and_run(self, job, cancel, validated=False,
                          from_cache=False):
        # In a worker thread.
        if not validated:
            self._validate(job.program, job.spec, from_cache)
        return self.executor.run(job, cancel=cancel)

    def _run_connected(self, req, work, spec, program, inputs, limits,
                       from_cache=False, keep_in=None, images=None):
        """Run a node with pipes (admitted by ``gang_admission``):
        validate, meet the others at the job's rendezvous, connect the
        pipes, run; an abort from the rendezvous stops the sandbox.
        Returns ``(NodeJob, NodeResult)``."""
        try:
            self.pool.execute(self._validate, program, spec, from_cache)
        except ValidationError as exc:
            raise swob.HTTPUnprocessableEntity(body=str(exc), request=req)
        except SpecError as exc:
            raise swob.HTTPBadRequest(body=str(exc), request=req)
        if keep_in is not None:
            # Kept now, before the rendezvous, not after the run: the proxy
            # holds the gang's other nodes bound here until this one has
            # checked in, then sends them without the program.
            self._keep(keep_in, spec, program)
        pipes = PipeSet(spec, work.dir, req.remote_addr,
                        self.pipe_bind_ip, PIPE_CONNECT_TIMEOUT,
                        self.config.pipe_setup_timeout, self.logger)
        try:
            try:
                pipes.connect(pipes.register())
            except Aborted as exc:
                self.logger.info('node %s aborted before it started: '
                                 '%s', spec.node, exc)
                job = NodeJob(spec, program, inputs, work.dir, limits,
                              images or {})
                return job, NodeResult(_aborted(spec, str(exc)), {})
            except PipeError as exc:
                self.logger.warning('node %s: %s', spec.node, exc)
                pipes.fail(str(exc))
                raise swob.HTTPServiceUnavailable(
                    body='zerocloud: %s' % exc, request=req)
            job = NodeJob(spec, program, {**inputs, **pipes.fds},
                          work.dir, limits, images or {})
            cancel = launcher.Cancel()
            pipes.watch(cancel.abort)
            outcome = self._run(req, job, cancel)
            result = outcome.result
            counted = {c.path: c.bytes_read for c in result.channels}
            pipes.settle(counted, limits.timeout)
            # A program that failed (a signal, an output's full device...)
            # is reported for that: what it left unread follows from it.
            unread = pipes.unread(counted) \
                if result.ok and result.exit_code == 0 else []
            if unread:
                outcome.unread.extend(
                    {'alias': a, 'peer': p, 'sent': s, 'read': r}
                    for a, p, s, r in unread)
            ok = result.ok and result.exit_code == 0 and not unread
            pipes.finish(ok, _done_message(result, unread))
            return job, outcome
        finally:
            pipes.close()

    def _run(self, req, job, cancel=None, from_cache=False):
        connected = cancel is not None
        cancel = cancel or launcher.Cancel()
        # A proxy that hung up will never read the answer: stop the run.
        watcher = eventlet.spawn(watch_hangup, req.environ, cancel)
        try:
            if connected:
                # Admitted by gang_admission: no max_running slot; the
                # program was validated before the rendezvous.
                outcome = self.pool.execute(self._validate_and_run, job,
                                            cancel, True)
            else:
                queued = time.time()
                started = []

                def validate_and_run(*args):
                    started.append(time.time())     # holds a slot now
                    return self._validate_and_run(*args)
                outcome = self.pool.run(
                    validate_and_run, job, cancel, False, from_cache,
                    given_up=lambda: cancel.cancelled)
                self.logger.timing('queue.timing',
                                   (started[0] - queued) * 1000)
        except Abandoned:
            self.logger.info('node %s on %s: the proxy hung up while it '
                             'waited for a sandbox', job.spec.node, req.path)
            raise swob.HTTPServiceUnavailable(
                body='zerocloud: the proxy hung up', request=req)
        except ValidationError as exc:
            self.logger.info('invalid program for node %s: %s',
                             job.spec.node, exc)
            raise swob.HTTPUnprocessableEntity(body=str(exc), request=req)
        except (ManifestError, SpecError) as exc:
            raise swob.HTTPBadRequest(body=str(exc), request=req)
        except SandboxError as exc:
            self.logger.error('sandbox failed for node %s: %s',
                              job.spec.node, exc)
            raise swob.HTTPInternalServerError(
                body='zerocloud: the sandbox failed', request=req)
        finally:
            watcher.kill()
        result = outcome.result
        self.logger.increment('runs.%s' % result.reason.value)
        self.logger.timing('runs.timing', result.wall_ms)
        self.logger.info('node %s on %s: %s exit=%s wall=%sms',
                         job.spec.node, req.path, result.reason.value,
                         result.exit_code, result.wall_ms)
        return outcome

    def _answer(self, req, work, place, job, outcome):
        server = '%s:%s/%s' % (req.environ.get('SERVER_NAME', ''),
                               req.environ.get('SERVER_PORT', ''), place[0])
        body = {'node': job.spec.node, 'server': server,
                'result': outcome.result.to_dict(), 'validation': 'ok'}
        if outcome.unread:
            body['unread'] = outcome.unread
        report = json.dumps(body).encode('utf-8')
        members = [('report.json', report, len(report))]
        for index, channel in enumerate(job.spec.channels):
            if channel.readable or channel.kind == 'pipe':
                continue
            path = outcome.outputs.get(index)
            if path is None:
                members.append(('out/%d' % index, b'', 0))
            else:
                members.append(('out/%d' % index, path,
                                os.path.getsize(path)))
        return _TarAnswer(work, members)


def _copy_out(fd, entry, dest):
    """Copy image file ``entry`` from the tar ``fd`` into a new file
    ``dest``; return its sha256."""
    digest = hashlib.sha256()
    with open(dest, 'xb') as out:
        done = 0
        while done < entry.size:
            chunk = os.pread(fd, min(_CHUNK, entry.size - done),
                             entry.offset + done)
            if not chunk:
                raise SpecError('%s: the image ends inside this file'
                                % entry.path)
            digest.update(chunk)
            out.write(chunk)
            done += len(chunk)
    return digest.hexdigest()


def _drain(wsgi_input, limit=1024 * 1024):
    """Read what follows the tar's end (``tarfile`` pads to 10 KiB), so
    that the connection turns readable only when the proxy closes it."""
    left = limit
    while True:
        try:
            chunk = wsgi_input.read(min(_CHUNK, left + 1))
        except (OSError, ValueError) as exc:
            raise _ClientDisconnect(str(exc))
        if not chunk:
            return
        left -= len(chunk)
        if left < 0:
            raise SpecError('more than %d bytes after the end of the tar'
                            % limit)


def watch_hangup(environ, cancel):
    """Wait until the request's connection becomes readable; if that is
    its end (the proxy closed it: it hung up, or died), abort ``cancel``.
    Run it in a green thread while the request body has been read and the
    answer not yet started, and kill it before answering."""
    sock = getattr(environ.get('eventlet.input'), '_sock', None)
    if sock is None or not hasattr(sock, 'fileno'):
        return
    try:
        hubs.trampoline(sock, read=True)
        peek = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        peek = b''
    if not peek:
        cancel.abort('the proxy closed the connection')


def sweep_stale_work(devices, logger=None):
    """Remove the request directories (``<devices>/*/tmp*/zerocloud-TAG-*``,
    :mod:`zerocloud.owner`) of server processes that are gone: a server
    killed mid-request cannot clean up after itself.  A process with the
    same pid started later (a restarted container) is not their owner.
    Returns the paths removed."""
    removed = []
    try:
        names = os.listdir(devices)
    except OSError:
        return removed
    for device in names:
        try:
            tmps = [t for t in os.listdir(os.path.join(devices, device))
                    if t.startswith('tmp')]
        except OSError:
            continue
        for tmp in tmps:
            root = os.path.join(devices, device, tmp)
            try:
                entries = os.listdir(root)
            except OSError:
                continue
            removed += owner.sweep(root, [TMP_PREFIX])
            for entry in entries:
                match = _LEGACY_WORK_RE.fullmatch(entry)
                if not match or _alive(int(match.group(1))):
                    continue
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
                removed.append(os.path.join(root, entry))
    if removed and logger:
        logger.warning('removed %d request directories of stopped servers',
                       len(removed))
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ensure_threads(count):
    """At least ``count`` eventlet worker threads (20 by default).  Only
    effective before the first ``tpool.execute`` (the filter is built at
    server start, before any request)."""
    if getattr(tpool, '_nthreads', count) < count:
        tpool.set_num_threads(count)


def _aborted(spec, message):
    """The result of a connected node stopped before its program ran."""
    return RunResult(reason=Reason.ABORTED, exit_code=None, signal=0,
                     message=message, cpu_user_ms=0, cpu_sys_ms=0, wall_ms=0,
                     max_rss_kb=0, seed=spec.seed, channels=())


def _done_message(result, unread):
    if not (result.ok and result.exit_code == 0):
        return result.message or '%s (exit code %s)' % (
            result.reason.value, result.exit_code)
    if unread:
        alias, peer, sent, read = unread[0]
        if sent == read:
            return 'ended before %s (from node %s) did' % (
                alias, json.dumps(peer))
        return 'left %d of the %d bytes of %s (from node %s) unread' % (
            sent - read, sent, alias, json.dumps(peer))
    return ''


def filter_factory(global_conf, **local_conf):
    """Paste filter factory: ``use = egg:zerocloud#object``."""
    conf = dict(global_conf)
    conf.update(local_conf)

    def object_filter(app, executor=None):
        # Paste calls this once per pipeline: the config is parsed once,
        # and a bad option stops the server at start-up.
        return ObjectFilter(app, conf, executor=executor)
    return object_filter
