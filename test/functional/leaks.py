# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Leak checks shared by the functional tests: sandboxes still running
under an object server, zerocloud temp files left on its devices."""
import os
import time

import pytest

from zerocloud.middleware import object as objfilter

__all__ = ['children', 'object_server_pids', 'tmp_entries',
           'assert_nothing_left']


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
