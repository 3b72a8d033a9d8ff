# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Leak checks shared by the functional tests: sandboxes still running
under an object server, zerocloud temp files left on its devices, sockets
left open by the cluster's servers."""
import os
import tempfile
import time

import pytest

from zerocloud.middleware import object as objfilter

__all__ = ['children', 'object_server_pids', 'tmp_entries',
           'assert_nothing_left', 'server_sockets', 'assert_sockets_back',
           'proxy_spools', 'assert_spools_back']


def children(pid):
    out = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def object_server_pids(cluster):
    names = {s.name for s in cluster.object_servers}
    pids = []
    for pid in children(os.getpid()):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                argv = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if names & set(argv):
            pids.append(pid)
    return pids


def tmp_entries(cluster):
    found = []
    for server in cluster.object_servers:
        tmp = os.path.join(server.devices, server.device, 'tmp')
        if os.path.isdir(tmp):
            found += [os.path.join(tmp, n) for n in os.listdir(tmp)
                      if n.startswith(objfilter.TMP_PREFIX)]
    return found


def proxy_spools():
    """The proxy filter's job spools in the system's temp directory (the
    embedded cluster's ``temp_dir``)."""
    tmp = tempfile.gettempdir()
    return sorted(n for n in os.listdir(tmp) if n.startswith('zerocloud-')
                  and not n.startswith(('zerocloud-saio-', 'zerocloud-demo-')))


def assert_spools_back(before, wait=10.0):
    """No proxy job spool but those of ``before`` is left within ``wait``
    seconds (a job's spool goes when its answer has been sent; one of
    ``before`` may go meanwhile, another process's job)."""
    deadline = time.monotonic() + wait
    while not set(proxy_spools()) <= set(before):
        if time.monotonic() > deadline:
            pytest.fail('proxy spools left behind: %s' % sorted(
                set(proxy_spools()) - set(before)))
        time.sleep(0.05)


def assert_nothing_left(cluster, wait=10.0):
    deadline = time.monotonic() + wait
    while True:
        files = tmp_entries(cluster)
        procs = [c for p in object_server_pids(cluster)
                 for c in children(p)]
        if not files and not procs:
            return
        if time.monotonic() > deadline:
            pytest.fail('left behind: files %s, processes %s'
                        % (files, procs))
        time.sleep(0.05)


def _tcp_table():
    """{socket inode: (local address, remote address)} of TCP sockets."""
    table = {}
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            table[fields[9]] = (fields[1], fields[2])
    return table


def _socket_inodes(pid):
    inodes = []
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.append(link[len('socket:['):-1])
    return inodes


def server_sockets(detail=False):
    """Open sockets of every server process of the embedded cluster(s)
    this test process started, leaving out a process's connections to
    itself (eventlet's thread pool makes one, once, on first use) and to
    this test process (its clients' keep-alive connections).  With
    ``detail``, a list of ``(pid, inode, (local, remote) or None)``."""
    tcp = _tcp_table()
    # The test's own client connections (swiftclient keeps some open).
    mine = {tcp[i][0] for i in _socket_inodes(os.getpid()) if i in tcp}
    found = []
    for pid in children(os.getpid()):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                if b'saio' not in f.read():
                    continue
        except OSError:
            continue
        inodes = _socket_inodes(pid)
        local = {tcp[i][0] for i in inodes if i in tcp}
        found += [(pid, i, tcp.get(i)) for i in inodes
                  if i not in tcp or tcp[i][1] not in local | mine]
    return found if detail else len(found)


def assert_sockets_back(before, wait=10.0):
    """The servers hold no more sockets than ``before`` (from
    :func:`server_sockets`), within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        now = server_sockets()
        if now <= before:
            return
        if time.monotonic() > deadline:
            pytest.fail('servers hold %d sockets, %d before the job: %s'
                        % (now, before, server_sockets(detail=True)))
        time.sleep(0.05)
