# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Fixtures shared by the functional tests.

``cluster``
    One started :class:`zerocloud.saio.Cluster` for the whole session
    (proxy, account, container and 3 object servers on 127.0.0.1).
``auth``
    ``auth('tester')`` returns ``(storage_url, token)`` for one of
    :data:`USERS`, asked once from tempauth with swiftclient and cached.
``object_ring``
    The cluster's object ring, with Swift's hash path settings pointed at
    the cluster so that ``get_nodes`` answers what the servers use.

Tests that stop an object server must start it again before they end.
"""
import pytest
import swiftclient

from zerocloud import saio

__all__ = ['USERS']

#: The tempauth users of etc/proxy-server.conf-sample:
#: name -> (user, key, account, is the account's admin).
USERS = {
    'tester': ('test:tester', 'testing', 'AUTH_test', True),
    'tester2': ('test2:tester2', 'testing2', 'AUTH_test2', True),
    'tester3': ('test:tester3', 'testing3', 'AUTH_test', False),
}


@pytest.fixture(scope='session')
def cluster(images_dir):
    with saio.Cluster(system_images_dir=images_dir[0]) as running:
        yield running


@pytest.fixture(scope='session')
def auth(cluster):
    tokens = {}

    def get(name):
        if name not in tokens:
            user, key = USERS[name][:2]
            tokens[name] = swiftclient.get_auth(cluster.auth_url, user, key)
        return tokens[name]
    return get


@pytest.fixture(scope='session')
def object_ring(cluster):
    from swift.common.ring import Ring
    from swift.common.utils import set_swift_dir

    # Ring.get_nodes hashes with the prefix/suffix of the current swift.conf
    # (process-wide); every saio cluster uses the same fixed ones.
    set_swift_dir(cluster.swift_dir)
    return Ring(cluster.object_ring_path)
