# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Typed configuration objects; every ``DEFAULT_*`` of zerocloud lives here.

A filter (or the CLI) reads its options once, from the plain ``conf`` dict
that paste.deploy hands to ``filter_factory`` (all values are strings there),
into a small frozen dataclass. The dataclasses validate their values and raise
:class:`zerocloud.exceptions.ConfigError` naming the option, so a bad
configuration stops the server at start-up instead of failing requests.

Job limits (proxy filter, ``[filter:zerocloud_proxy]``)::

    # Largest accepted job description, in bytes (413 above it).
    # max_job_bytes = 65536
    # Most nodes one job may expand to, after wildcards and counts.
    # max_nodes = 1000
    # Most channels (devices plus pipes) one job may wire; a fully
    # connected group of N nodes has N * (N - 1) pipes.
    # max_channels = 100000
    # Names of the read-only system images a job may use as devices and in
    # ``file://IMAGE:PATH`` executable paths (space or comma separated);
    # every object server must have them (NAME.tar in its
    # system_images_dir; build them with ``zerocloud image lua|python``),
    # or a job naming one fails (500, its node refused with 501).  Empty:
    # none.
    # system_images = lua python

Proxy filter (``[filter:zerocloud_proxy]``, :class:`ProxyConfig`; it also
reads the job limits above)::

    # Most backend execution requests in flight at once for one job.
    # dispatch_concurrency = 16
    # Seconds to connect to an object server.
    # conn_timeout = 0.5
    # Seconds to wait for an object server's answer (the node's run
    # included) and between reads of it; more than node_wall plus
    # rendezvous_timeout plus 10 (checked), and plus the object servers'
    # queue_timeout (not checked here).
    # node_timeout = 120
    # Limits given to every node's sandbox: guest memory in bytes (at
    # least 9437184), CPU seconds, wall-clock seconds and bytes written
    # over all outputs.
    # node_memory = 268435456
    # node_cpu = 10
    # node_wall = 60
    # node_max_output = 1073741824
    # Largest executable or input object the proxy fetches for a node.
    # max_fetch_bytes = 1073741824
    # Bytes of each node's stderr kept in the JSON report.
    # report_stderr_bytes = 4096
    # Most bytes of the answer's X-Nexe-* headers together (4096 at least).
    # They describe the first nodes that fit, and X-Zerocloud-Nodes-Omitted
    # says how many more the JSON report has: proxies in front of Swift
    # refuse larger headers (HAProxy keeps about 15 KB by default).
    # nexe_header_bytes = 12288
    # Seconds between the spaces a job sent with ?heartbeat=on is answered
    # with while it runs (202 at once, the JSON report at the end), so that
    # load balancers do not close the idle connection of a long job.
    # heartbeat_interval = 10
    # Jobs one account may run at once in each proxy server process (429
    # with Retry-After beyond); 0: no limit.
    # max_jobs_per_account = 0
    # Most jobs of a chain: a job whose message/cgi answer carries
    # X-Zerovm-Execute runs its body as the next job (508 beyond).
    # max_chain_length = 16
    # Account where every job's usage record is stored (JSON, container
    # <account>, object YYYY/MM/DD/<time>-<trans_id>.json), as ZeroCloud's
    # accounting did; empty: only the proxy log's "usage" lines.
    # accounting_account =
    # Seconds a job sent with X-Zerovm-Deferred: auto may run before its
    # client is answered 202 with where its answer will be stored.
    # deferred_timeout = 10
    # Seconds a deferred job's stored answer is kept (X-Delete-After; the
    # object expirer removes it); 0: until its owner deletes it.
    # deferred_expire_after = 0
    # Most bytes one job may keep in temp_dir: the objects it fetched and
    # its nodes' outputs until they are written (507 beyond); 0: no bound
    # but the disk's.
    # max_job_spool_bytes = 0
    # Largest ZeroVM application archive (a tar with boot/system.map) or
    # #! script POSTed as a job; held in memory while the job runs.
    # max_archive_bytes = 16777216
    # Where the proxy spools fetched objects and node outputs, and keeps
    # its commit journals (empty: the system's temporary directory).
    # temp_dir =
    # Jobs whose nodes are joined by pipes (connect, zvm://): most bytes one
    # pipe may carry, and most wall-clock seconds the job may run (it also
    # caps node_wall for every node of every job).
    # max_pipe_bytes = 1073741824
    # max_job_wall = 600
    # Seconds for every connected node of a job to reach the job's
    # rendezvous (each object server reads its request and takes a sandbox
    # slot); then the job is refused as a whole with 503.
    # rendezvous_timeout = 20
    # Address the per-job rendezvous listens on (an ephemeral port), and the
    # address object servers are told to reach it at (empty: the address
    # the proxy's request came from, as each object server sees it).
    # rendezvous_bind_ip = 0.0.0.0
    # rendezvous_ip =

Object filter (``[filter:zerocloud_object]``): see
:class:`ObjectFilterConfig` and the manual in
:mod:`zerocloud.middleware.object`.

Each section below holds one concern: its documented defaults, then its
dataclass with a ``from_conf(conf)`` classmethod.
"""
import dataclasses
import ipaddress
import os
import re

from zerocloud.exceptions import ConfigError

__all__ = ['DEFAULT_MAX_JOB_BYTES', 'DEFAULT_MAX_NODES',
           'DEFAULT_MAX_CHANNELS', 'DEFAULT_SYSTEM_IMAGES',
           'RESERVED_DEVICE_NAMES', 'JobLimits', 'positive_int', 'name_list',
           'positive_float', 'DEFAULT_DISPATCH_CONCURRENCY',
           'DEFAULT_CONN_TIMEOUT', 'DEFAULT_NODE_TIMEOUT',
           'DEFAULT_NODE_MEMORY', 'DEFAULT_NODE_CPU', 'DEFAULT_NODE_WALL',
           'DEFAULT_NODE_MAX_OUTPUT', 'DEFAULT_MAX_FETCH_BYTES',
           'DEFAULT_REPORT_STDERR_BYTES', 'DEFAULT_TEMP_DIR', 'ProxyConfig',
           'DEFAULT_MAX_RUNNING', 'DEFAULT_MAX_QUEUED',
           'DEFAULT_QUEUE_TIMEOUT', 'DEFAULT_RETRY_AFTER',
           'DEFAULT_MAX_SPEC_BYTES', 'DEFAULT_MAX_EXEC_BYTES',
           'DEFAULT_MAX_INPUT_BYTES', 'DEFAULT_MAX_MEMORY', 'DEFAULT_MAX_CPU',
           'DEFAULT_MAX_TIMEOUT', 'DEFAULT_MAX_OUTPUT_BYTES',
           'DEFAULT_EXEC_CACHE_ENTRIES', 'DEFAULT_PIPE_SETUP_TIMEOUT',
           'DEFAULT_MAX_CONNECTED',
           'ObjectFilterConfig', 'DEFAULT_MAX_PIPE_BYTES',
           'DEFAULT_MAX_JOB_WALL', 'DEFAULT_RENDEZVOUS_TIMEOUT',
           'DEFAULT_RENDEZVOUS_BIND_IP']

# --- helpers shared by every section --------------------------------------

_NAME_RE = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*')


#: Upper bounds of options whose absurd values would break something
#: later (threads started per sandbox slot, numbers the sandbox's manifest
#: cannot hold): a week of CPU or wall time, a TiB of memory.
MAX_SECONDS = 7 * 24 * 3600
MAX_MEMORY_BYTES = 1 << 40
MAX_SLOTS = 1024


def _int_option(conf, key, default, minimum, maximum):
    value = conf.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    kind = 'a positive integer' if minimum == 1 \
        else 'an integer >= %d' % minimum
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = int(str(value).strip(), 10)
    except ValueError:
        raise ConfigError('%s must be %s, not %r' % (key, kind, value)) \
            from None
    if number < minimum:
        raise ConfigError('%s must be %s, not %r' % (key, kind, value))
    if maximum is not None and number > maximum:
        raise ConfigError('%s must be at most %d, not %r'
                          % (key, maximum, value))
    return number


def positive_int(conf, key, default, maximum=None):
    """Return ``conf[key]`` as an int >= 1 (and at most ``maximum``), or
    ``default`` when absent.

    :raises ConfigError: naming the option when the value is not a positive
        integer, or is above ``maximum``.
    """
    return _int_option(conf, key, default, 1, maximum)


def non_negative_int(conf, key, default, maximum=None):
    """Return ``conf[key]`` as an int >= 0 (0 meaning none, or no limit),
    or ``default`` when absent.

    :raises ConfigError: naming the option on anything else.
    """
    return _int_option(conf, key, default, 0, maximum)


def ip_address(conf, key, default):
    """Return ``conf[key]``, an IPv4 or IPv6 address, or ``default`` when
    absent or empty.

    :raises ConfigError: naming the option when it is not an address.
    """
    value = (conf.get(key) or '').strip()
    if not value:
        return default
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError('%s must be an IP address, not %r'
                          % (key, value)) from None
    return value


def directory(conf, key, default, writable=False):
    """Return ``conf[key]``, an existing directory (that this process may
    write in, with ``writable``), or ``default`` when absent or empty.

    :raises ConfigError: naming the option.
    """
    value = (conf.get(key) or '').strip()
    if not value:
        return default
    if not os.path.isdir(value):
        raise ConfigError('%s must be an existing directory, not %r'
                          % (key, value))
    if writable and not os.access(value, os.W_OK | os.X_OK):
        raise ConfigError('%s: %r is not writable by this process'
                          % (key, value))
    return value


def name_list(conf, key, default):
    """Return ``conf[key]`` split on commas and whitespace as a tuple.

    A value already given as a list or tuple is taken as is. Each name must
    look like ``[A-Za-z0-9_][A-Za-z0-9_.-]*``.

    :raises ConfigError: naming the option and the bad name.
    """
    value = conf.get(key)
    if value is None:
        return tuple(default)
    if isinstance(value, str):
        names = [n for n in re.split(r'[\s,]+', value) if n]
    elif isinstance(value, (list, tuple)):
        names = list(value)
    else:
        raise ConfigError('%s must be a list of names, not %r'
                          % (key, value))
    for name in names:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ConfigError('%s: bad name %r' % (key, name))
    return tuple(dict.fromkeys(names))


def _account_name(conf, key):
    """An account name option (empty: none); no ``/``, whitespace or
    control characters."""
    value = (conf.get(key) or '').strip()
    if re.search(r'[/\s\x00-\x1f\x7f]', value):
        raise ConfigError('%s must be an account name, without "/", '
                          'spaces or control characters: %r' % (key, value))
    return value


def positive_float(conf, key, default, minimum=None, maximum=None):
    """Return ``conf[key]`` as a float > 0 (at least ``minimum``, at most
    ``maximum`` when given), or ``default`` when absent.

    :raises ConfigError: naming the option.
    """
    value = conf.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError('%s must be a positive number, not %r'
                          % (key, value)) from None
    if not number > 0 or number == float('inf'):
        raise ConfigError('%s must be a positive number, not %r'
                          % (key, value))
    if minimum is not None and number < minimum:
        raise ConfigError('%s must be at least %g, not %r'
                          % (key, minimum, value))
    if maximum is not None and number > maximum:
        raise ConfigError('%s must be at most %g, not %r'
                          % (key, maximum, value))
    return number


# --- job limits (zerocloud.job, zerocloud.middleware.planner) -------------

#: Largest accepted job description in bytes; a bigger body gets 413.
DEFAULT_MAX_JOB_BYTES = 64 * 1024
#: Most nodes a job may have once wildcards and counts are expanded.
DEFAULT_MAX_NODES = 1000
#: Most channels (devices and pipes, counted per node) a job may wire.
DEFAULT_MAX_CHANNELS = 100000
#: Read-only system images jobs may name as devices and in ``file://``
#: (``zerocloud image lua`` and ``zerocloud image python`` build them).
DEFAULT_SYSTEM_IMAGES = ('lua', 'python')

#: Device names with a fixed meaning (``in`` and ``out`` are the guest's
#: pipe directories); a system image may not reuse one.
RESERVED_DEVICE_NAMES = frozenset(
    ['stdin', 'stdout', 'stderr', 'input', 'output', 'image', 'in', 'out',
     'script'])


@dataclasses.dataclass(frozen=True)
class JobLimits:
    """What a job description may ask for.

    Used by :func:`zerocloud.job.parse_job` and the planner. Build it with
    :meth:`from_conf` from a filter's conf, or directly in tests.
    """

    max_job_bytes: int = DEFAULT_MAX_JOB_BYTES
    max_nodes: int = DEFAULT_MAX_NODES
    max_channels: int = DEFAULT_MAX_CHANNELS
    system_images: tuple = DEFAULT_SYSTEM_IMAGES

    def __post_init__(self):
        for field in ('max_job_bytes', 'max_nodes', 'max_channels'):
            value = getattr(self, field)
            if (not isinstance(value, int) or isinstance(value, bool)
                    or value < 1):
                raise ConfigError('%s must be a positive integer, not %r'
                                  % (field, value))
        images = self.system_images
        if isinstance(images, str) or not isinstance(images, (tuple, list)):
            raise ConfigError('system_images must be a tuple of names, not %r'
                              % (images,))
        for name in images:
            if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
                raise ConfigError('system_images: bad name %r' % (name,))
            if name in RESERVED_DEVICE_NAMES:
                raise ConfigError('system_images: %r is a standard device '
                                  'name' % name)
        object.__setattr__(self, 'system_images', tuple(images))

    @classmethod
    def from_conf(cls, conf):
        """Read the limits from a paste.deploy style ``conf`` dict.

        :raises ConfigError: on a bad value, naming the option.
        """
        conf = conf or {}
        return cls(
            max_job_bytes=positive_int(conf, 'max_job_bytes',
                                       DEFAULT_MAX_JOB_BYTES),
            max_nodes=positive_int(conf, 'max_nodes', DEFAULT_MAX_NODES),
            max_channels=positive_int(conf, 'max_channels',
                                      DEFAULT_MAX_CHANNELS),
            system_images=name_list(conf, 'system_images',
                                    DEFAULT_SYSTEM_IMAGES))


# --- the proxy filter (zerocloud.middleware.proxy) ------------------------

#: Backend execution requests one job keeps in flight at once.
DEFAULT_DISPATCH_CONCURRENCY = 16
#: Seconds to connect to an object server.
DEFAULT_CONN_TIMEOUT = 0.5
#: Seconds to wait for an object server's answer, and between its reads.
DEFAULT_NODE_TIMEOUT = 120.0
#: The least guest memory the sandbox runs a program with, bytes
#: (:data:`zerocloud.sandbox.manifest.MIN_MEMORY`).
MIN_NODE_MEMORY = 9 * 1024 * 1024

#: Guest memory of a node, bytes.
DEFAULT_NODE_MEMORY = 256 * 1024 * 1024
#: CPU seconds of a node.
DEFAULT_NODE_CPU = 10
#: Wall-clock seconds of a node.
DEFAULT_NODE_WALL = 60
#: Bytes a node may write over all its outputs (also what the proxy spools
#: of one node's answer).
DEFAULT_NODE_MAX_OUTPUT = 1024 * 1024 * 1024
#: Largest executable or input object the proxy fetches for a node.
DEFAULT_MAX_FETCH_BYTES = 1024 * 1024 * 1024
#: Bytes of each node's stderr kept in the JSON report.
DEFAULT_REPORT_STDERR_BYTES = 4096
#: X-Nexe-* headers of a job's answer, in bytes together; one node's
#: values need up to ~2 KB, hence the minimum.
DEFAULT_NEXE_HEADER_BYTES = 12288
MIN_NEXE_HEADER_BYTES = 4096
DEFAULT_HEARTBEAT_INTERVAL = 10.0
#: Below this, ``heartbeat_interval`` would have the proxy do little but
#: send spaces.
MIN_HEARTBEAT_INTERVAL = 0.01
#: Most jobs one request may run through job chaining (a job's answer
#: naming the next job).
DEFAULT_MAX_CHAIN_LENGTH = 16
#: Seconds before a deferred (auto) job's client gets its 202.
DEFAULT_DEFERRED_TIMEOUT = 10.0
#: Largest application archive or script POSTed as a job (held in memory).
DEFAULT_MAX_ARCHIVE_BYTES = 16 * 1024 * 1024
#: Seconds node_timeout must leave beyond a node's longest run and
#: rendezvous (the launcher's grace, the answer, pipe set-up).
NODE_TIMEOUT_MARGIN = 10
#: Spool directory of the proxy; None: the system's temporary directory.
DEFAULT_TEMP_DIR = None
#: Most bytes one pipe between two nodes may carry.
DEFAULT_MAX_PIPE_BYTES = 1024 * 1024 * 1024
#: Most wall-clock seconds the connected nodes of a job may run together.
DEFAULT_MAX_JOB_WALL = 600
#: Seconds for every connected node of a job to reach the rendezvous (read
#: its request, take a slot); then the whole job is refused with 503.
DEFAULT_RENDEZVOUS_TIMEOUT = 20.0
#: Address the per-job rendezvous listens on.
DEFAULT_RENDEZVOUS_BIND_IP = '0.0.0.0'


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """Everything the proxy filter reads from its conf, parsed once.

    ``limits`` are the :class:`JobLimits`; ``swift_dir`` comes from the
    filter's conf or ``[DEFAULT]`` (Swift's own option, default
    ``/etc/swift``).
    """

    limits: JobLimits = JobLimits()
    swift_dir: str = '/etc/swift'
    dispatch_concurrency: int = DEFAULT_DISPATCH_CONCURRENCY
    conn_timeout: float = DEFAULT_CONN_TIMEOUT
    node_timeout: float = DEFAULT_NODE_TIMEOUT
    node_memory: int = DEFAULT_NODE_MEMORY
    node_cpu: int = DEFAULT_NODE_CPU
    node_wall: int = DEFAULT_NODE_WALL
    node_max_output: int = DEFAULT_NODE_MAX_OUTPUT
    max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES
    report_stderr_bytes: int = DEFAULT_REPORT_STDERR_BYTES
    nexe_header_bytes: int = DEFAULT_NEXE_HEADER_BYTES
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    max_jobs_per_account: int = 0
    max_chain_length: int = DEFAULT_MAX_CHAIN_LENGTH
    accounting_account: str = ''
    deferred_timeout: float = DEFAULT_DEFERRED_TIMEOUT
    deferred_expire_after: int = 0
    max_job_spool_bytes: int = 0
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    temp_dir: str = DEFAULT_TEMP_DIR
    max_pipe_bytes: int = DEFAULT_MAX_PIPE_BYTES
    max_job_wall: int = DEFAULT_MAX_JOB_WALL
    rendezvous_timeout: float = DEFAULT_RENDEZVOUS_TIMEOUT
    rendezvous_bind_ip: str = DEFAULT_RENDEZVOUS_BIND_IP
    rendezvous_ip: str = ''

    @classmethod
    def from_conf(cls, conf):
        """Read the proxy filter's options from a paste.deploy ``conf``.

        :raises ConfigError: on a bad value, naming the option.
        """
        conf = conf or {}
        temp_dir = directory(conf, 'temp_dir', DEFAULT_TEMP_DIR,
                             writable=True)
        node_timeout = positive_float(conf, 'node_timeout',
                                      DEFAULT_NODE_TIMEOUT)
        rendezvous_timeout = positive_float(
            conf, 'rendezvous_timeout', DEFAULT_RENDEZVOUS_TIMEOUT)
        longest = min(positive_int(conf, 'node_wall', DEFAULT_NODE_WALL,
                                   MAX_SECONDS),
                      positive_int(conf, 'max_job_wall',
                                   DEFAULT_MAX_JOB_WALL, MAX_SECONDS)) \
            + rendezvous_timeout + NODE_TIMEOUT_MARGIN
        if node_timeout <= longest:
            # Else a long node's answer would look lost: it would be run
            # again on the next server, and the job end in 503.
            raise ConfigError(
                'node_timeout (%gs) must be more than a node may take: '
                'node_wall plus rendezvous_timeout plus %ds (%gs); raise '
                'node_timeout or lower node_wall'
                % (node_timeout, NODE_TIMEOUT_MARGIN, longest))
        header_bytes = positive_int(conf, 'nexe_header_bytes',
                                    DEFAULT_NEXE_HEADER_BYTES)
        if header_bytes < MIN_NEXE_HEADER_BYTES:
            raise ConfigError('nexe_header_bytes must be at least %d, not %d'
                              % (MIN_NEXE_HEADER_BYTES, header_bytes))
        return cls(
            limits=JobLimits.from_conf(conf),
            swift_dir=(conf.get('swift_dir') or '').strip() or '/etc/swift',
            dispatch_concurrency=positive_int(
                conf, 'dispatch_concurrency', DEFAULT_DISPATCH_CONCURRENCY,
                MAX_SLOTS),
            conn_timeout=positive_float(conf, 'conn_timeout',
                                        DEFAULT_CONN_TIMEOUT),
            node_timeout=node_timeout,
            node_memory=_int_option(conf, 'node_memory',
                                    DEFAULT_NODE_MEMORY, MIN_NODE_MEMORY,
                                    MAX_MEMORY_BYTES),
            node_cpu=positive_int(conf, 'node_cpu', DEFAULT_NODE_CPU,
                                  MAX_SECONDS),
            node_wall=positive_int(conf, 'node_wall', DEFAULT_NODE_WALL,
                                   MAX_SECONDS),
            node_max_output=positive_int(conf, 'node_max_output',
                                         DEFAULT_NODE_MAX_OUTPUT),
            max_fetch_bytes=positive_int(conf, 'max_fetch_bytes',
                                         DEFAULT_MAX_FETCH_BYTES),
            report_stderr_bytes=positive_int(
                conf, 'report_stderr_bytes', DEFAULT_REPORT_STDERR_BYTES),
            nexe_header_bytes=header_bytes,
            heartbeat_interval=positive_float(
                conf, 'heartbeat_interval', DEFAULT_HEARTBEAT_INTERVAL,
                minimum=MIN_HEARTBEAT_INTERVAL),
            max_jobs_per_account=non_negative_int(
                conf, 'max_jobs_per_account', 0),
            max_chain_length=positive_int(conf, 'max_chain_length',
                                          DEFAULT_MAX_CHAIN_LENGTH),
            accounting_account=_account_name(conf, 'accounting_account'),
            deferred_timeout=positive_float(conf, 'deferred_timeout',
                                            DEFAULT_DEFERRED_TIMEOUT),
            deferred_expire_after=non_negative_int(
                conf, 'deferred_expire_after', 0),
            max_job_spool_bytes=non_negative_int(
                conf, 'max_job_spool_bytes', 0),
            max_archive_bytes=positive_int(conf, 'max_archive_bytes',
                                           DEFAULT_MAX_ARCHIVE_BYTES),
            temp_dir=temp_dir,
            max_pipe_bytes=positive_int(conf, 'max_pipe_bytes',
                                        DEFAULT_MAX_PIPE_BYTES),
            max_job_wall=positive_int(conf, 'max_job_wall',
                                      DEFAULT_MAX_JOB_WALL, MAX_SECONDS),
            rendezvous_timeout=rendezvous_timeout,
            rendezvous_bind_ip=ip_address(conf, 'rendezvous_bind_ip',
                                          DEFAULT_RENDEZVOUS_BIND_IP),
            rendezvous_ip=ip_address(conf, 'rendezvous_ip', ''))

    @property
    def node_limits(self):
        """The ``limits`` object of a node spec (doc/internals.rst)."""
        return {'memory': self.node_memory, 'cpu': self.node_cpu,
                'timeout': min(self.node_wall, self.max_job_wall),
                'max_output': self.node_max_output}


# --- object filter (zerocloud.middleware.object) --------------------------

#: Sandboxes running at once on one object server (one per CPU is sane).
DEFAULT_MAX_RUNNING = 4
#: Admitted requests waiting for a free sandbox; beyond running + queued
#: the filter answers 503 with Retry-After at once.
DEFAULT_MAX_QUEUED = 16
#: Seconds an admitted request waits for a sandbox before answering 503.
DEFAULT_QUEUE_TIMEOUT = 30
#: Value of the Retry-After header of a 503, in seconds.
DEFAULT_RETRY_AFTER = 1
#: Largest ``spec.json`` member, in bytes (kept in memory).
DEFAULT_MAX_SPEC_BYTES = 1024 * 1024
#: Largest ``exec`` member (the program), in bytes.
DEFAULT_MAX_EXEC_BYTES = 64 * 1024 * 1024
#: Most bytes of all ``in/<n>`` members of one request together.
DEFAULT_MAX_INPUT_BYTES = 5 * 1024 * 1024 * 1024
#: Most memory (guest address space) a node may ask for, in bytes.
DEFAULT_MAX_MEMORY = 1024 * 1024 * 1024
#: Most CPU seconds a node may ask for (also its limit when it asks none).
DEFAULT_MAX_CPU = 60
#: Most wall-clock seconds a node may ask for (also the default limit).
DEFAULT_MAX_TIMEOUT = 120
#: Most bytes a node may write over all its output channels (also the
#: default); outputs wait in temp files on the object's device.
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024 * 1024
#: Programs kept per device, by sha256, so that a proxy need not send a
#: program the server already has (doc/internals.rst).
DEFAULT_EXEC_CACHE_ENTRIES = 64
#: Sandboxes of nodes joined by pipes (whose gangs must run all at once)
#: one object server runs at once, apart from ``max_running``.
DEFAULT_MAX_CONNECTED = 64
#: Seconds a connected node waits, after the rendezvous said go, for all
#: of its pipes to be connected.
DEFAULT_PIPE_SETUP_TIMEOUT = 10
#: CPU time slice each sandbox asks the kernel's scheduler for, in ms (0:
#: the kernel's default, 1.4 ms on a 2-CPU host); at most
#: :data:`MAX_TIME_SLICE_MS`.
DEFAULT_TIME_SLICE_MS = 20
#: The kernel clamps a requested slice to 100 ms.
MAX_TIME_SLICE_MS = 100


@dataclasses.dataclass(frozen=True)
class ObjectFilterConfig:
    """Options of the object filter, read once by its ``filter_factory``.

    A node's own limits (``spec.json``) are lowered to ``max_memory``,
    ``max_cpu``, ``max_timeout`` and ``max_output_bytes``; a node that asks
    for none gets these maxima (memory: the sandbox's default, at most
    ``max_memory``).
    """

    max_running: int = DEFAULT_MAX_RUNNING
    max_queued: int = DEFAULT_MAX_QUEUED
    queue_timeout: int = DEFAULT_QUEUE_TIMEOUT
    retry_after: int = DEFAULT_RETRY_AFTER
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    max_exec_bytes: int = DEFAULT_MAX_EXEC_BYTES
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    max_memory: int = DEFAULT_MAX_MEMORY
    max_cpu: int = DEFAULT_MAX_CPU
    max_timeout: int = DEFAULT_MAX_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    exec_cache_entries: int = DEFAULT_EXEC_CACHE_ENTRIES
    max_connected: int = DEFAULT_MAX_CONNECTED
    pipe_setup_timeout: int = DEFAULT_PIPE_SETUP_TIMEOUT
    pipe_bind_ip: str = ''
    time_slice_ms: int = DEFAULT_TIME_SLICE_MS
    #: Where the system images live: ``NAME.tar`` for each image a job may
    #: name (``file://NAME:PATH``); empty: none.
    system_images_dir: str = ''

    #: The options that may be 0.
    _MAY_BE_ZERO = ('max_queued', 'max_connected', 'time_slice_ms')
    #: Upper bounds (each running or connected sandbox holds a thread).
    _MAXIMA = {'max_running': MAX_SLOTS, 'max_connected': MAX_SLOTS,
               'max_memory': MAX_MEMORY_BYTES, 'max_cpu': MAX_SECONDS,
               'max_timeout': MAX_SECONDS, 'queue_timeout': MAX_SECONDS,
               'pipe_setup_timeout': MAX_SECONDS,
               'time_slice_ms': MAX_TIME_SLICE_MS}

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type is str:
                continue
            low = 0 if field.name in self._MAY_BE_ZERO else \
                MIN_NODE_MEMORY if field.name == 'max_memory' else 1
            if (not isinstance(value, int) or isinstance(value, bool)
                    or value < low):
                raise ConfigError('%s must be an integer >= %d, not %r'
                                  % (field.name, low, value))
            high = self._MAXIMA.get(field.name)
            if high is not None and value > high:
                raise ConfigError('%s must be at most %d%s, not %d' % (
                    field.name, high, ' (the kernel clamps it)'
                    if field.name == 'time_slice_ms' else '', value))

    @classmethod
    def from_conf(cls, conf):
        """Read the options from a paste.deploy style ``conf`` dict.

        ``max_queued``, ``max_connected`` and ``time_slice_ms`` may be 0;
        every other number is a positive integer.

        :raises ConfigError: on a bad value, naming the option.
        """
        conf = conf or {}
        values = {}
        for field in dataclasses.fields(cls):
            if field.type is str:
                continue
            read = non_negative_int if field.name in cls._MAY_BE_ZERO \
                else positive_int
            values[field.name] = read(conf, field.name, field.default)
        values['pipe_bind_ip'] = ip_address(conf, 'pipe_bind_ip', '')
        values['system_images_dir'] = directory(conf, 'system_images_dir',
                                                '')
        return cls(**values)
