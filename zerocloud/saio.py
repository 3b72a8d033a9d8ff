# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""An embedded Swift all-in-one (SAIO) on 127.0.0.1.

A real Swift cluster built from the installed ``swift`` package, for the
functional tests, the demo and ``zerocloud saio``::

    from zerocloud.saio import Cluster

    with Cluster() as cluster:          # free ports, temporary run dir
        print(cluster.auth_url)         # http://127.0.0.1:PORT/auth/v1.0
        cluster.stop_object_server(0)   # a replica goes away ...
        cluster.start_object_server(0)  # ... and comes back, data intact

Layout:

* a proxy server, an account server, a container server and
  ``object_servers`` (default 3) object servers, all on 127.0.0.1;
* the object ring has 64 partitions and 2 replicas over one device per
  object server, each in its own zone; the account and container rings
  have one replica.  Rings are built with a fixed seed (:data:`RING_SEED`),
  so placement is the same from run to run;
* with three object servers or more, a second storage policy,
  :data:`EC_POLICY`, erasure-coded (two data and one parity fragment,
  ring ``object-1.ring.gz``);
* tempauth with the users of the sample proxy configuration (the usual
  SAIO users ``test:tester``/``testing``, ``test2:tester2``/``testing2``,
  both ``.admin``, and ``test:tester3``/``testing3``, not admin).

This module starts and hosts the servers; what they run from (server
configurations rendered from the operator samples, rings, ``swift.conf``
and the in-memory cache that stands in for memcached) is built by
:mod:`zerocloud.saioconf`, whose public names are importable from here too
(:func:`render_config`, :func:`build_ring`, :class:`MemoryCache`,
:func:`cache_filter_factory`, ...).  The generated proxy configuration
names ``zerocloud.saio:cache_filter_factory``.

Hosting: each server runs on its own eventlet hub in a child process
started with ``python -c`` (``swift.common.wsgi.loadapp`` plus
``eventlet.wsgi.server``).  The proxy, account and container servers share
one child ("core"); every object server has its own, so that one can be
stopped (or killed) and started again.  The parent binds the listening
sockets and hands them over, so ports are known before any child starts and
an object server comes back on its old port.  A child exits when it gets
SIGTERM/SIGINT or when its stdin (a pipe from the parent) reaches EOF, so
children never outlive the process that started them.

The run directory holds ``etc/`` (``swift.conf``, rings and builders,
server configs; it is the ``swift_dir``), ``srv/<server>/<device>`` (the
devices) and ``log/<child>.log`` (everything the child logs, Swift's
syslog output included).
"""
import argparse
import dataclasses
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from zerocloud.saioconf import (
    EC_SERVERS, OBJECT_OVERRIDES, OBJECT_REPLICAS, PROXY_OVERRIDES,
    PROXY_REPLACED_SECTIONS, SAMPLE_DIR, ClusterError, _backend_config,
    _fill, _write_config, _write_swift_conf, build_ring, render_config,
    resolve_own_eggs)
# Re-exported: these were always importable from zerocloud.saio, and the
# generated proxy configuration names zerocloud.saio:cache_filter_factory.
from zerocloud.saioconf import (  # noqa: F401
    EC_DATA_FRAGMENTS, EC_PARITY_FRAGMENTS, EC_POLICY, EC_TYPE,
    HASH_PATH_PREFIX, HASH_PATH_SUFFIX, OWN_EGG, PART_POWER, RING_SEED,
    MemoryCache, cache_filter_factory, own_entry_points)

__all__ = ['Cluster', 'ObjectServer', 'ClusterError', 'MemoryCache',
           'cache_filter_factory', 'render_config', 'build_ring',
           'RING_SEED', 'PART_POWER', 'PROXY_OVERRIDES', 'OBJECT_OVERRIDES',
           'OWN_EGG', 'own_entry_points', 'resolve_own_eggs', 'EC_POLICY',
           'EC_TYPE', 'EC_DATA_FRAGMENTS', 'EC_PARITY_FRAGMENTS']

LOG = logging.getLogger(__name__)

#: Seconds to wait for every server to load and serve.
START_TIMEOUT = 60.0
#: Seconds a child gets to exit after its stdin is closed.
STOP_TIMEOUT = 10.0

_IP = '127.0.0.1'
_MAX_OBJECT_SERVERS = 8


@dataclasses.dataclass(frozen=True)
class ObjectServer:
    """Where one object server listens and keeps its single device."""
    name: str       #: ``object-server-1`` ...
    ip: str
    port: int
    device: str     #: the device name in the object ring (``sdb`` ...)
    devices: str    #: the server's devices directory (``devices`` option)


# --- child processes ------------------------------------------------------

def _listen(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((_IP, port))
        sock.listen(1024)
    except OSError as e:
        sock.close()
        raise ClusterError('cannot listen on %s:%d: %s' % (_IP, port, e))
    return sock


class _Child:
    """One child process hosting one or more servers."""

    _CODE = ('import sys; from zerocloud.saio import _host_main; '
             'sys.exit(_host_main(sys.argv[1:]))')

    def __init__(self, name, servers, swift_dir, log_path):
        self.name = name
        self.servers = servers      # [(server name, config path)]
        self.swift_dir = swift_dir
        self.log_path = log_path
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def died(self):
        """Started, not stopped by us, and gone."""
        return self.proc is not None and self.proc.poll() is not None

    def spawn(self, sockets):
        """Start the child, handing it one listening socket per server."""
        cmd = [sys.executable, '-c', self._CODE, '--swift-dir',
               self.swift_dir]
        for (server, conf), sock in zip(self.servers, sockets):
            cmd += ['--server', server, conf, str(sock.fileno())]
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (root, env.get('PYTHONPATH')) if p)
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, pass_fds=[s.fileno() for s in sockets],
                start_new_session=True, env=env)
        LOG.debug('started %s (pid %d)', self.name, self.proc.pid)

    def wait_ready(self, deadline):
        """Wait for the child's ``ready`` line; raise ClusterError if not."""
        out = self.proc.stdout
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0 or not select.select([out], [], [], timeout)[0]:
                reason = 'not serving in time'
                break
            line = out.readline()
            if line.strip() == b'ready':
                return
            if not line:
                try:
                    reason = 'exited with status %s' % self.proc.wait(
                        STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    reason = 'closed its stdout'
                break
            LOG.info('%s: %s', self.name, line.decode(errors='replace'))
        raise ClusterError('%s %s; last lines of %s:\n%s'
                           % (self.name, reason, self.log_path,
                              self._log_tail()))

    def _log_tail(self, lines=20):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return '(no log)'

    def stop(self, kill=False):
        """End the child: EOF on its stdin (or SIGKILL), then reap it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        proc.stdin.close()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            LOG.warning('%s did not exit in %.0f s; killing it',
                        self.name, STOP_TIMEOUT)
            proc.kill()
            proc.wait()
        proc.stdout.close()
        LOG.debug('stopped %s (status %s)', self.name, proc.returncode)


def _route_swift_logs(stream):
    """Send every syslog handler's records to ``stream`` instead."""
    from logging.handlers import SysLogHandler

    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        lg for lg in list(manager.loggerDict.values())
        if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in list(lg.handlers):
            if isinstance(handler, SysLogHandler):
                lg.removeHandler(handler)
                handler.close()
                replacement = logging.StreamHandler(stream)
                replacement.setFormatter(handler.formatter)
                lg.addHandler(replacement)


def _host_main(argv):
    """Body of a child: serve the given servers until told to stop.

    Writes ``ready`` on stdout once every server accepts requests, then
    waits for SIGTERM, SIGINT or EOF on stdin and exits 0.
    """
    parser = argparse.ArgumentParser(prog='zerocloud-saio-child')
    parser.add_argument('--swift-dir', required=True)
    parser.add_argument('--server', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'FD'))
    args = parser.parse_args(argv)

    from swift.common import utils
    utils.monkey_patch()    # first, before anything opens a socket
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format='%(asctime)s %(name)s: %(message)s')
    import eventlet
    import eventlet.wsgi
    from swift.common import constraints, storage_policy, wsgi
    from swift.common.http_protocol import SwiftHttpProtocol

    # The stock servers read /etc/swift/swift.conf; point Swift at ours.
    utils.set_swift_dir(args.swift_dir)
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()

    servers = []
    for name, conf_path, fd in args.server:
        app = wsgi.loadapp(conf_path)
        conf = wsgi.load_app_config(conf_path)
        # socket is green now: the inherited fd joins this process's hub.
        sock = socket.socket(fileno=int(fd))
        servers.append((name, app, conf, sock))
    _route_swift_logs(sys.stderr)
    # As Swift's run_server: a green thread's exception is printed only
    # with eventlet_debug (the exception still reaches whoever waits).
    import eventlet.debug
    eventlet.debug.hub_exceptions(any(
        utils.config_true_value(conf.get('eventlet_debug', 'no'))
        for _name, _app, conf, _sock in servers))

    for name, app, conf, sock in servers:
        eventlet.spawn(
            eventlet.wsgi.server, sock, app, utils.NullLogger(),
            custom_pool=wsgi.RestrictedGreenPool(
                size=int(conf.get('max_clients', 1024))),
            protocol=SwiftHttpProtocol,
            socket_timeout=float(conf.get('client_timeout') or 60),
            capitalize_response_headers=False,
            url_length_limit=constraints.MAX_REQUEST_LINE)
        LOG.info('%s serving on %s:%d', name, *sock.getsockname())

    import signal
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)     # the wakeup fd does it

    os.write(sys.stdout.fileno(), b'ready\n')
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # stdout is ours
    # eventlet's select never reports fd 0, hence the dup.
    select.select([os.dup(sys.stdin.fileno()), wake_r], [], [])
    LOG.info('stopping %s', ', '.join(s[0] for s in servers))
    for _name, _app, _conf, sock in servers:
        sock.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)     # leave the other green threads where they are


# --- the cluster ----------------------------------------------------------

class Cluster:
    """A Swift all-in-one on 127.0.0.1, run in child processes.

    :param run_dir: where configs, rings, devices and logs go; created if
        missing and kept.  ``None`` makes a temporary directory that
        :meth:`stop` removes.
    :param port: the proxy's port; 0 picks a free one.  The other servers
        always get free ports.
    :param object_servers: how many object servers (1 to 8), one device
        each; the object ring has ``min(2, object_servers)`` replicas.
    :param sample_dir: directory holding ``proxy-server.conf-sample`` and
        ``object-server.conf-sample``; defaults to the checkout's ``etc/``.
    :param start_timeout: seconds :meth:`start` waits for the servers.
    :param system_images_dir: the object servers' ``system_images_dir``
        (``NAME.tar`` per system image, e.g. ``zerocloud image python``'s);
        the proxy's ``system_images`` (on ``/info``) are the names found
        there, none without it.

    Usable as a context manager (``start`` on entry, ``stop`` on exit).
    Object servers are addressed by index, 0 to ``object_servers - 1``.
    """

    def __init__(self, run_dir=None, port=0, object_servers=3,
                 sample_dir=None, start_timeout=START_TIMEOUT,
                 system_images_dir=None):
        if not 1 <= object_servers <= _MAX_OBJECT_SERVERS:
            raise ValueError('object_servers must be 1 to %d'
                             % _MAX_OBJECT_SERVERS)
        self._run_dir = os.path.abspath(run_dir) if run_dir else None
        self._own_run_dir = run_dir is None
        self._port = port
        self._n_objects = object_servers
        self._sample_dir = sample_dir or SAMPLE_DIR
        self._start_timeout = start_timeout
        if system_images_dir and not os.path.isdir(system_images_dir):
            raise ClusterError('system images: %s is not a directory'
                               % system_images_dir)
        self._system_images_dir = system_images_dir
        self._sockets = {}      # server name -> listening socket not handed
        self._ports = {}        # server name -> port
        self._core = None
        self._objects = []      # one _Child per object server
        self._object_info = []
        self._prepared = False

    # -- where things are

    @property
    def run_dir(self):
        return self._run_dir

    @property
    def swift_dir(self):
        return os.path.join(self._run_dir, 'etc')

    @property
    def log_dir(self):
        return os.path.join(self._run_dir, 'log')

    @property
    def object_ring_path(self):
        return os.path.join(self.swift_dir, 'object.ring.gz')

    @property
    def proxy_url(self):
        return 'http://%s:%d' % (_IP, self._ports['proxy-server'])

    @property
    def auth_url(self):
        return self.proxy_url + '/auth/v1.0'

    @property
    def object_servers(self):
        """List of :class:`ObjectServer`, in ring device id order."""
        return list(self._object_info)

    # -- life cycle

    def prepare(self):
        """Reserve the ports and write the run directory; do not start.

        :meth:`start` calls this; call it alone to inspect the generated
        configuration (then :meth:`stop` to release the ports).
        """
        if self._prepared:
            return
        if self._run_dir is None:
            self._run_dir = tempfile.mkdtemp(prefix='zerocloud-saio-')
        try:
            self._reserve_ports()
            self._write_run_dir()
        except BaseException:
            self.stop()
            raise
        self._prepared = True

    def start(self):
        """Prepare if needed, start every server and wait until they serve."""
        if self._core is not None and self._core.proc is not None:
            return      # started (prepare() alone made the children)
        started = time.monotonic()
        self.prepare()
        try:
            children = [self._core] + self._objects
            for child in children:
                self._spawn(child)
            deadline = time.monotonic() + self._start_timeout
            for child in children:
                child.wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        LOG.info('cluster in %s serving at %s after %.2f s', self._run_dir,
                 self.auth_url, time.monotonic() - started)

    def stop(self):
        """Stop every child, release every port, remove a temporary dir."""
        for child in [self._core] + self._objects:
            if child is not None:
                child.stop()
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        if self._own_run_dir and self._run_dir:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        self._ports.clear()
        self._core = None
        self._objects = []
        self._prepared = False

    def stop_object_server(self, index, kill=False):
        """Stop object server ``index``; ``kill`` sends SIGKILL (a crash)."""
        self._object_child(index).stop(kill=kill)

    def start_object_server(self, index):
        """Start object server ``index`` again, on its port, its data kept."""
        child = self._object_child(index)
        if child.running:
            return
        child.stop()    # reap a child that died on its own
        self._spawn(child)
        child.wait_ready(time.monotonic() + self._start_timeout)

    def stop_core(self, kill=False):
        """Stop the process hosting the proxy, account and container
        servers; ``kill`` sends SIGKILL (a crash, e.g. mid-job)."""
        if self._core is None or self._core.proc is None:
            raise ClusterError('the cluster is not running')
        self._core.stop(kill=kill)

    def start_core(self):
        """Start the proxy, account and container servers again, on
        their ports, their data kept."""
        if self._core is None:
            raise ClusterError('the cluster is not running')
        if self._core.running:
            return
        self._core.stop()   # reap a child that died on its own
        self._spawn(self._core)
        self._core.wait_ready(time.monotonic() + self._start_timeout)

    def dead_servers(self):
        """Names of the children that exited without being stopped."""
        return [c.name for c in [self._core] + self._objects
                if c is not None and c.died]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # -- helpers

    def _object_child(self, index):
        if self._core is None or self._core.proc is None:
            raise ClusterError('the cluster is not running')
        return self._objects[index]

    def _names(self):
        return (['proxy-server', 'account-server', 'container-server']
                + ['object-server-%d' % (i + 1)
                   for i in range(self._n_objects)])

    def _reserve_ports(self):
        for name in self._names():
            port = self._port if name == 'proxy-server' else 0
            sock = _listen(port)
            self._sockets[name] = sock
            self._ports[name] = sock.getsockname()[1]

    def _spawn(self, child):
        sockets = []
        try:
            for name, _conf in child.servers:
                sock = self._sockets.pop(name, None)
                sockets.append(sock or _listen(self._ports[name]))
            child.spawn(sockets)
        finally:
            for sock in sockets:
                sock.close()    # the child has its own copy now

    def _write_run_dir(self):
        etc, log = self.swift_dir, self.log_dir
        for path in (etc, log):
            os.makedirs(path, exist_ok=True)
        _write_swift_conf(os.path.join(etc, 'swift.conf'),
                          erasure_coded=self._n_objects >= EC_SERVERS)
        ports = self._ports

        sample = os.path.join(self._sample_dir, 'proxy-server.conf-sample')
        proxy = render_config(
            sample, _fill(PROXY_OVERRIDES, ip=_IP, port=ports['proxy-server'],
                          swift_dir=etc),
            PROXY_REPLACED_SECTIONS)
        resolve_own_eggs(proxy)
        # The images jobs may name are those the object servers have.
        proxy['filter:zerocloud_proxy']['system_images'] = ' '.join(
            self.system_images())
        _write_config(proxy, os.path.join(etc, 'proxy-server.conf'), sample)

        core_servers = [('proxy-server',
                         os.path.join(etc, 'proxy-server.conf'))]
        for kind in ('account', 'container'):
            name = '%s-server' % kind
            devices = self._device_dir(name, 'sda')
            build_ring(os.path.join(etc, '%s.ring.gz' % kind), 1,
                       [(_IP, ports[name], 'sda')])
            conf_path = os.path.join(etc, '%s.conf' % name)
            _write_config(_backend_config(kind, _IP, ports[name], etc,
                                          devices),
                          conf_path)
            core_servers.append((name, conf_path))
        self._core = _Child('core', core_servers, etc,
                            os.path.join(log, 'core.log'))

        self._object_info, self._objects = [], []
        sample = os.path.join(self._sample_dir, 'object-server.conf-sample')
        for i in range(self._n_objects):
            name = 'object-server-%d' % (i + 1)
            device = 'sd' + chr(ord('b') + i)
            devices = self._device_dir(name, device)
            conf = render_config(sample, _fill(
                OBJECT_OVERRIDES, ip=_IP, port=ports[name], swift_dir=etc,
                devices=devices, name=name))
            resolve_own_eggs(conf)
            if self._system_images_dir:
                conf['filter:zerocloud_object']['system_images_dir'] = \
                    os.path.abspath(self._system_images_dir)
            conf_path = os.path.join(etc, '%s.conf' % name)
            _write_config(conf, conf_path, sample)
            self._object_info.append(
                ObjectServer(name, _IP, ports[name], device, devices))
            self._objects.append(_Child(name, [(name, conf_path)], etc,
                                        os.path.join(log, name + '.log')))
        build_ring(self.object_ring_path,
                   min(OBJECT_REPLICAS, self._n_objects),
                   [(o.ip, o.port, o.device) for o in self._object_info])
        if self._n_objects >= EC_SERVERS:
            build_ring(os.path.join(etc, 'object-1.ring.gz'), EC_SERVERS,
                       [(o.ip, o.port, o.device) for o in self._object_info])

    def system_images(self):
        """Names of the system images the object servers offer (their
        ``NAME.tar`` files), sorted."""
        where = self._system_images_dir
        if not where:
            return []
        return sorted(name[:-len('.tar')] for name in os.listdir(where)
                      if name.endswith('.tar') and len(name) > len('.tar')
                      and os.path.isfile(os.path.join(where, name)))

    def _device_dir(self, server, device):
        devices = os.path.join(self._run_dir, 'srv', server)
        os.makedirs(os.path.join(devices, device), exist_ok=True)
        return devices
