# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""
zerocloud proxy filter: run jobs on the object servers holding their data.

A job (``doc/job_format.rst``) is POSTed to the caller's account::

    curl -i -X POST http://proxy:8080/v1/AUTH_test \\
         -H "X-Auth-Token: $TOKEN" \\
         -H "X-Zerovm-Execute: 1.0" \\
         -H "Content-Type: application/json" \\
         --data-binary @job.json

The filter recognizes ``POST /v1/<account>`` with ``X-Zerovm-Execute: 1.0``
and ``Content-Type: application/json``.  Any other method with that header
answers ``405`` (``Allow: POST``), another version ``501``, no content type
``415``.  Requests without the header pass through untouched, but for
paths under ``/open/`` and ``/api/`` (below).

As ZeroCloud did, two more kinds of body are jobs (at most
``max_archive_bytes``, kept in a spool file in ``temp_dir``, never in
memory, until the job ends):

* a ZeroVM application archive (``application/x-tar``, ``x-gtar``,
  ``x-ustar``): an uncompressed tar whose ``boot/system.map`` is the job
  description; the archive is the ``image`` device of every group that
  names none, so its files are the nodes' from ``/`` and its programs run
  as ``file://image:PATH`` (``400`` without ``boot/system.map``);
* any other content type: a script, whose ``#!`` line names a system
  image's interpreter (``#!file://IMAGE:PATH``, or ``#!/usr/bin/env
  python3``, ``lua``; anything else is ``400``); the job is one node, on
  any object server, running it on the script (``/dev/script``) with a
  path-less ``stdout`` and ``stderr``.  POSTed to an object
  (``/v1/<account>/<container>/<object>``), the script reads that object
  as its ``stdin`` and runs on a server holding it; a job description or
  an archive POSTed there, or to a container, is ``400``.  An ``exec``
  object that begins with ``#!`` is run the same way
  (``doc/job_format.rst``).

With ``X-Zerovm-Source: swift://ACCOUNT/CONTAINER/OBJECT`` the job is
that stored object instead of the body, as ZeroCloud ran deployed
applications: an archive (a tar, or ``*.zapp``) runs its
``boot/system.map`` with itself as image, a ``#!`` script runs as one
node's program, any other object is a job description; all are read as
the caller (``412`` for a header that is
not one ``swift://`` object).  The body, of any type and at most
``max_archive_bytes``, is then what the job's path-less ``stdin``,
``input`` or ``script`` devices read (one per group).

An object is also *opened* by a ``GET /open/<account>/<container>/
<object>`` (or a ``GET`` of its ``/v1`` URL with ``X-Zerovm-Execute:
open/1.0``), as ZeroCloud's ``open`` did: the job template registered for
its content type in the account's ``.zvm`` container, filled from the
query, or the object itself when it is a program
(:mod:`zerocloud.middleware.opener`); ``HEAD``, ``POST``, ``PUT`` and
``DELETE`` open it too, a body being what the job's path-less ``stdin``
(``input``, ``script``) reads.  A
container whose ``X-Container-Meta-Rest-Endpoint`` names an application
is a REST service: ``/api/<account>/<container>/<path>`` (or
``X-Zerovm-Execute: api/1.0``) runs it the same way.  Both answer CORS
requests as Swift does for the container's objects
(:mod:`zerocloud.middleware.cors`).  A ``PUT`` of a program with
``X-Zerovm-Validate`` (or as ``application/x-nexe``) is answered with the
validator's verdict, ``X-Zerovm-Valid`` (and ``X-Zerovm-Validation-Error``).
The filter
therefore also takes paths that begin with ``/open/`` or ``/api/``, with
or without the header.

What happens, in order (nothing runs before the last step):

1. the body is read (at most ``max_job_bytes``: ``413``) and parsed
   (``422`` not JSON, ``400`` a bad job; the message names group and
   field);
2. wildcards are expanded from container listings made *as the caller*
   (a container the caller cannot list is an error, not an empty match);
3. every object read (the executables included) is authorized against its
   container's read ACL and every object written against the write ACL,
   through the auth filter's ``swift.authorize``: ``401``/``403`` naming
   the object; a job that reads and writes no object of the account it
   is POSTed to (a system image's program, a POSTed script, only other
   accounts' objects) must be allowed to ``POST`` to that account, as its
   owners are, since the job runs and is counted there; a request that a
   TempURL (or another override) authorized cannot run a job (``403``);
4. nodes are placed on the object servers holding their objects (object
   ring of the container's storage policy);
5. the executables and the inputs not local to a node are fetched as the
   caller (``404`` naming a missing object);
6. each node is sent to its first candidate object server, failing over to
   the next one when a server is unreachable, busy or lacks the object,
   or when its answer is lost on the way (``doc/internals.rst``).

A client that hangs up while its nodes run stops them: the filter closes
their backend requests (each object server then stops its sandbox), aborts
the gang, writes nothing and logs ``499``.  Once the outputs are being
written, the commit completes, like a PUT whose client left.

With ``X-Zerocloud-Dry-Run: 1`` the filter stops after step 4 and answers
``200`` with the plan as JSON (``zerocloud plan --json`` shape).

With ``?heartbeat=on`` (for long jobs behind load balancers) the filter
answers ``202 Accepted`` after step 4, sends a space every
``heartbeat_interval`` seconds while the job runs, then the JSON report,
whose ``status`` is the job's; a path-less ``stdout`` is then refused
(``400``).

The answer
----------

``200`` when every node exited 0.  The body is the concatenated path-less
``stdout`` of the nodes, in node order, when the job declares one; else the
JSON report.  ``Accept: application/json`` always gets the JSON report.
A job's only path-less ``stdout``, declared ``message/cgi``, is the answer
a CGI program writes: its status and allowed headers, then the body
(:mod:`zerocloud.middleware.cgiheader`; ``502`` when it is not one;
``message/http`` begins with an HTTP status line).  When that answer
carries ``X-Zerovm-Execute: 1.0`` and ``Content-Type: application/json``,
its body is the next job, run as the same caller: a job chain of at most
``max_chain_length`` jobs (``508`` beyond), answered by its last job with
``X-Zerocloud-Chain-Length`` and ``X-Chain-Total-Time``.
Output objects are then written through the proxy as the caller (ACLs,
quotas and storage policies apply), with the device's ``content_type`` and
``meta`` (``X-Object-Meta-*``).

On failure the status is that of the most serious node failure (the table
is in :mod:`zerocloud.middleware.report`): ``503`` a node could not be run
anywhere (with ``Retry-After: 1``), ``500`` the sandbox or an object server
failed, ``507`` the proxy has no room in ``temp_dir`` for the job's inputs
or outputs, ``422`` a program was refused (invalid binary), ``504`` a program
ran out of time or CPU, ``424`` a program failed (non-zero exit, signal,
forbidden system call, memory or output limit, an output smaller than
``min_size``, bytes of a pipe left unread). The body is then always the
JSON report, and **no output object is written**. A failed commit (a PUT
refused, e.g. by a quota) answers that PUT's status (``503`` for a server
error) and deletes the outputs it had already written; an older object that
one of them had replaced is gone too (Swift has no transactions).

An account that has ``max_jobs_per_account`` jobs running in this proxy
process already is answered ``429 Too Many Requests`` with
``Retry-After`` before anything runs (a ``?heartbeat=on`` job before its
``202``).

Pipes between nodes (``connect``, ``zvm://``, ``doc/mapreduce.rst``):
the nodes they join run as one gang through a per-job rendezvous
(:mod:`zerocloud.middleware.rendezvous`).  They are all sent at once,
whatever ``dispatch_concurrency`` says; they start together or not at all
(``503`` when they cannot all be admitted within ``rendezvous_timeout``);
when one fails, or its object server dies, the others are stopped
(reason ``aborted``) and the report says which node failed first.

The JSON report::

    {"status": 200, "ok": true, "message": "every node exited 0",
     "outputs": ["swift://AUTH_test/out/a.count"],
     "nodes": [{"name": "wc", "group": "wc", "server": "10.0.0.2:6200/sdb",
                "ran": true, "failure": null, "reason": "ok",
                "exit_code": 0, "signal": 0, "message": "",
                "validation": "ok", "cpu_ms": 12, "wall_ms": 15,
                "max_rss_kb": 900, "error": null, "stderr": "",
                "channels": [{"alias": "/dev/stdin", "kind": "object",
                              "direction": "r", "endpoint": "swift://...",
                              "bytes_read": 1024, "bytes_written": 0,
                              "reads": 1, "writes": 0, "sha256": null}]}]}

Headers, one comma-separated value per node in node order (escaped so that
program output cannot add or forge headers): ``X-Nexe-System`` (node
names), ``X-Nexe-Status`` (``ok`` or the termination reason, ``not-run``),
``X-Nexe-Retcode`` (exit code, 128 + signal), ``X-Nexe-Etag`` (sha256 of
the node's stdout), ``X-Nexe-Validation`` (``ok``/``invalid``),
``X-Nexe-Cdr-Line`` (``wall_ms cpu_ms max_rss_kb reads bytes_read writes
bytes_written``), ``X-Nexe-Error``; ``-`` stands for no value.

Configuration
-------------

Put the filter right after the auth filter: it needs ``swift.authorize``
and the caller's identity, and its subrequests must meet the filters after
it (ratelimit, quotas, slo, dlo, versioned_writes, symlink) as the
caller's own requests would (at the very end of the pipeline, output
writes would bypass quotas; before it, ratelimit never sees them)::

    [pipeline:main]
    pipeline = catch_errors gatekeeper ... tempauth zerocloud_proxy
        ratelimit copy container-quotas account-quotas slo dlo
        versioned_writes symlink proxy-logging proxy-server

    [filter:zerocloud_proxy]
    use = egg:zerocloud#proxy
    # max_job_bytes = 65536
    # max_nodes = 1000
    # max_channels = 100000
    # system_images = lua python
    # dispatch_concurrency = 16
    # conn_timeout = 0.5
    # node_timeout = 120
    # node_memory = 268435456
    # node_cpu = 10
    # node_wall = 60
    # node_max_output = 1073741824
    # max_fetch_bytes = 1073741824
    # report_stderr_bytes = 4096
    # nexe_header_bytes = 12288
    # heartbeat_interval = 10
    # max_jobs_per_account = 0
    # max_chain_length = 16
    # accounting_account =
    # deferred_timeout = 10
    # deferred_expire_after = 0
    # max_job_spool_bytes = 0
    # max_archive_bytes = 16777216
    # temp_dir =
    # max_pipe_bytes = 1073741824
    # max_job_wall = 600
    # rendezvous_timeout = 20
    # rendezvous_bind_ip = 0.0.0.0
    # rendezvous_ip =

``max_job_bytes``, ``max_nodes``, ``max_channels``, ``system_images``: job
limits (``doc/job_format.rst``).  ``dispatch_concurrency``: backend requests
one job keeps in flight.  ``conn_timeout``, ``node_timeout``: seconds to
connect to an object server, and to wait for its answer (the run included)
and between reads: more than ``node_wall`` plus ``rendezvous_timeout`` plus
10 s (checked at start-up), or a long node's answer would look lost, and
more than that plus the object servers' ``queue_timeout`` (which the proxy
cannot check), or a node that waited for a slot would be run again
elsewhere while it runs.
``node_memory`` (bytes), ``node_cpu`` (seconds), ``node_wall`` (seconds),
``node_max_output`` (bytes over all outputs, also what the proxy spools of
a node's answer): every node's sandbox limits.
``max_fetch_bytes``: largest executable or input the proxy fetches (inputs
not read in place: other objects than the node's own, erasure-coded ones,
large objects and symlinks' targets).
``report_stderr_bytes``: stderr kept per node in the report.
``nexe_header_bytes``: most bytes of the X-Nexe-* headers together (at
least 4096): they describe the first nodes that fit, and
``X-Zerocloud-Nodes-Omitted`` says how many more only the JSON report has
(proxies in front of Swift refuse huge headers; HAProxy keeps about 15 KB).
``heartbeat_interval``: seconds between the spaces of a ``?heartbeat=on``
answer.
``max_jobs_per_account``: jobs one account may run at once in each proxy
server process (``429`` with ``Retry-After`` beyond; 0: no limit); with
``workers = N`` an account may run N times that on one proxy.
``max_chain_length``: most jobs one request runs through job chaining
(a job whose ``message/cgi`` answer carries ``X-Zerovm-Execute`` runs its
body next; ``508`` beyond).
``accounting_account``: where every job's usage record is stored (JSON:
container ``<account>``, object ``YYYY/MM/DD/<time>-<trans_id>.json``;
:mod:`zerocloud.middleware.usage`), as ZeroCloud's accounting did; empty
(the default): only the ``usage`` line each job logs.
``deferred_timeout``: seconds a job sent with ``X-Zerovm-Deferred: auto``
runs before its client gets ``202`` and the URL its answer will be stored
at (``X-Zerovm-Deferred: always`` answers at once).
``deferred_expire_after``: seconds such a stored answer is kept
(``X-Delete-After``, for Swift's object expirer; 0, the default: until its
owner deletes it).
``max_job_spool_bytes``: most bytes one job may keep in ``temp_dir`` (the
objects it fetched and its nodes' outputs; ``507`` beyond, naming the
option; 0: no bound but the disk).
``max_archive_bytes``: largest ZeroVM application archive or ``#!``
script POSTed or opened as a job, or request body of a job run from
``X-Zerovm-Source``, ``/open/`` or ``/api/`` (``413`` beyond); kept in
``temp_dir`` (counted in ``max_job_spool_bytes``) until the job ends.
``temp_dir``: spool directory (default: the system's); a job keeps there
each object it fetched (once, whatever its number of nodes) and its nodes'
outputs until they are written, and answers ``507`` when it is full; a
commit's journal is there while it writes (:mod:`.journal`).
``max_pipe_bytes``: bytes one pipe between nodes may carry;
``max_job_wall``: seconds a job with pipes may run (it also caps
``node_wall``); ``rendezvous_timeout``: seconds for every connected node
to be admitted and reach the rendezvous; ``rendezvous_bind_ip`` and
``rendezvous_ip``: where the rendezvous listens and the address object
servers are told (default: the proxy's address as they see it).
``swift_dir`` and the log options come from ``[DEFAULT]`` as for any Swift
filter.  The public limits appear in ``/info`` under ``zerocloud``.

Metrics, when ``log_statsd_host`` is set (Swift's StatsD options):
``jobs.<status>.timing`` (``dry_runs.<status>.timing``) per job request,
``nodes.ran``, ``nodes.not_run`` and ``nodes.failover`` per job,
``commit.timing``, ``outputs.written`` and ``commit.failed`` per commit,
``gangs.assembly.timing`` and ``gangs.aborted.<status>`` per job with
pipes, all under ``zerocloud-proxy.`` (``doc/operator.rst``).
"""
import collections
import contextlib
import dataclasses
import functools
import io
import json
import os
import posixpath
import socket
import tempfile
import time
import types
import urllib.parse
import uuid

import eventlet
import eventlet.event
import eventlet.hubs
import eventlet.semaphore
import eventlet.tpool
from eventlet.wsgi import ChunkReadError

from swift.common import swob
from swift.common.registry import register_swift_info
from swift.common.storage_policy import POLICIES, REPL_POLICY
from swift.common.utils import config_true_value, get_logger

from zerocloud import owner
from zerocloud.config import ProxyConfig
from zerocloud.exceptions import JobError
from zerocloud.job import SHEBANG_MAX, load_json, parse_job, parse_shebang
from zerocloud.middleware.caller import (Caller, IterFile, http_error,
                                         reason_phrase)
from zerocloud.middleware.cgiheader import (CHAIN_HEADER, HEAD_LIMIT,
                                            NPH_TYPE, OBJECT_ALLOWED,
                                            OBJECT_PREFIXES, CGIError,
                                            is_cgi, parse_head)
from zerocloud.middleware.cors import answer_headers, preflight_headers
from zerocloud.middleware.dispatch import (AnswerError, Dispatcher, Fetched,
                                           HTTPTransport, InputUnavailable,
                                           JOB_SPOOL_PREFIX, NodeRequest,
                                           RequestBody, Spool, SpoolError,
                                           UPLOAD_SPOOL_PREFIX,
                                           Stopped, copy_bounded, node_spec,
                                           open_spool_file, spec_request_tar)
from zerocloud.middleware.green import keeping_txn
from zerocloud.middleware.journal import COMMIT_HEADER, Journal, recover
from zerocloud.middleware.placement import RingView, place
from zerocloud.middleware.planner import (attach_object, expand,
                                          needs_listing, script_node)
from zerocloud.middleware.opener import (ARCHIVE_TYPES, ENDPOINT_META,
                                         ENDPOINT_PREFIX, ENDPOINT_VERSION,
                                         OPEN_METHODS, OPEN_PREFIX,
                                         OPEN_VERSION, TEMPLATES_CONTAINER,
                                         cgi_environ, is_archive,
                                         is_executable, open_job,
                                         parse_query, template_name,
                                         with_request_stdin)
from zerocloud.middleware.rendezvous import Rendezvous
from zerocloud.middleware.report import build_report, header_value
from zerocloud.middleware.usage import (job_usage, record_body, record_path,
                                        usage_line)
from zerocloud.paths import SwiftPath, parse_path
from zerocloud.sandbox.image import TarError, tar_members

__all__ = ['ProxyFilter', 'filter_factory', 'EXECUTE_HEADER',
           'SOURCE_HEADER', 'DRY_RUN_HEADER', 'API_VERSION', 'STATSD_PREFIX']

#: The header that marks a job request; its value is the API version.
EXECUTE_HEADER = 'X-Zerovm-Execute'
#: Names the stored job (or application archive) a POST runs; the body
#: is then what its path-less stdin, input or script reads.
SOURCE_HEADER = 'X-Zerovm-Source'
#: The only API version spoken.
API_VERSION = '1.0'
#: Paths that open an object or call a REST endpoint, with or without
#: the header.
_OPEN_PATHS = ('/%s/' % OPEN_PREFIX, '/%s/' % ENDPOINT_PREFIX)
#: Seconds a roll-back keeps asking Swift to delete a written output that
#: it answered 498 (rate limited) or 503.
ROLL_BACK_PATIENCE = 30
#: ``X-Zerocloud-Dry-Run: 1`` answers the plan without running it.
DRY_RUN_HEADER = 'X-Zerocloud-Dry-Run'
#: Seconds before trying again to roll back a stopped proxy's commit that
#: Swift would not let be undone.
RECOVER_RETRY = 60

#: The first bytes of an ELF file.
ELF_MAGIC = b'\x7fELF'

#: A PUT with this header (any value), or of an ``application/x-nexe``,
#: is validated once stored (:meth:`ProxyFilter.validated_upload`).
VALIDATE_HEADER = 'X-Zerovm-Validate'
VALIDATE_HEADER_ENV = 'HTTP_X_ZEROVM_VALIDATE'
#: PUTs whose body is not the object's bytes (a server-side copy, a
#: dynamic large object's manifest): never validated.
_NOT_THE_BYTES_ENV = frozenset(['HTTP_X_COPY_FROM', 'HTTP_X_OBJECT_MANIFEST'])
#: The verdict on such an upload, and why a program is refused.
VALID_HEADER = 'X-Zerovm-Valid'
VALIDATION_ERROR_HEADER = 'X-Zerovm-Validation-Error'
#: ZeroCloud's deferred jobs: ``always`` answers ``202`` at once, ``auto``
#: after ``deferred_timeout`` seconds if the job is still running; the
#: answer is then stored in Swift (:meth:`ProxyFilter.deferred`).
DEFERRED_HEADER = 'X-Zerovm-Deferred'
#: Where deferred answers go: ``<account>/.zvm-deferred/job-<trans_id>``;
#: not ``.zvm``, which opening objects for anonymous clients makes public.
DEFERRED_CONTAINER = '.zvm-deferred'
#: In a deferred answer's ``.headers`` when the answer itself could not be
#: stored: the status the job ended with.
JOB_STATUS_HEADER = 'X-Zerocloud-Job-Status'
#: The answer of a deferred job: where its answer will be.
DEFERRED_RESULT_HEADER = 'X-Zerocloud-Deferred-Result'
#: Set on a request whose job must not stop when its client leaves.
_DETACHED_ENV = 'zerocloud.detached'

_STREAM_CHUNK = 64 * 1024
#: Retry-After (seconds) of a job answered 503.
RETRY_AFTER = 1
#: The filter's StatsD metrics are named ``zerocloud-proxy.<metric>``.
STATSD_PREFIX = 'zerocloud-proxy'
#: Programs whose sha256 the filter remembers by (path, ETag).
PROGRAMS_REMEMBERED = 1024
#: Content types of ZeroVM application archives (a tar with its job).
TAR_TYPES = ARCHIVE_TYPES
#: Set when a heartbeat job took the request's upload over (it removes it).
_UPLOAD_KEPT_ENV = 'zerocloud.upload_kept'
#: Where the request's ``(path, _Upload)`` (a POSTed script or archive, a
#: stored job's stdin) waits for the job's node requests.
REQUEST_BODY_ENV = 'zerocloud.request_body'
#: The job description a job's answer asked to run next (a job chain).
CHAIN_ENV = 'zerocloud.chain'
#: The answer of a chain of jobs: how many ran, and their seconds in all
#: (ZeroCloud's ``X-Chain-Total-Time``).
CHAIN_LENGTH_HEADER = 'X-Zerocloud-Chain-Length'
CHAIN_TIME_HEADER = 'X-Chain-Total-Time'


class _TeeInput:
    """A request body that copies what is read of it to ``dest``, up to
    ``limit`` bytes (then it stops copying)."""

    def __init__(self, source, dest, limit):
        self.source, self.dest, self.limit = source, dest, limit
        self.copied = 0
        self.overflow = False

    def _copy(self, data):
        if data and not self.overflow:
            if self.copied + len(data) > self.limit:
                self.overflow = True
            else:
                self.dest.write(data)
                self.copied += len(data)
        return data

    def read(self, *args):
        return self._copy(self.source.read(*args))

    def readline(self, *args):
        return self._copy(self.source.readline(*args))

    def complete(self, length):
        """Was all of a body of ``length`` bytes (None: chunked, which a
        successful PUT read to its end) copied?"""
        return not self.overflow and (length is None
                                      or self.copied == length)


def _stalled(what):
    """The client stopped sending its request's body: 408, as Swift
    answers such a PUT (it was a 500 and a traceback in the log)."""
    return http_error(408, 'the %s stopped arriving: nothing came for '
                      'client_timeout seconds' % what)


class ClientGone(Exception):
    """The client hung up while its job ran."""


class _SpoolIter:
    """The stdout body: spool files one after the other; the job's spool
    is removed by ``close`` and when the iteration ends or is closed.

    Both are needed: the WSGI server closes what it was given, but Swift's
    middlewares iterate with ``iter()`` and close the iterator they got
    (``proxy-logging``'s ``reiterate``), never this object, which is then
    only garbage."""

    def __init__(self, paths, spool, skip=0):
        self.paths, self.spool, self.skip = paths, spool, skip

    def __iter__(self):
        try:
            for n, path in enumerate(self.paths):
                with open(path, 'rb') as src:
                    if n == 0 and self.skip:
                        src.seek(self.skip)
                    for chunk in iter(lambda: src.read(_STREAM_CHUNK), b''):
                        yield chunk
        finally:
            self.close()

    def close(self):
        self.spool.cleanup()


class _Upload:
    """A request's body (a script, an archive, a stored job's stdin) in a
    spool file of its own, never in memory; :meth:`cleanup` removes it."""

    def __init__(self, spool, fetched):
        self.spool, self.fetched = spool, fetched

    @property
    def size(self):
        return self.fetched.size

    def head(self, size):
        with open(self.fetched.path, 'rb') as f:
            return f.read(size)

    def open(self):
        return open(self.fetched.path, 'rb')

    def cleanup(self):
        self.spool.cleanup()


class ProxyFilter:
    """The proxy-side filter.

    :param app: the rest of the proxy pipeline.
    :param conf: a :class:`zerocloud.config.ProxyConfig`.
    :param logger: a Swift logger (default: ``zerocloud-proxy``).
    :param transport: a :class:`zerocloud.middleware.dispatch.Transport`
        (default: real HTTP to the object servers).
    :param ring_loader: ``ring_loader(policy_index)`` -> object ring
        (default: ``POLICIES.get_object_ring`` from ``swift_dir``).
    """

    def __init__(self, app, conf, logger=None, transport=None,
                 ring_loader=None):
        self.app = app
        self.conf = conf
        self.logger = logger or get_logger(
            {}, log_route='zerocloud-proxy', statsd_tail_prefix=STATSD_PREFIX)
        self.transport = transport or HTTPTransport(conf.conn_timeout,
                                                    conf.node_timeout)
        #: (program url, ETag) -> sha256 of programs seen, newest last.
        self.programs = collections.OrderedDict()
        #: (program url, etag) -> (ImagePath, argument) of a #! script.
        self.scripts = {}
        #: account -> its jobs running in this process.
        self.running = collections.Counter()
        self.ring_loader = ring_loader or (
            lambda index: POLICIES.get_object_ring(index, conf.swift_dir))
        # What a proxy killed mid-job left: spools, upload copies.
        self.temp_dir = conf.temp_dir or tempfile.gettempdir()
        removed = owner.sweep(self.temp_dir, [JOB_SPOOL_PREFIX,
                                              UPLOAD_SPOOL_PREFIX])
        if removed:
            self.logger.warning('removed %d job spools of stopped proxies '
                                'from %s', len(removed), self.temp_dir)
        # Commits a stopped proxy left half-done are rolled back by the
        # first request's process (not at load: Swift loads the pipeline
        # in its parent process too, which serves nothing).
        self._recover_at = 0.0
        self._recovering = False

    # --- routing ----------------------------------------------------------

    def __call__(self, env, start_response):
        if not self._recovering and time.monotonic() >= self._recover_at:
            self._recovering = True
            eventlet.spawn_n(self.recover_commits)
        if env.get('swift.source'):
            # Another filter's own request (s3api's, bulk's...), which may
            # carry its client's headers: never a job, nor an upload to
            # validate.
            return self.app(env, start_response)
        if 'HTTP_X_ZEROVM_EXECUTE' not in env and not env.get(
                'PATH_INFO', '').startswith(_OPEN_PATHS):
            if env.get('REQUEST_METHOD') == 'PUT' and (
                    VALIDATE_HEADER_ENV in env
                    or is_executable(env.get('CONTENT_TYPE'))) \
                    and not _NOT_THE_BYTES_ENV & set(env) \
                    and 'multipart-manifest' not in env.get(
                        'QUERY_STRING', ''):
                return self.validated_upload(env, start_response)
            return self.app(env, start_response)
        req = swob.Request(env)
        try:
            path_version, account, rest = req.split_path(1, 3, True)
        except ValueError:
            return self.app(env, start_response)
        if not account:
            return self.app(env, start_response)
        self.logger.txn_id = env.get('swift.trans_id')
        start = time.time()
        try:
            resp = self.route(req, path_version, account, rest)
        except swob.HTTPException as err:
            resp = err
        except ClientGone:
            resp = http_error(499, 'client disconnected')
        except ChunkReadError as err:
            resp = http_error(400, 'the request\'s chunked body is '
                              'malformed: %s' % str(err)[:80])
        except Exception:
            self.logger.exception('job request failed')
            resp = http_error(500, 'internal error running the job')
        if self.is_open(req, path_version) and 'Origin' in req.headers \
                and req.method != 'OPTIONS':
            resp.headers.update(answer_headers(
                self.container_cors(req, account, rest),
                req.headers['Origin']))
        # Until the answer starts (a stdout body is streamed after); a
        # heartbeat answer (202) counts when its report is ready.
        if resp.status_int != 202:
            self.logger.timing_since('%s.%d.timing' % (
                'dry_runs' if config_true_value(
                    req.headers.get(DRY_RUN_HEADER)) else 'jobs',
                resp.status_int), start)
        return resp(env, start_response)

    def validated_upload(self, env, start_response):
        """A program uploaded with ``X-Zerovm-Validate`` (or as
        ``application/x-nexe``), as ZeroCloud checked them: the PUT goes on
        as usual, its bytes copied to ``temp_dir`` on the way; once stored,
        the validator's verdict is in the answer: ``X-Zerovm-Valid: true``,
        or ``false`` and ``X-Zerovm-Validation-Error`` (what a job running
        it would be refused for, ``422``).  A ``#!`` script, a program
        larger than ``max_fetch_bytes``, a server-side copy
        (``X-Copy-From``) or a large object's manifest (its body is not the
        program's bytes) gets no verdict."""
        req = swob.Request(env)
        try:
            req.split_path(4, 4, True)
        except ValueError:
            return self.app(env, start_response)    # not an object
        try:
            spool = tempfile.NamedTemporaryFile(
                dir=self.conf.temp_dir,
                prefix='%s%s-' % (UPLOAD_SPOOL_PREFIX, owner.tag()))
        except OSError as err:
            self.logger.warning('no room to validate an upload: %s', err)
            return self.app(env, start_response)
        with spool:
            tee = _TeeInput(env['wsgi.input'], spool,
                            self.conf.max_fetch_bytes)
            env['wsgi.input'] = tee
            resp = req.get_response(self.app)
            if resp.is_success and tee.complete(req.content_length):
                spool.flush()
                verdict = self.verdict(spool.name)
                if verdict is not None:
                    resp.headers[VALID_HEADER] = \
                        'true' if verdict == '' else 'false'
                    if verdict:
                        resp.headers[VALIDATION_ERROR_HEADER] = \
                            header_value(verdict, 1024)
        return resp(env, start_response)

    def verdict(self, path):
        """'' when the program at ``path`` is valid, the reason when it
        is not, None for a ``#!`` script."""
        with open(path, 'rb') as src:
            if src.read(2) == b'#!':
                return None
        from zerocloud.sandbox.validator import ValidationError, validate
        try:
            eventlet.tpool.execute(validate, path)
        except ValidationError as err:
            return str(err)
        return ''

    @staticmethod
    def is_open(req, path_version):
        """Does ``req`` open an object or call a REST endpoint?"""
        version = req.headers.get(EXECUTE_HEADER, '').strip()
        return path_version in (OPEN_PREFIX, ENDPOINT_PREFIX) or \
            version in (OPEN_VERSION, ENDPOINT_VERSION)

    def container_cors(self, req, account, rest):
        """Swift's CORS info of the container an open or REST request
        names (``{}`` when it names none)."""
        container = swob.wsgi_to_str(rest or '').partition('/')[0]
        if not container:
            return {}
        info = Caller(self.app, req).container_info(
            types.SimpleNamespace(account=account, container=container))
        return info.get('cors') or {}

    def preflight(self, req, account, rest):
        """A browser's ``OPTIONS`` before it opens an object or calls a
        REST endpoint from another origin (:mod:`zerocloud.middleware.
        cors`): ``200`` when the container allows it, else ``401``.  A
        plain ``OPTIONS`` (no ``Origin``) says the methods."""
        if 'Origin' not in req.headers:
            return swob.Response(status=200, headers={
                'Allow': ', '.join(OPEN_METHODS + ('OPTIONS',))})
        headers = preflight_headers(
            self.container_cors(req, account, rest),
            req.headers.get('Origin'),
            req.headers.get('Access-Control-Request-Method'),
            req.headers.get('Access-Control-Request-Headers'), OPEN_METHODS)
        if headers is None:
            return http_error(401, 'this origin may not open objects or '
                              'call endpoints here (the container\'s '
                              'X-Container-Meta-Access-Control-Allow-Origin)')
        return swob.Response(status=200, headers=headers)

    def route(self, req, path_version, account, rest):
        """Check the request is a job we can take, then handle it."""
        version = req.headers.get(EXECUTE_HEADER, '').strip()
        if req.method == 'OPTIONS' and self.is_open(req, path_version):
            return self.preflight(req, account, rest)
        if req.environ.get('swift.authorize_override'):
            # tempurl (or container sync) vouched for one request on one
            # object and left an authorize that grants its whole account
            # or container: a job built on it could read and write there.
            raise http_error(403, 'a job runs with the credentials of its '
                             'caller; a TempURL (or another request signed '
                             'for one object) cannot run one')
        if path_version == OPEN_PREFIX or version == OPEN_VERSION:
            return self.handle_open(req, account, rest)
        if path_version == ENDPOINT_PREFIX or version == ENDPOINT_VERSION:
            return self.handle_api(req, account, rest)
        if version != API_VERSION:
            raise http_error(501, '%s: version %s is not supported (only '
                             '%s, %s to open an object and %s to call a '
                             'REST endpoint)' % (
                                 EXECUTE_HEADER, json.dumps(version),
                                 API_VERSION, OPEN_VERSION,
                                 ENDPOINT_VERSION))
        if req.method != 'POST':
            raise http_error(405, 'jobs are submitted with POST, not %s'
                             % req.method, Allow='POST')
        ctype = (req.headers.get('Content-Type') or '').split(';')[0]
        ctype = ctype.strip().lower()
        if SOURCE_HEADER in req.headers:
            if rest:
                raise http_error(400, 'a job from %s is POSTed to '
                                 '/v1/<account>' % SOURCE_HEADER)
            return self.handle_source(req, account)
        if rest:
            return self.handle_script(req, account, self.script_input(
                account, rest, ctype))
        if ctype == 'application/json':
            return self.handle_job(req, account)
        if ctype in TAR_TYPES:
            return self.handle_archive(req, account)
        if not ctype:
            raise http_error(415, 'a job is sent as Content-Type: '
                             'application/json (a #! script as any other '
                             'type)')
        return self.handle_script(req, account)

    # --- the job, step by step -------------------------------------------

    def handle_job(self, req, account):
        caller = Caller(self.app, req)
        job = self.parse(self.read_body(req), account)
        plan = self.expand(job, caller.list if needs_listing(job) else None)
        return self.start(req, caller, plan)

    @staticmethod
    def script_input(account, rest, ctype):
        """The object a script POSTed to ``/v1/ACCOUNT/CONTAINER/OBJECT``
        reads as its stdin (a :class:`SwiftPath`), or the 400 that says
        what may be POSTed there."""
        container, _sep, obj = swob.wsgi_to_str(rest).partition('/')
        if ctype in ('application/json',) + TAR_TYPES or not ctype \
                or not container or not obj:
            raise http_error(400, 'jobs and application archives are '
                             'POSTed to /v1/<account>; only a #! script may '
                             'be POSTed to an object, which it reads as '
                             'its stdin')
        if '*' in container or '*' in obj:
            raise http_error(400, 'a script cannot read an object whose '
                             'name holds "*" (it would be a wildcard)')
        return SwiftPath(account, container, obj)

    def handle_script(self, req, account, stdin=None):
        """A script POSTed as the body, as ZeroCloud took them (any
        Content-Type but JSON and tar): one node runs the interpreter its
        ``#!`` line names on it (:func:`zerocloud.job.parse_shebang`), and
        its stdout is the answer.  POSTed to an object (``stdin``), the
        node reads that object as its stdin and runs on a server holding
        it; POSTed to the account, on any object server."""
        with self.upload(req, 'script') as body:
            return self._script(req, account, stdin, body)

    def _script(self, req, account, stdin, body):
        caller = Caller(self.app, req)
        body_path = SwiftPath(account, '.zerocloud', 'request-body')
        try:
            interpreter = parse_shebang(body.head(SHEBANG_MAX),
                                        self.conf.limits.system_images,
                                        'the script')
        except JobError as err:
            raise http_error(err.status, str(err)) from None
        if interpreter is None:
            raise http_error(400, 'a script is POSTed with a first line '
                             'naming its interpreter (#!file://IMAGE:PATH, '
                             'or #!/usr/bin/env python3 with the python '
                             'image); a job description as Content-Type: '
                             'application/json')
        devices = [{'name': 'stdout'}, {'name': 'stderr'}]
        if stdin is not None:
            devices.insert(0, {'name': 'stdin', 'path': stdin.url})
        job = self.parse(json.dumps([{
            'name': 'script', 'exec': {'path': body_path.url},
            'devices': devices}]), account)
        plan = self.expand(job, None)
        plan = dataclasses.replace(plan, nodes=(
            script_node(plan.nodes[0], *interpreter),))
        req.environ[REQUEST_BODY_ENV] = (body_path, body)
        return self.start(req, caller, plan)

    def handle_source(self, req, account):
        """``X-Zerovm-Source: swift://ACCOUNT/CONTAINER/OBJECT``, as
        ZeroCloud took a deployed application: the job is that object (an
        application archive, a tar or ``*.zapp``, runs its
        ``boot/system.map`` with itself as image; a program
        (``application/x-nexe``) or a ``#!`` script runs as one node's
        program; any other object is a job description), read as the
        caller; the request's body, of any type, is what its path-less
        ``stdin`` (``input``, ``script``) devices read."""
        source = self.stored_path(req.headers[SOURCE_HEADER], account,
                                  SOURCE_HEADER, 412)
        caller = Caller(self.app, req)
        caller.authorize(source, 'GET')
        ctype = caller.object_info(source).get('type')
        with self.upload(req, 'request body') as body:
            if is_executable(ctype) or (
                    not is_archive(ctype, source.obj) and caller.read(
                        source, 2, 'source', first=2) == b'#!'):
                # A stored program or #! script: it runs as the program
                # of one node whose stdin is the body, as if POSTed to the
                # account.
                text = json.dumps([{
                    'name': 'script', 'exec': {'path': source.url},
                    'devices': [{'name': 'stdin'}, {'name': 'stdout'},
                                {'name': 'stderr'}]}])
            else:
                text, _what = self.stored_job(caller, source, ctype,
                                              body.spool)
            return self.start_with_body(req, caller, account, text, body)

    @staticmethod
    def stored_path(value, account, where, status):
        """The one object ``value`` names (``swift://``, ``~`` for the
        account), or ``status`` saying what is wrong."""
        try:
            path = parse_path(value.strip(), account, where)
        except JobError as err:
            raise http_error(status, str(err)) from None
        if not isinstance(path, SwiftPath) or path.wildcards:
            raise http_error(status, '%s must be swift://account/container/'
                             'object, one object' % where)
        return path

    def stored_job(self, caller, path, content_type, spool):
        """``(job text, its name in errors)`` of a stored application
        archive (its ``boot/system.map``, the archive its image; the
        archive is fetched into ``spool``, not memory) or job description,
        read as the caller."""
        if is_archive(content_type, path.obj):
            got = caller.fetch(path, spool.new_path('app'),
                               self.conf.max_archive_bytes, spool)
            with open(got.path, 'rb') as tar:
                return (archive_job(tar, path.url,
                                    self.conf.limits.max_job_bytes),
                        'boot/system.map of %s' % path.url)
        try:
            text = caller.read(path, self.conf.limits.max_job_bytes,
                               'job description')
        except swob.HTTPException as err:
            if err.status_int != 413 or caller.read(
                    path, 4, 'job description', first=4) != ELF_MAGIC:
                raise
            text = ELF_MAGIC
        if text.startswith(ELF_MAGIC):
            # A program stored without its type (swift upload's
            # application/octet-stream): say so, not "too large" or
            # "not JSON".
            raise http_error(415, '%s is a program stored as %s; store it '
                             'as application/x-nexe to run it as one'
                             % (path.url, content_type or 'no type'))
        return text, 'job description %s' % path.url

    def handle_api(self, req, account, rest):
        """``METHOD /api/ACCOUNT/CONTAINER[/PATH]`` (or ``X-Zerovm-Execute:
        api/1.0``), ZeroCloud's REST services: the application named by
        the container's ``X-Container-Meta-Rest-Endpoint`` (an archive, a
        job description or a program, in Swift) runs with the request's
        CGI variables and its body as path-less ``stdin``.  Authorized as a
        read of the container, then of the application, as the caller."""
        self.check_open_method(req)
        container, _sep, sub = swob.wsgi_to_str(rest or '').partition('/')
        if not container:
            raise http_error(400, '%s /%s/<account>/<container>[/<path>] '
                             '(or %s: %s) calls a container\'s REST '
                             'endpoint; this names no container'
                             % (req.method, ENDPOINT_PREFIX, EXECUTE_HEADER,
                                ENDPOINT_VERSION))
        if '*' in container or '*' in sub:
            raise http_error(400, 'a REST endpoint path cannot hold "*" (it '
                             'would be a wildcard in its job)')
        caller = Caller(self.app, req)
        place = SwiftPath(account, container, sub)
        caller.authorize(place, 'GET')
        where = 'X-Container-Meta-Rest-Endpoint of swift://%s/%s' % (
            account, container)
        value = (caller.container_info(place).get('meta') or {}).get(
            ENDPOINT_META, '').strip()
        if not value:
            raise http_error(404, 'swift://%s/%s has no REST endpoint (its '
                             'X-Container-Meta-Rest-Endpoint names the '
                             'application)' % (account, container))
        endpoint = self.stored_path(value, account, where, 502)
        caller.authorize(endpoint, 'GET')
        ctype = caller.object_info(endpoint).get('type') or ''
        with self.request_body(req) as body:
            text, source = None, None
            try:
                query = parse_query(req.environ.get('QUERY_STRING', ''))
                if not is_executable(ctype):
                    text, source = self.stored_job(caller, endpoint, ctype,
                                                   body.spool)
                job_text = open_job(
                    endpoint if text is None else place, ctype, query, text,
                    '', self.request_environ(req, place, None, body), source)
            except JobError as err:
                raise http_error(err.status, str(err)) from None
            return self.start_with_body(req, caller, account, job_text, body)

    @staticmethod
    def check_open_method(req):
        if req.method not in OPEN_METHODS:
            raise http_error(405, 'objects are opened and REST endpoints '
                             'called with %s, not %s'
                             % (', '.join(OPEN_METHODS), req.method),
                             Allow=', '.join(OPEN_METHODS))

    def request_body(self, req):
        """The :meth:`upload` of a POST or PUT that opens an object or
        calls an endpoint (an empty one for other methods)."""
        return self.upload(req, 'request body',
                           read=req.method in ('POST', 'PUT'))

    @staticmethod
    def request_environ(req, place, info, body):
        """The CGI variables of an opened object's or an endpoint's job."""
        return cgi_environ(
            place, info, swob.wsgi_to_str(req.environ.get('QUERY_STRING', '')),
            swob.wsgi_to_str(req.path_qs), req.method,
            req.headers.get('Content-Type'),
            body.size if req.method in ('POST', 'PUT') else None)

    def handle_open(self, req, account, rest):
        """``GET /open/ACCOUNT/CONTAINER/OBJECT`` (or ``X-Zerovm-Execute:
        open/1.0``): the job that opens the object, from its content type
        (:mod:`zerocloud.middleware.opener`), run as any other."""
        self.check_open_method(req)
        container, _sep, obj = swob.wsgi_to_str(rest or '').partition('/')
        if not container or not obj:
            raise http_error(400, 'GET /%s/<account>/<container>/<object> '
                             '(or %s: %s) opens an object; this names none'
                             % (OPEN_PREFIX, EXECUTE_HEADER, OPEN_VERSION))
        if '*' in container or '*' in obj:
            raise http_error(400, 'an object whose name holds "*" cannot be '
                             'opened (it would be a wildcard)')
        caller = Caller(self.app, req)
        target = SwiftPath(account, container, obj)
        caller.authorize(target, 'GET')
        info = caller.object_info(target)
        ctype = info.get('type') or ''
        with self.request_body(req) as body:
            text, template, source = None, None, None
            try:
                query = parse_query(req.environ.get('QUERY_STRING', ''))
                if is_archive(ctype, obj) and not is_executable(ctype):
                    # Its job is its boot/system.map; the archive itself is
                    # the nodes' image device, fetched as any input.
                    text, source = self.stored_job(caller, target, ctype,
                                                   body.spool)
                elif not is_executable(ctype):
                    template = SwiftPath(account, TEMPLATES_CONTAINER,
                                         template_name(ctype))
                    text = caller.read(
                        template, self.conf.limits.max_job_bytes,
                        'the template for %s objects,'
                        % posixpath.dirname(template.obj))
                job_text = open_job(
                    target, ctype, query, text,
                    template.url if template else '',
                    self.request_environ(req, target, info, body), source)
            except JobError as err:
                raise http_error(err.status, str(err)) from None
            return self.start_with_body(req, caller, account, job_text, body)

    def start_with_body(self, req, caller, account, job_text, body):
        """Parse, expand and start a job whose path-less ``stdin``
        devices read the request's ``body`` (X-Zerovm-Source, open)."""
        body_path = SwiftPath(account, '.zerocloud', 'request-body')
        try:
            job_text = with_request_stdin(job_text, body_path.url)
        except JobError as err:
            raise http_error(err.status, str(err)) from None
        job = self.parse(job_text, account)
        plan = self.expand(job, caller.list if needs_listing(job) else None)
        # The body travels with each node's request, never as the object
        # a node is placed by: the next one is, if there is one.
        plan = dataclasses.replace(plan, nodes=tuple(
            dataclasses.replace(n, attach=attach_object(
                n.channels, lambda p: p != body_path))
            if n.attach == body_path else n for n in plan.nodes))
        req.environ[REQUEST_BODY_ENV] = (body_path, body)
        return self.start(req, caller, plan)

    def handle_archive(self, req, account):
        """A ZeroVM application archive POSTed as the body, as ZeroCloud
        took them: an uncompressed tar whose ``boot/system.map`` is the
        job.  The archive is the ``image`` device of every group that
        names none: its files are the nodes' from ``/`` and its programs
        run as ``file://image:PATH``."""
        with self.upload(req, 'application archive') as body:
            return self._archive(req, account, body)

    def _archive(self, req, account, body):
        caller = Caller(self.app, req)
        body_path = SwiftPath(account, '.zerocloud', 'request-body')
        with body.open() as tar:
            text = archive_job(tar, body_path.url,
                               self.conf.limits.max_job_bytes)
        job = self.parse(text, account)
        plan = self.expand(job, caller.list if needs_listing(job) else None)
        # The archive travels with each node's request, never as the
        # object a node is placed by.
        plan = dataclasses.replace(plan, nodes=tuple(
            dataclasses.replace(n, attach=None) if n.attach == body_path
            else n for n in plan.nodes))
        req.environ[REQUEST_BODY_ENV] = (body_path, body)
        return self.start(req, caller, plan)

    def start(self, req, caller, plan):
        """Authorize, place, then a dry run's plan, or the job run."""
        plan = self.prepare(req, caller, plan)
        if config_true_value(req.headers.get(DRY_RUN_HEADER)):
            return swob.Response(body=json.dumps(plan.to_dict(), indent=1)
                                 + '\n', content_type='application/json')
        deferred = self.deferred_mode(req)
        if config_true_value(req.params.get('heartbeat')):
            if deferred:
                raise http_error(400, 'heartbeat=on and %s are two ways to '
                                 'run a long job: give one' % DEFERRED_HEADER)
            # Refused before the 202, when the account is at its limit
            # already (run() counts the job itself).
            self.check_account(plan.account)
            return self.heartbeat(req, caller, plan)
        if deferred:
            self.check_account(plan.account)
            return self.deferred(req, caller, plan, 0 if deferred == 'always'
                                 else self.conf.deferred_timeout)
        return self.chain(req, caller, plan)

    @staticmethod
    def deferred_mode(req):
        """``always``, ``auto`` or None (``never``, or no header)."""
        mode = req.headers.get(DEFERRED_HEADER, 'never').strip().lower()
        if mode not in ('always', 'auto', 'never'):
            raise http_error(400, '%s must be always, auto or never, not %s'
                             % (DEFERRED_HEADER, json.dumps(mode[:40])))
        return None if mode == 'never' else mode

    def deferred(self, req, caller, plan, timeout):
        """ZeroCloud's deferred job: run it without the client.  Its
        answer (body, and status and headers in ``<name>.headers``, JSON)
        is stored as the caller in ``.zvm-deferred/job-<trans_id>``, whose
        URL the client gets at once (``202``, ``always``) or once
        ``timeout`` seconds passed with the job still running (``auto``; a
        job done sooner is answered as usual).  The client leaving does not
        stop it."""
        trans_id = req.environ.get('swift.trans_id') or uuid.uuid4().hex
        result = SwiftPath(plan.account, DEFERRED_CONTAINER,
                           'job-%s' % trans_id.replace('/', '-'))
        self.result_container(caller, result)
        req.environ[_DETACHED_ENV] = True
        upload = (req.environ.get(REQUEST_BODY_ENV) or (None, None))[1]
        if upload is not None:
            req.environ[_UPLOAD_KEPT_ENV] = True
        done = eventlet.event.Event()
        state = {'detached': False}

        def work():
            try:
                resp = self.chain(req, caller, plan)
            except swob.HTTPException as err:
                resp = err
            except Exception:
                self.logger.exception('deferred job failed')
                resp = http_error(500, 'internal error running the job')
            finally:
                if upload is not None:
                    upload.cleanup()
            if state['detached']:
                self.store_answer(caller, result, resp)
            else:
                done.send(resp)
        eventlet.spawn_n(keeping_txn(self.logger, work))
        resp = done.wait(timeout) if timeout else None
        if resp is not None:
            return resp
        state['detached'] = True
        self.logger.info('deferred job: its answer goes to %s', result.url)
        return swob.Response(
            status=202, body=result.url + '\n', content_type='text/plain',
            headers={'Location': swob.str_to_wsgi(urllib.parse.quote(
                '/v1/%s/%s/%s' % (result.account, result.container,
                                  result.obj))),
                     DEFERRED_RESULT_HEADER: result.url})

    def result_container(self, caller, result):
        """The caller may write ``result``; its container exists (made
        as the caller when missing)."""
        if caller.container_info(result).get('status') == 404:
            status = caller.put_container(result)
            if status // 100 != 2:
                raise http_error(status if 400 <= status < 500 else 503,
                                 'cannot make swift://%s/%s for the '
                                 'deferred answer: %d' % (
                                     result.account, result.container,
                                     status))
        caller.authorize(result, 'PUT')

    def store_answer(self, caller, result, resp):
        """PUT a deferred job's answer, then ``<name>.headers``: the
        answer's status and headers, or, when Swift refused the answer (a
        quota, a container deleted meanwhile), the status of that refusal
        and a message saying so, with ``"answer_stored": false``."""
        expiry = {'X-Delete-After': str(self.conf.deferred_expire_after)} \
            if self.conf.deferred_expire_after else {}
        try:
            headers = {k: v for k, v in resp.headers.items()
                       if k.lower() not in ('content-length', 'etag')}
            original = resp.app_iter if resp.app_iter is not None \
                else [resp.body]
            app_iter, size = original, resp.content_length
            try:
                if size is None:
                    data = b''.join(original)
                    size, app_iter = len(data), [data]
                put = caller.put(result, IterFile(app_iter), size, dict(
                    expiry, **{
                        'Content-Type': resp.headers.get('Content-Type')
                        or 'application/octet-stream',
                        'X-Object-Meta-Zerocloud-Status':
                        str(resp.status_int)}))
            finally:
                # The answer's spool goes with its iterator.
                close = getattr(original, 'close', None)
                if close is not None:
                    close()
            stored = {'status': resp.status, 'headers': headers}
            if not put.is_success:
                code = put.status_int if 400 <= put.status_int < 500 \
                    else 503
                stored = {'status': reason_phrase(code), 'headers': {
                    JOB_STATUS_HEADER: resp.status}, 'answer_stored': False,
                    'message': 'the job ended %s, but its answer could not '
                    'be stored: %s' % (resp.status, put.status)}
            text = json.dumps(stored, indent=1, sort_keys=True).encode() \
                + b'\n'
            put_headers = caller.put(
                SwiftPath(result.account, result.container,
                          result.obj + '.headers'),
                io.BytesIO(text), len(text),
                dict(expiry, **{'Content-Type': 'application/json'}))
            failed = [(what, got) for what, got in (
                ('answer', put), ('headers', put_headers))
                if not got.is_success]
            for what, got in failed:
                self.logger.error('could not store the deferred %s in %s: '
                                  '%s', what, result.url, got.status)
            if failed:
                self.logger.increment('deferred.failed')
        except Exception:
            self.logger.exception('could not store the deferred answer in %s',
                                  result.url)
            self.logger.increment('deferred.failed')

    def prepare(self, req, caller, plan):
        """Check, authorize and place an expanded plan."""
        check_cgi(plan)
        self.authorize(caller, plan, req.environ.get(REQUEST_BODY_ENV))
        plan = self.replicated_attach(caller, plan)
        try:
            return place(plan, self.ring_view(caller))
        except JobError as err:     # more copies than servers to run them
            raise http_error(err.status, str(err)) from None

    @staticmethod
    def replicated_attach(caller, plan):
        """Nodes are placed by objects of replicated storage policies only.
        No object server holds the bytes of an erasure-coded object (each
        has a fragment), so the proxy reads it as the caller, decoded,
        and sends it with the node like any other input; the node runs
        beside its next object that is replicated, or anywhere."""
        kinds = {}

        def replicated(path):
            key = (path.account, path.container)
            if key not in kinds:
                policy = POLICIES.get_by_index(caller.policy_index(path))
                kinds[key] = policy is None \
                    or policy.policy_type == REPL_POLICY
            return kinds[key]
        return dataclasses.replace(plan, nodes=tuple(
            dataclasses.replace(n, listed=False, attach=attach_object(
                n.channels, replicated))
            if n.attach is not None and not replicated(n.attach) else n
            for n in plan.nodes))

    def chain(self, req, caller, plan):
        """Run the job; while its answer is a job to run next (a
        ``message/cgi`` stdout with ``X-Zerovm-Execute``, see
        :meth:`cgi_answer`), run that one as the same caller, at most
        ``max_chain_length`` jobs in all.  Each job of a chain commits its
        own outputs before the next starts (which may read them)."""
        started = time.time()
        count = 1
        while True:
            try:
                resp = self.run(req, caller, plan, self.answer)
            except swob.HTTPException as err:
                if count == 1:
                    raise
                # Refused before its nodes ran (a missing input, busy
                # servers): still this chain's job N.
                resp = self.chain_error(err, count)
                break
            text = req.environ.pop(CHAIN_ENV, None)
            if text is None:
                break
            if count >= self.conf.max_chain_length:
                resp = http_error(508, 'job %d of the chain asks to run '
                                  'another: a chain runs at most %d jobs '
                                  '(max_chain_length); the outputs of the '
                                  'jobs that ran are written' % (
                                      count, self.conf.max_chain_length))
                break
            count += 1
            # The request's body (a script, a stored job's stdin) was the
            # first job's.
            req.environ.pop(REQUEST_BODY_ENV, None)
            # The job before may have written what this one reads (its
            # program, say): forget what Swift's info cache says of objects.
            infocache = req.environ.get('swift.infocache') or {}
            for key in [k for k in infocache if k.startswith('object/')]:
                del infocache[key]
            self.logger.info('job chain: running job %d', count)
            try:
                job = self.parse(text, plan.account)
                plan = self.prepare(req, caller, self.expand(
                    job, caller.list if needs_listing(job) else None))
            except swob.HTTPException as err:
                resp = self.chain_error(err, count)
                break
        if count > 1:
            resp.headers[CHAIN_LENGTH_HEADER] = str(count)
            resp.headers[CHAIN_TIME_HEADER] = '%.3f' % (time.time() - started)
        return resp

    @staticmethod
    def chain_error(err, count):
        """The answer of job ``count`` of a chain that could not run."""
        headers = {k: v for k, v in err.headers.items()
                   if k.lower() == 'retry-after'}
        return http_error(err.status_int, 'job %d of the chain: %s' % (
            count, err.body.decode('utf-8', 'replace').strip()), **headers)

    def run(self, req, caller, plan, answer, control=None):
        """Fetch, dispatch, report, commit; returns what
        ``answer(req, report, spool)`` gives first (it says second whether
        it took the spool over).  ``control`` (a dict), when given, holds
        ``stop`` while the nodes run -- a function that stops them as a
        client hang-up does -- and ``committing`` once they have ended."""
        with self.account_slot(plan.account):
            return self._run(req, caller, plan, answer, control)

    @contextlib.contextmanager
    def account_slot(self, account):
        """Count a job of ``account`` while it runs: beyond
        ``max_jobs_per_account`` at once in this proxy process, ``429``
        with ``Retry-After``."""
        self.check_account(account)
        self.running[account] += 1
        try:
            yield
        finally:
            self.running[account] -= 1
            if not self.running[account]:
                del self.running[account]

    def check_account(self, account):
        limit = self.conf.max_jobs_per_account
        if limit and self.running[account] >= limit:
            raise http_error(
                429, 'account %s has %d jobs running on this proxy, the '
                'most it may (max_jobs_per_account); try again when one '
                'has ended' % (account, self.running[account]),
                **{'Retry-After': str(RETRY_AFTER)})

    def _run(self, req, caller, plan, answer, control=None):
        started = time.time()
        try:
            spool = Spool(self.conf.temp_dir, self.conf.max_job_spool_bytes)
        except SpoolError as err:
            self.logger.error('no spool for a job: %s', err.detail)
            raise http_error(507, 'the proxy has no room for the job: %s'
                             % err) from None
        try:
            gang = self.gang(plan)
        except BaseException as err:
            spool.cleanup()     # (its directory was left behind)
            if not isinstance(err, OSError):
                raise
            self.logger.error('no rendezvous for a job: %s', err)
            raise http_error(503, 'the proxy cannot listen for the job\'s '
                             'rendezvous now: %s' % (err.strerror or err),
                             **{'Retry-After': str(RETRY_AFTER)}) from None
        handed_over = False
        try:
            # The inputs' existence is checked while the programs are
            # fetched: two round trips at once, not one after the other.
            checking = eventlet.spawn(keeping_txn(
                self.logger, self.check_local_inputs), caller, plan)
            try:
                requests = self.node_requests(
                    caller, plan, spool, gang,
                    req.environ.get(REQUEST_BODY_ENV))
            finally:
                checking.wait()
            dispatcher = Dispatcher(
                self.transport, self.conf.dispatch_concurrency, spool,
                self.conf.node_max_output, self.logger,
                req.environ.get('swift.trans_id'), gang)
            watcher = eventlet.spawn(
                keeping_txn(self.logger, self.watch_client), req.environ,
                dispatcher, gang)
            if control is not None:
                control['stop'] = lambda: self.stop_job(dispatcher, gang)
            try:
                outcomes = dispatcher.run(requests)
            except Stopped as stopped:
                # Its sandboxes ran until now: the usage record says so.
                report = build_report(plan, stopped.finished,
                                      self.conf.report_stderr_bytes)
                report.status = 499
                unsent = len(plan.nodes) - len(report.nodes) - stopped.running
                report.nodes.extend([{'ran': True}] * stopped.running
                                    + [{'ran': False}] * max(0, unsent))
                self.account_usage(req, plan, report, started)
                raise ClientGone() from None
            finally:
                watcher.kill()
                if control is not None:
                    control.pop('stop', None)
                    control['committing'] = True
            if gang is not None:
                gang.close()
            unskip_whole_groups(outcomes)
            self.count_nodes(outcomes)
            report = build_report(plan, outcomes,
                                  self.conf.report_stderr_bytes,
                                  gang.failure if gang else None,
                                  self.conf.nexe_header_bytes)
            if report.ok:
                self.commit(caller, outcomes, report)
            self.logger.info('job of %d nodes: %d %s', len(plan.nodes),
                             report.status, report.message)
            self.account_usage(req, plan, report, started)
            result, handed_over = answer(req, report, spool)
            return result
        finally:
            if gang is not None:
                gang.close()
            if not handed_over:
                spool.cleanup()

    def account_usage(self, req, plan, report, started):
        """Log what the job used (one ``usage`` line) and, with
        ``accounting_account``, store it there (:mod:`zerocloud.
        middleware.usage`), without making the client wait."""
        usage = job_usage(plan.account, req.environ.get('swift.trans_id'),
                          report, started, time.time())
        self.logger.info('usage %s', usage_line(usage))
        if self.conf.accounting_account:
            eventlet.spawn_n(keeping_txn(self.logger, self.store_usage),
                             dict(req.environ), usage)

    def store_usage(self, environ, usage):
        """PUT a usage record under ``accounting_account`` (its
        container made when missing), as the proxy itself."""
        from swift.common.wsgi import make_pre_authed_request
        path = record_path(self.conf.accounting_account, usage)
        container = path.rsplit('/', 4)[0]
        try:
            for attempt in (1, 2):
                resp = make_pre_authed_request(
                    environ, 'PUT', urllib.parse.quote(path),
                    body=record_body(usage), swift_source='ZCU',
                    headers={'Content-Type': 'application/json'}
                ).get_response(self.app)
                if resp.status_int != 404 or attempt == 2:
                    break
                made = make_pre_authed_request(
                    environ, 'PUT', urllib.parse.quote(container),
                    swift_source='ZCU').get_response(self.app)
                if not made.is_success:
                    resp = made
                    break
            if not resp.is_success:
                self.logger.error('could not store the usage of %s: %s %s',
                                  usage['trans_id'], path, resp.status)
                self.logger.increment('usage.failed')
        except Exception:
            self.logger.exception('could not store the usage of %s',
                                  usage['trans_id'])
            self.logger.increment('usage.failed')

    def count_nodes(self, outcomes):
        """StatsD: nodes that ran, that did not, and the servers that
        could not run a node (each a move to the next replica holder)."""
        ran = sum(1 for outcome in outcomes if outcome.ran)
        moves = sum(len(outcome.tried) for outcome in outcomes)
        for metric, count in (('nodes.ran', ran),
                              ('nodes.not_run', len(outcomes) - ran),
                              ('nodes.failover', moves)):
            if count:
                self.logger.update_stats(metric, count)

    def watch_client(self, environ, dispatcher, gang):
        """While the nodes run: if the client hangs up, stop them all and
        end the request (nothing is committed).  The request body was read
        already, so the connection turns readable only at its end."""
        sock = getattr(environ.get('eventlet.input'), '_sock', None)
        if sock is None or not hasattr(sock, 'fileno') or \
                environ.get(_DETACHED_ENV):
            return
        try:
            eventlet.hubs.trampoline(sock, read=True)
            if sock.recv(1, socket.MSG_PEEK):
                return      # more bytes, not an end: leave it alone
        except OSError:
            pass
        self.stop_job(dispatcher, gang)

    def stop_job(self, dispatcher, gang):
        """The client went away while the nodes ran: stop them all; the
        dispatch then ends with ClientGone (nothing is committed)."""
        self.logger.info('client went away: stopping the job')
        if gang is not None:
            gang.abort('the client went away')
        dispatcher.stop()

    def heartbeat(self, req, caller, plan):
        """``?heartbeat=on``: answer ``202 Accepted`` at once, send a space
        every ``heartbeat_interval`` seconds while the job runs (so that
        load balancers do not close an idle connection), then the JSON
        report, whose ``status`` is the job's (Swift's SLO and bulk
        middlewares answer long requests the same way)."""
        if any(c.alias == '/dev/stdout' and c.kind == 'response'
               for node in plan.nodes for c in node.channels):
            raise http_error(400, 'with heartbeat=on the answer is the JSON '
                             'report: give stdout a path, or drop heartbeat')
        control = {}
        done = eventlet.event.Event()
        start = time.time()
        # The request's upload (a script, an archive, a stored job's
        # stdin) outlives this call: the job removes it when it ends.
        upload = (req.environ.get(REQUEST_BODY_ENV) or (None, None))[1]
        if upload is not None:
            req.environ[_UPLOAD_KEPT_ENV] = True

        def work():
            try:
                report = self.run(req, caller, plan,
                                  lambda _req, report, _spool: (report,
                                                                False),
                                  control)
                result = (report.status, report.to_json())
            except swob.HTTPException as err:
                result = (err.status_int, _error_report(
                    err.status_int, err.body.decode('utf-8', 'replace')))
            except ClientGone:
                result = (499, None)
            except Exception:
                self.logger.exception('job request failed')
                result = (500, _error_report(
                    500, 'internal error running the job'))
            finally:
                if upload is not None:
                    upload.cleanup()
            self.logger.timing_since('jobs.%d.timing' % result[0], start)
            done.send(result)
        thread = eventlet.spawn(keeping_txn(self.logger, work))

        def body():
            try:
                yield b' '      # the 202 goes out now, not at the first beat
                while done.wait(self.conf.heartbeat_interval) is None:
                    yield b' '
                _status, text = done.wait()
                if text is not None:
                    yield text.encode('utf-8')
            finally:
                if not done.ready():
                    # The client is gone (the server closes the body).
                    stop = control.get('stop')
                    if stop is not None:
                        stop()      # nodes running: as a hang-up does
                    elif not control.get('committing'):
                        thread.kill(ClientGone())
                    # else the commit completes, like a PUT whose client
                    # left; its report is dropped.
                    if upload is not None and thread.dead:
                        upload.cleanup()    # killed before it could
        # eventlet's server holds back body chunks until 4 KiB have built
        # up; a space would reach the client with the report, at the end.
        req.environ['eventlet.minimum_write_chunk_size'] = 0
        return swob.Response(status=202, app_iter=body(),
                             content_type='application/json')

    def gang(self, plan):
        """A listening :class:`Rendezvous` for the nodes joined by pipes,
        or None when there are none."""
        nodes = [n for n in plan.nodes
                 if any(c.kind == 'pipe' for c in n.channels)]
        if not nodes:
            return None
        gang = Rendezvous(nodes, self.conf.rendezvous_bind_ip,
                          self.conf.rendezvous_timeout,
                          self.conf.max_job_wall, self.logger)
        gang.port = gang.listen()
        return gang

    @contextlib.contextmanager
    def upload(self, req, what, read=True):
        """The request's body (at most ``max_archive_bytes``: 413) as an
        :class:`_Upload`, or an empty one when ``read`` is false; removed
        when the block ends, unless a heartbeat job took it over."""
        limit = self.conf.max_archive_bytes
        if read and req.content_length is not None \
                and req.content_length > limit:
            raise http_error(413, '%s is %d bytes, more than the limit of %d'
                             % (what, req.content_length, limit))
        try:
            spool = Spool(self.conf.temp_dir, self.conf.max_job_spool_bytes)
        except SpoolError as err:
            self.logger.error('no spool for a %s: %s', what, err.detail)
            raise http_error(507, 'the proxy has no room for the %s: %s'
                             % (what, err)) from None
        try:
            path = spool.new_path('body')
            with open_spool_file(path, spool) as dst:
                size, md5, sha = copy_bounded(
                    req.environ['wsgi.input'] if read else io.BytesIO(),
                    dst, limit, what)
            upload = _Upload(spool, Fetched(path, size, md5, sha))
        except AnswerError:
            spool.cleanup()
            raise http_error(413, '%s is more than the limit of %d bytes'
                             % (what, limit)) from None
        except TimeoutError:
            spool.cleanup()
            raise _stalled(what) from None
        except SpoolError as err:
            spool.cleanup()
            self.logger.error('no spool for a %s: %s', what, err.detail)
            raise http_error(507, 'the proxy has no room for the %s: %s'
                             % (what, err)) from None
        except BaseException:
            spool.cleanup()
            raise
        try:
            yield upload
        finally:
            if not req.environ.pop(_UPLOAD_KEPT_ENV, False):
                upload.cleanup()

    def read_body(self, req, what='job description', limit=None):
        limit = limit or self.conf.limits.max_job_bytes
        if req.content_length is not None and req.content_length > limit:
            raise http_error(413, '%s is %d bytes, more than the limit of %d'
                             % (what, req.content_length, limit))
        try:
            body = req.environ['wsgi.input'].read(limit + 1)
        except TimeoutError:
            raise _stalled(what) from None
        if len(body) > limit:
            raise http_error(413, '%s is more than the limit of %d bytes'
                             % (what, limit))
        return body

    def parse(self, body, account):
        try:
            return parse_job(body, account, self.conf.limits)
        except JobError as err:
            raise http_error(err.status, str(err)) from None

    def expand(self, job, lister):
        try:
            return expand(job, lister, self.conf.limits)
        except JobError as err:
            raise http_error(err.status, str(err)) from None

    def authorize(self, caller, plan, request_body=None):
        """Every object read (executables included) against its read ACL,
        then every object written against its write ACL, in plan order.
        A POSTed script's or archive's bytes (``request_body``) are the
        caller's.  A job runs in (is counted to, and expands ``~`` to) the
        account it is POSTed to, so unless it reads or writes an object of
        that account, which its ACLs then let the caller do, the caller
        must be allowed to ``POST`` to the account, as its owners are:
        a job touching no object would otherwise run with nothing
        authorized, and anybody could run jobs counted to any account."""
        reads, writes = {}, {}
        for node in plan.nodes:
            if isinstance(node.exec, SwiftPath):
                reads[node.exec] = True
            for chan in node.channels:
                if chan.kind == 'object':
                    (reads if chan.direction == 'r' else writes)[
                        chan.path] = True
        if request_body is not None:
            reads.pop(request_body[0], None)
        if not any(path.account == plan.account
                   for path in list(reads) + list(writes)):
            # Nothing of the account's to authorize (a system image's
            # program, a POSTed script, only other accounts' objects):
            # the account's owner may.
            caller.authorize_account(plan.account)
        for path in reads:
            caller.authorize(path, 'GET')
        for path in writes:
            caller.authorize(path, 'PUT')

    def ring_view(self, caller):
        """The object rings as one RingView: each object is looked up in
        the ring of its container's storage policy."""
        def get_nodes(account, container, obj):
            index = caller.policy_index(SwiftPath(account, container, obj))
            return self.ring_loader(index).get_nodes(account, container, obj)
        default = self.ring_loader(int(POLICIES.default))
        return RingView(get_nodes, devices=lambda: [
            d for d in default.devs if d], replica_count=default.replica_count)

    def check_local_inputs(self, caller, plan):
        """The attach objects nodes read must exist (404 names them).
        Concurrently, bounded like the dispatch: one HEAD after another
        made a 1000-node map wait 1000 round trips before it started.
        Objects a wildcard matched in a listing are not checked again
        (those HEADs were a third of a per-object map's time): one that
        went away since answers 404 from its object servers, and the
        job 404 naming it."""
        paths = []
        for node in plan.nodes:
            reads = [c.path for c in node.channels
                     if c.kind == 'object' and c.direction == 'r']
            if node.attach in reads and node.attach not in paths \
                    and not node.listed:
                paths.append(node.attach)
        pool = eventlet.GreenPool(self.conf.dispatch_concurrency)

        def check(path):
            # Returned, not raised: an exception leaving a pool's green
            # thread is also printed to stderr by eventlet.
            try:
                caller.check_exists(path)
            except swob.HTTPException as err:
                return err
            return None
        for refused in pool.imap(check, paths):
            if refused is not None:
                raise refused

    def node_requests(self, caller, plan, spool, gang=None,
                      request_body=None):
        """Fetch what the nodes need (once per object) and write their
        request bodies; ``request_body`` is ``(path, bytes)`` of a POSTed
        script or archive, which stands for that path."""
        fetched = {}
        # One lock per object: with_program and the reads for objects not
        # stored as their bytes run in the dispatcher's green threads, and
        # one slow large object must not hold up the others' reads.
        locks = collections.defaultdict(eventlet.semaphore.Semaphore)
        if request_body is not None:
            path, upload = request_body
            fetched[path] = upload.fetched

        def fetch(path):
            with locks[path]:
                if path not in fetched:
                    fetched[path] = caller.fetch(
                        path, spool.new_path('in'), self.conf.max_fetch_bytes,
                        spool)
                return fetched[path]
        requests = []
        for node in plan.nodes:
            exe = self.program(caller, node.exec, fetch) \
                if isinstance(node.exec, SwiftPath) else None
            target = node.attach or (node.exec if isinstance(
                node.exec, SwiftPath) else SwiftPath(
                    plan.account, '.zerocloud', node.name))
            script = self.scripts.get((node.exec.url, exe.etag)) \
                if exe else None
            if script:
                try:
                    node, exe = script_node(node, *script), None
                except JobError as err:
                    raise http_error(err.status, str(err)) from None
            rendezvous = gang.spec(
                gang.port, self.conf.rendezvous_ip,
                self.conf.max_pipe_bytes) \
                if gang and gang.in_gang(node.name) else None
            index = caller.policy_index(target)
            node = self._with_partitions(node, target, index)

            def request(node, target=target, index=index, exe=exe,
                        rendezvous=rendezvous):
                spec, members = node_spec(
                    node, plan.account, self.conf.node_limits, exe,
                    rendezvous)
                inputs = [(name, fetch(path).path) for name, path in members]
                # First without the program: object servers keep programs
                # by sha256 and answer 428 when they need it
                # (doc/internals.rst).  Inputs are streamed from their
                # spool files, not copied.
                body = RequestBody(spec, None, inputs) if inputs \
                    else spec_request_tar(spec)     # ~10 KiB, in memory
                with_program = _lazy_body(
                    spec, lambda p=node.exec: fetch(p).path, inputs) \
                    if exe else None
                return NodeRequest(
                    node, '/%s/%s/%s' % (target.account, target.container,
                                         target.obj), index, body,
                    with_program, exe.sha256 if exe else None)
            first = request(node)
            if node.attach is not None and any(
                    c.kind == 'object' and c.direction == 'r'
                    and c.path == node.attach for c in node.channels):
                first.not_local = _once(functools.partial(
                    self._not_local, node, request, fetch))
            requests.append(first)
        return requests

    @staticmethod
    def _not_local(node, request, fetch):
        """The request of ``node`` with its object read through the
        pipeline, as the caller (a large object's segments joined, a
        symlink followed, decrypted), and sent with it: its object
        server holds the object, but not as its bytes.  The node still
        runs there."""
        try:
            fetch(node.attach)
        except swob.HTTPException as err:
            message = err.body.decode('utf-8', 'replace').strip()
            raise InputUnavailable(err.status_int, '%s; read through the '
                                   'proxy for node %s' % (message, json.dumps(
                                       node.name))) from None
        unlocal = request(dataclasses.replace(node, attach=None))
        unlocal.node = node     # the report's node: placed by its object
        return unlocal

    def program(self, caller, path, fetch):
        """The program's etag and sha256, for the spec.  A program this
        proxy has seen (same path, same ETag) costs a HEAD, not a GET of
        its bytes: those are fetched only if an object server asks (428).
        Its read ACL was checked in :meth:`authorize`."""
        etag = caller.etag(path)
        key = (path.url, etag)
        sha256 = self.programs.get(key) if etag else None
        if sha256 is not None:
            self.programs.move_to_end(key)
            return Fetched(None, None, etag, sha256)
        got = fetch(path)
        with open(got.path, 'rb') as f:
            head = f.read(SHEBANG_MAX)
        try:
            # A "#!" script runs its system image's interpreter.
            script = parse_shebang(head, self.conf.limits.system_images,
                                   'exec %s' % path.url)
        except JobError as err:
            raise http_error(err.status, str(err)) from None
        key = (path.url, got.etag)
        self.programs[key] = got.sha256
        if script:
            self.scripts[key] = script
        while len(self.programs) > PROGRAMS_REMEMBERED:
            self.scripts.pop(self.programs.popitem(last=False)[0], None)
        return got

    def _with_partitions(self, node, target, policy_index):
        """Spread nodes' candidates get the partition of ``target``."""
        if all(s.partition is not None for s in node.candidates):
            return node
        part, _devs = self.ring_loader(policy_index).get_nodes(
            target.account, target.container, target.obj)
        return dataclasses.replace(node, candidates=tuple(
            dataclasses.replace(s, partition=part) if s.partition is None
            else s for s in node.candidates))

    def _outputs(self, outcomes):
        """``([(Channel, spool path)], None)`` for every object output, or
        ``(None, (status, message))`` when one is missing, or it or a
        path-less output (the answer's part) is smaller than its
        ``min_size``."""
        found = []
        for outcome in outcomes:
            if outcome.skipped:     # its object went: nothing to write
                continue
            name = json.dumps(outcome.node.name)
            for index, chan in enumerate(outcome.node.channels):
                if chan.kind == 'response' and chan.min_size:
                    path = outcome.outputs.get(index)
                    size = os.path.getsize(path) if path else 0
                    if size < chan.min_size:
                        return None, (424, 'node %s: its %s (%d bytes) is '
                                      'smaller than its min_size %d' % (
                                          name, chan.alias, size,
                                          chan.min_size))
                if chan.kind != 'object' or chan.direction != 'w':
                    continue
                path = outcome.outputs.get(index)
                if path is None:
                    return None, (500, 'node %s sent no data for %s'
                                  % (name, chan.path.url))
                if os.path.getsize(path) < chan.min_size:
                    return None, (424, 'node %s: %s is smaller than its '
                                  'min_size %d' % (name, chan.path.url,
                                                   chan.min_size))
                found.append((chan, path))
        return found, None

    def commit(self, caller, outcomes, report):
        """PUT every output object as the caller (all nodes succeeded)."""
        outputs, problem = self._outputs(outcomes)
        if problem:
            report.fail(*problem)
            return
        if not outputs:
            return
        try:
            outputs = [(chan, path) + self.output_head(chan, path)
                       for chan, path in outputs]
        except CGIError as err:
            report.fail(502, str(err))
            return
        start = time.time()
        try:
            self._commit(caller, outputs, report)
        finally:
            self.logger.timing_since('commit.timing', start)

    @staticmethod
    def output_head(chan, path):
        """``(headers, offset)`` of an output object: its declared
        ``content_type`` and ``meta``, or, for one declared ``message/cgi``
        (``message/http``), those its own header block sets over them and
        where its body begins (:mod:`zerocloud.middleware.cgiheader`).

        :raises CGIError: naming the object, when the block is not one.
        """
        headers = {'Content-Type': chan.content_type
                   or 'application/octet-stream'}
        for key, value in chan.meta:
            headers['X-Object-Meta-' + key] = value
        if not is_cgi(chan.content_type):
            return headers, 0
        with open(path, 'rb') as src:
            head = src.read(HEAD_LIMIT + 4)
        try:
            _status, found, _dropped, skip = parse_head(
                head, nph=chan.content_type.split(';')[0].strip().lower()
                == NPH_TYPE, allowed=OBJECT_ALLOWED,
                prefixes=OBJECT_PREFIXES)
        except CGIError as err:
            raise CGIError('%s is declared %s but does not begin with a '
                           'header block: %s' % (chan.path.url,
                                                 chan.content_type, err))
        headers.update(found)
        return headers, skip

    def _commit(self, caller, outputs, report):
        try:
            journal = Journal(self.temp_dir, [chan.path
                                              for chan, *_ in outputs])
        except OSError as err:
            report.fail(507, 'no room on the proxy for the commit journal '
                        'of the outputs (%s): nothing was written'
                        % (err.strerror or err))
            self.logger.error('commit: %s', report.message)
            return
        try:
            self._commit_journaled(caller, outputs, report, journal.id)
        finally:
            journal.close()

    def _commit_journaled(self, caller, outputs, report, commit_id):
        # Concurrently, bounded like the dispatch: one PUT at a time made a
        # 200-output job spend most of its time here.
        pool = eventlet.GreenPool(self.conf.dispatch_concurrency)
        results = list(pool.imap(keeping_txn(
            self.logger, lambda item: self._put_output(
                caller, *item, commit_id=commit_id)), outputs))
        failed = [(chan, resp) for (chan, *_), resp in zip(outputs, results)
                  if not resp.is_success]
        if failed:
            chan, resp = failed[0]
            code = resp.status_int if 400 <= resp.status_int < 500 else 503
            reason = getattr(resp, 'zerocloud_reason', '')
            report.fail(code, 'could not write %s: %s%s' % (
                chan.path.url, resp.status,
                ' (%s)' % reason if reason else ''))
            self.logger.error('commit failed: %s', report.message)
            left = self.roll_back(caller, [(c.path, r) for (c, *_), r
                                           in zip(outputs, results)
                                           if r.is_success])
            if left:
                report.fail(code, '%s; %s' % (report.message,
                                              '; '.join(left)))
            report.outputs[:] = []
            self.logger.increment('commit.failed')
            return
        report.outputs.extend(chan.path.url for chan, *_ in outputs)
        self.logger.update_stats('outputs.written', len(outputs))

    @staticmethod
    def _put_output(caller, chan, path, headers, offset, commit_id):
        return caller.put(chan.path, path, os.path.getsize(path) - offset,
                          dict(headers, **{COMMIT_HEADER: commit_id}),
                          offset)

    def recover_commits(self):
        """Roll back the commits that stopped proxies left half-done
        (:mod:`zerocloud.middleware.journal`); tried again a minute later
        when Swift would not let one be undone now."""
        failed = []

        def undo(commit_id, outputs):
            done = self.undo_commit(commit_id, outputs)
            if not done:
                failed.append(commit_id)
            return done
        try:
            recover(self.temp_dir, undo)
        except Exception:
            self.logger.exception('rolling back the commits of stopped '
                                  'proxies')
            failed.append(None)
        finally:
            self._recover_at = time.monotonic() + RECOVER_RETRY \
                if failed else float('inf')
            self._recovering = False

    def undo_commit(self, commit_id, outputs):
        """Delete the outputs ``[(account, container, object)]`` that
        still carry ``commit_id`` (one written since by anybody else is
        left), as :meth:`roll_back` would have; True when all is done."""
        caller = Caller(self.app, swob.Request.blank('/'))   # no auth
        deleted, done = [], True
        for account, container, obj in outputs:
            path = SwiftPath(account, container, obj)
            status, headers = caller.head(path)
            if status != 404 and not 200 <= status < 300:
                done = False
                continue
            current = status != 404 and \
                headers.get(COMMIT_HEADER) == commit_id
            version = headers.get('X-Object-Version-Id') \
                if current else None
            # With object versioning, a PUT cut short may have stored its
            # version without making it current: those go first, or the
            # restore below could make one of them current.
            ours = [v for v in caller.versions(path) if v != version
                    and caller.head(path, v)[1].get(COMMIT_HEADER)
                    == commit_id]
            if current:
                ours.append(version if version != 'null' else None)
            for each in ours:
                status = self._delete_persistently(caller, path, each)
                if status >= 300 and status != 404:
                    self.logger.error('roll-back of a stopped proxy\'s '
                                      'commit: could not delete %s (%s)',
                                      path.url, reason_phrase(status))
                    done = False
                    break
            else:
                if current and version not in (None, 'null'):
                    caller.restore_version(path)
                if ours:
                    deleted.append(path.url)
        self.logger.warning(
            'rolled back the commit of a stopped proxy: %d of its %d '
            'outputs were written, now deleted%s', len(deleted),
            len(outputs), ': ' + ', '.join(deleted[:5]) + (
                ', ...' if len(deleted) > 5 else '') if deleted else '')
        return done

    def roll_back(self, caller, written):
        """A commit failed half-way: delete what it wrote (``[(path,
        its PUT's response)]``), so that no partial set of outputs stays
        visible.  Swift has no transactions: an object that a written
        output replaced cannot be restored -- but for versions.  In a
        container with object versioning, the version the job wrote is
        deleted and the one it replaced made current again; with
        ``X-Versions-Location`` Swift's delete does the same.  Returns
        what it could not undo, for the job's message."""
        left = []
        for path, resp in written:
            version = resp.headers.get('X-Object-Version-Id')
            if version == 'null':
                version = None
            status = self._delete_persistently(caller, path, version)
            if status >= 300 and status != 404:
                left.append('the written output %s could not be deleted '
                            'again (%s)' % (path.url, reason_phrase(status)))
                self.logger.error('roll-back: %s', left[-1])
                continue
            if version:
                status = caller.restore_version(path)
                if status is not None and status >= 300:
                    # E.g. a caller who may write the container, not read
                    # (list) its versions.
                    left.append('the version of %s that the job replaced '
                                'could not be made current again (%s): it '
                                'is kept among its versions' % (
                                    path.url, reason_phrase(status)))
                    self.logger.error('roll-back: %s', left[-1])
        return left

    @staticmethod
    def _delete_persistently(caller, path, version):
        """DELETE for a roll-back, tried again while Swift answers
        "later" (498: the rate limit that may just have refused the
        commit; 503): a partial set of outputs must not stay for want of
        patience.  At most :data:`ROLL_BACK_PATIENCE` seconds."""
        delay, waited = 0.1, 0.0
        while True:
            status = caller.delete(path, version)
            if status not in (498, 503) or waited >= ROLL_BACK_PATIENCE:
                return status
            eventlet.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def answer(self, req, report, spool):
        """``(response, True when the response now owns the spool)``."""
        accept = req.headers.get('Accept') or ''
        if report.ok and report.stdout is not None \
                and 'application/json' not in accept:
            if is_cgi(report.stdout_type):
                return self.cgi_answer(report, spool, req)
            resp = swob.Response(status=200, headers=report.headers,
                                 content_type=report.stdout_type)
            resp.app_iter = _SpoolIter(report.stdout, spool)
            resp.content_length = sum(os.path.getsize(p)
                                      for p in report.stdout)
            return resp, True
        headers = dict(report.headers)
        if report.status == 503:
            # Busy or missing servers: the same job may well run later.
            headers['Retry-After'] = str(RETRY_AFTER)
        return swob.Response(status=reason_phrase(report.status),
                             headers=headers, body=report.to_json(),
                             content_type='application/json'), False

    def chained_job(self, req, report, headers, version, skip):
        """A CGI answer asking to run its body (a job chain): keep the
        job description for :meth:`chain`, or 502 saying why it cannot
        be one."""
        ctype = dict((n.lower(), v) for n, v in headers).get(
            'content-type', '')
        problem = None
        if version.strip() != API_VERSION:
            problem = 'asks for version %r of X-Zerovm-Execute (only %s)' % (
                version[:40], API_VERSION)
        elif ctype.split(';')[0].strip().lower() != 'application/json':
            problem = 'holds %s, not application/json' % ctype[:80]
        size = sum(os.path.getsize(p) for p in report.stdout) - skip
        limit = self.conf.limits.max_job_bytes
        if problem is None and size > limit:
            problem = 'is %d bytes, more than max_job_bytes (%d)' % (
                size, limit)
        if problem:
            return http_error(502, 'the job\'s answer is a job to run next '
                              '(X-Zerovm-Execute) but %s' % problem,
                              **report.headers), False
        parts, left = [], size + skip
        for path in report.stdout:
            with open(path, 'rb') as src:
                parts.append(src.read(left))
            left -= len(parts[-1])
        req.environ[CHAIN_ENV] = b''.join(parts)[skip:]
        return swob.Response(status=200), False

    def cgi_answer(self, report, spool, req=None):
        """The answer a ``message/cgi`` stdout writes itself
        (:mod:`zerocloud.middleware.cgiheader`), or 502 saying why it
        cannot be one."""
        paths = report.stdout
        head = b''
        if paths:
            with open(paths[0], 'rb') as src:
                head = src.read(HEAD_LIMIT + 4)
        try:
            (code, reason), headers, dropped, skip = parse_head(
                head, nph=report.stdout_type.split(';')[0].strip().lower()
                == NPH_TYPE)
        except CGIError as err:
            self.logger.warning('bad message/cgi stdout: %s', err)
            return http_error(502, 'the job\'s %s stdout is not a CGI '
                              'answer: %s' % (report.stdout_type, err),
                              **report.headers), False
        execute = [v for n, v in headers if n.lower() == CHAIN_HEADER.lower()]
        headers = [(n, v) for n, v in headers
                   if n.lower() != CHAIN_HEADER.lower()]
        if execute and req is not None:
            return self.chained_job(req, report, headers, execute[0], skip)
        if dropped:
            self.logger.info('message/cgi headers dropped: %s',
                             ', '.join(dropped))
        resp = swob.Response(
            status='%d %s' % (code, reason) if reason else
            reason_phrase(code), headers=report.headers)
        for name, value in headers:
            resp.headers[name] = value
        size = sum(os.path.getsize(p) for p in paths) - skip
        if code in BODILESS_STATUSES:
            # HTTP ends these answers at their headers: bytes after them
            # would be read as the next answer on a kept-alive connection.
            if size:
                self.logger.info('message/cgi %d answer: %d bytes of body '
                                 'dropped', code, size)
            resp.body = b''
            return resp, False
        resp.app_iter = _SpoolIter(paths, spool, skip)
        resp.content_length = size
        return resp, True


#: Statuses whose answers have no body (RFC 9110 6.4.1); a message/cgi
#: program's body is dropped for them.
BODILESS_STATUSES = (204, 304)


def check_cgi(plan):
    """400 unless a ``message/cgi`` stdout is the plan's only path-less
    ``stdout`` (one node answers for the job)."""
    declared = [c for n in plan.nodes for c in n.channels
                if c.alias == '/dev/stdout' and c.kind == 'response']
    if any(is_cgi(c.content_type) for c in declared) and len(declared) > 1:
        raise http_error(400, 'a message/cgi stdout must be the job\'s only '
                         'path-less stdout (%d nodes declare one): one node '
                         'writes the answer' % len(declared))


def _error_report(status, message):
    """The JSON report of a job that ended before its nodes ran."""
    return json.dumps({'status': status, 'ok': False,
                       'message': message.strip(), 'outputs': [],
                       'nodes': []}, indent=1, sort_keys=True) + '\n'


def unskip_whole_groups(outcomes):
    """A wildcard's nodes whose objects went since the listing were
    skipped; when that is all of a group's nodes, the job fails as if
    none had matched: those nodes are ``404``, their objects missing."""
    groups = {}
    for outcome in outcomes:
        groups.setdefault(outcome.node.group, []).append(outcome)
    for members in groups.values():
        if all(o.skipped for o in members):
            for outcome in members:
                outcome.skipped, outcome.status = None, 404


def _once(make):
    """``make`` called at most once, whichever greenthreads ask (a
    replicated node's copies); an exception is raised to each caller."""
    lock = eventlet.semaphore.Semaphore()
    made = []

    def call():
        with lock:
            if not made:
                try:
                    made.append((make(), None))
                except InputUnavailable as err:
                    made.append((None, err))
            result, err = made[0]
        if err is not None:
            raise err
        return result
    return call


def _lazy_body(spec, program, inputs):
    """A maker of the request body with the program (``program()`` gives
    its spool file, fetching it the first time), made once."""
    made = []

    def make():
        if not made:
            made.append(RequestBody(spec, program(), inputs))
        return made[0]
    return make


def filter_factory(global_conf, **local_conf):
    """paste.deploy entry point: parse the config once, register the
    public limits in ``/info``, return the filter maker."""
    conf = dict(global_conf, **local_conf)
    config = ProxyConfig.from_conf(conf)
    logger = get_logger(conf, log_route='zerocloud-proxy',
                        statsd_tail_prefix=STATSD_PREFIX)
    limits = config.limits
    register_swift_info('zerocloud', version=API_VERSION,
                        max_job_bytes=limits.max_job_bytes,
                        max_nodes=limits.max_nodes,
                        max_channels=limits.max_channels,
                        system_images=list(limits.system_images),
                        max_pipe_bytes=config.max_pipe_bytes,
                        max_job_wall=config.max_job_wall,
                        max_chain_length=config.max_chain_length,
                        deferred_timeout=config.deferred_timeout,
                        open_version=OPEN_VERSION)

    def zerocloud_proxy(app, **seams):
        """``seams`` (``transport``, ``ring_loader``) are for tests."""
        return ProxyFilter(app, config, logger=logger, **seams)
    return zerocloud_proxy


#: Members of an application archive looked through for its job.
ARCHIVE_SCAN_MEMBERS = 10000


#: The members of an application archive that may hold its job, the one
#: used first.
JOB_MEMBERS = ('boot/cluster.map', 'boot/system.map')


def archive_job(tar_file, image_url, max_bytes):
    """The job of an application archive: its ``boot/system.map`` (or
    ZeroCloud's ``boot/cluster.map``, which wins when both are there), each
    group without an ``image`` device given one at ``image_url`` (the
    archive itself), as is an ``image`` device without a path.  Returns
    JSON text for :func:`parse_job`.

    :raises HTTPException: 400 for an archive without a readable
        ``boot/system.map``, 413 for one larger than ``max_bytes``, 422
        when it is not JSON.
    """
    # Read as the object servers read it as an image: in one pass, not
    # with Python 3.11.7's tarfile (quadratic on some PAX headers).
    try:
        found = {}
        for number, member in enumerate(tar_members(tar_file)):
            if number >= ARCHIVE_SCAN_MEMBERS or len(found) == 2:
                break
            name = posixpath.normpath(member.name).lstrip('/')
            if name in JOB_MEMBERS and name not in found:
                found[name] = member
    except TarError as err:
        raise http_error(400, 'the application archive is not an '
                         'uncompressed tar: %s' % err) from None
    # ZeroCloud's boot/cluster.map, when there is one, comes first.
    name = next((n for n in JOB_MEMBERS if n in found), None)
    if name is None:
        raise http_error(400, 'the application archive has no '
                         'boot/system.map (the job description)')
    member = found[name]
    if not member.isreg():
        raise http_error(400, '%s of the archive is not a file' % name)
    if member.size > max_bytes:
        raise http_error(413, '%s is %d bytes, more than the limit of %d'
                         % (name, member.size, max_bytes))
    tar_file.seek(member.offset_data)
    text = tar_file.read(member.size)
    try:
        data = load_json(text, name)
    except JobError as err:
        raise http_error(err.status, str(err)) from None
    for group in data if isinstance(data, list) else ():
        if not isinstance(group, dict):
            continue
        key = 'file_list' if 'file_list' in group else 'devices'
        devices = group.setdefault(key, [])
        if not isinstance(devices, list):
            continue
        images = [d for d in devices if isinstance(d, dict) and 'image' in (
            d.get('name'), d.get('device'))]
        if not images:
            devices.append({'name': 'image', 'path': image_url})
        for device in images:
            # ZeroCloud's {"name": "image"} without a path: the archive.
            device.setdefault('path', image_url)
    return json.dumps(data)
