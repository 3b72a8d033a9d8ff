# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The embedded cluster itself: users, objects, ring, ACLs, failover, CLI."""
import configparser
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import swiftclient
from swiftclient import ClientException

from zerocloud import saio

from .conftest import USERS
from .leaks import children as children_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _container(url, token):
    name = 'c-' + uuid.uuid4().hex
    swiftclient.put_container(url, token, name)
    return name


def _server_index(cluster, node):
    ports = [server.port for server in cluster.object_servers]
    return ports.index(node['port'])


def _status(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientException as e:
        return e.http_status
    return 200


# --- users ----------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(USERS))
def test_each_user_gets_a_token_for_its_account(cluster, auth, name):
    url, token = auth(name)
    assert url == '%s/v1/%s' % (cluster.proxy_url, USERS[name][2])
    assert token.startswith('AUTH_tk')
    admin = USERS[name][3]
    assert _status(swiftclient.head_account, url, token) == \
        (200 if admin else 403)


def test_a_wrong_key_is_refused(cluster):
    with pytest.raises(ClientException) as caught:
        swiftclient.get_auth(cluster.auth_url, 'test:tester', 'wrong')
    assert caught.value.http_status == 401


# --- objects through the proxy --------------------------------------------

def test_put_get_head_delete(auth):
    url, token = auth('tester')
    container = _container(url, token)
    etag = swiftclient.put_object(url, token, container, 'o', b'hello',
                                  content_type='text/plain')
    headers, body = swiftclient.get_object(url, token, container, 'o')
    assert body == b'hello'
    assert headers['etag'] == etag
    headers = swiftclient.head_object(url, token, container, 'o')
    assert headers['content-length'] == '5'
    assert headers['content-type'] == 'text/plain'
    swiftclient.delete_object(url, token, container, 'o')
    assert _status(swiftclient.get_object, url, token, container, 'o') == 404


# --- placement ------------------------------------------------------------

def test_object_ring_is_two_replicas_over_three_servers(cluster,
                                                        object_ring):
    assert object_ring.replica_count == 2
    servers = cluster.object_servers
    assert len(servers) == 3
    assert sorted((d['ip'], d['port'], d['device'])
                  for d in object_ring.devs) == \
        sorted((s.ip, s.port, s.device) for s in servers)
    assert len({s.port for s in servers}) == 3


def test_each_object_is_on_two_distinct_servers(cluster, auth, object_ring):
    from swift.common.direct_client import (DirectClientException,
                                            direct_head_object)
    url, token = auth('tester')
    account = url.rsplit('/', 1)[1]
    container = _container(url, token)
    for i in range(4):
        obj = 'placed-%d' % i
        etag = swiftclient.put_object(url, token, container, obj, b'x' * i)
        part, nodes = object_ring.get_nodes(account, container, obj)
        assert len({n['port'] for n in nodes}) == 2
        for node in nodes:
            headers = direct_head_object(node, part, account, container, obj)
            assert headers['etag'].strip('"') == etag
        (other,) = [s for s in cluster.object_servers
                    if s.port not in {n['port'] for n in nodes}]
        node = {'ip': other.ip, 'port': other.port, 'device': other.device}
        with pytest.raises(DirectClientException) as caught:
            direct_head_object(node, part, account, container, obj)
        assert caught.value.http_status == 404


# --- authorization --------------------------------------------------------

def test_non_admin_needs_an_acl(auth):
    url, token = auth('tester')
    url3, token3 = auth('tester3')
    assert url3 == url      # same account, but not its admin
    container = _container(url, token)
    swiftclient.put_object(url, token, container, 'o', b'secret')

    assert _status(swiftclient.get_container, url3, token3, container) == 403
    assert _status(swiftclient.get_object, url3, token3, container,
                   'o') == 403

    swiftclient.post_container(url, token, container,
                               {'X-Container-Read': 'test:tester3'})
    _headers, listing = swiftclient.get_container(url3, token3, container)
    assert [item['name'] for item in listing] == ['o']
    assert swiftclient.get_object(url3, token3, container, 'o')[1] == \
        b'secret'
    assert _status(swiftclient.put_object, url3, token3, container, 'o2',
                   b'no') == 403


# --- failover -------------------------------------------------------------

def test_a_replica_survives_its_server_stopping(cluster, auth, object_ring):
    from swift.common.direct_client import direct_head_object
    url, token = auth('tester')
    account = url.rsplit('/', 1)[1]
    container = _container(url, token)
    swiftclient.put_object(url, token, container, 'o', b'kept')
    part, nodes = object_ring.get_nodes(account, container, 'o')

    # One replica's server at a time: the other replica serves the GET;
    # stopping the second after restarting the first shows the restarted
    # server serves again.
    for node in nodes:
        index = _server_index(cluster, node)
        cluster.stop_object_server(index)
        try:
            with pytest.raises(OSError):
                direct_head_object(node, part, account, container, 'o')
            assert swiftclient.get_object(url, token, container,
                                          'o')[1] == b'kept'
        finally:
            cluster.start_object_server(index)
        direct_head_object(node, part, account, container, 'o')
    assert cluster.dead_servers() == []


def test_a_crashed_object_server_is_reported_and_restarts(cluster):
    name = cluster.object_servers[2].name
    (pid,) = [child for child in children_of(os.getpid())
              if name.encode() in _cmdline(child)]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not cluster.dead_servers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.dead_servers() == [name]
    cluster.start_object_server(2)
    assert cluster.dead_servers() == []


def _refuses(server):
    with socket.socket() as sock:
        try:
            sock.connect((server.ip, server.port))
        except ConnectionRefusedError:
            return True
    return False


def test_stop_object_server_can_kill(cluster):
    server = cluster.object_servers[1]
    cluster.stop_object_server(1, kill=True)
    try:
        assert _refuses(server)
        assert cluster.dead_servers() == []     # stopped, not crashed
    finally:
        cluster.start_object_server(1)
    assert not _refuses(server)


def test_start_stop_leaks_nothing(tmp_path):
    fds = set(os.listdir('/proc/self/fd'))
    before = set(children_of(os.getpid()))     # the session cluster's
    with saio.Cluster(object_servers=1) as single:
        run_dir = single.run_dir
        assert single.object_servers[0].device == 'sdb'
        children = set(children_of(os.getpid())) - before
        assert len(children) == 2
    assert not os.path.exists(run_dir)
    assert not any(map(_alive, children))
    # Nothing new may remain open; an fd of an earlier test (a keep-alive
    # socket being collected) may close meanwhile, which is not a leak.
    assert set(os.listdir('/proc/self/fd')) - fds == set()


def test_prepare_then_start_serves(tmp_path):
    # As a test that edits the generated configuration would: start()
    # after prepare() once answered at once, serving nothing.
    cluster = saio.Cluster(run_dir=str(tmp_path / 'run'), object_servers=1)
    try:
        cluster.prepare()
        cluster.start()
        url, token = swiftclient.get_auth(cluster.auth_url, 'test:tester',
                                          'testing', timeout=10)
        assert url.endswith('/AUTH_test') and token
        cluster.start()     # once running, nothing more
    finally:
        cluster.stop()


# --- configuration comes from the samples ---------------------------------

def _read(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    assert parser.read(path) == [path]
    return parser


def _own(parser, section):
    if section == 'DEFAULT':
        return dict(parser.defaults())
    return {k: v for k, v in parser.items(section, raw=True)
            if k not in parser.defaults()}


@pytest.mark.parametrize('generated, sample, overrides, replaced', [
    # The proxy's system_images: those the object servers have.
    ('proxy-server.conf', 'proxy-server.conf-sample',
     dict(saio.PROXY_OVERRIDES,
          **{'filter:zerocloud_proxy': {'system_images': None}}),
     saio.PROXY_REPLACED_SECTIONS),
    # The session's cluster also has the tests' system images.
    ('object-server-1.conf', 'object-server.conf-sample',
     dict(saio.OBJECT_OVERRIDES,
          **{'filter:zerocloud_object': {'system_images_dir': None}}), {}),
])
def test_running_configs_are_the_samples_but_for_overrides(
        cluster, images_dir, generated, sample, overrides, replaced):
    conf = _read(os.path.join(cluster.swift_dir, generated))
    if generated.startswith('object'):
        assert conf['filter:zerocloud_object']['system_images_dir'] == \
            images_dir[0]
    else:
        assert conf['filter:zerocloud_proxy']['system_images'] == ' '.join(
            sorted(n[:-4] for n in os.listdir(images_dir[0])))
    original = _read(os.path.join(ROOT, 'etc', sample))
    assert set(conf.sections()) == set(original.sections())
    for section in ['DEFAULT'] + original.sections():
        if section in replaced:
            assert _own(conf, section) == replaced[section]
            continue
        changed = overrides.get(section, {})
        expected = {k: v for k, v in _own(original, section).items()
                    if k not in changed}
        use = expected.get('use', '')
        if use.startswith(saio.OWN_EGG):
            del expected['use']
            expected['paste.filter_factory'] = \
                saio.own_entry_points()[use[len(saio.OWN_EGG):]]
        actual = {k: v for k, v in _own(conf, section).items()
                  if k not in changed}
        assert actual == expected, section
        assert set(changed) <= set(_own(conf, section))


def test_a_changed_sample_changes_the_cluster(tmp_path):
    samples = tmp_path / 'etc'
    shutil.copytree(os.path.join(ROOT, 'etc'), samples)
    proxy_sample = samples / 'proxy-server.conf-sample'
    text = proxy_sample.read_text().replace(
        '[filter:tempauth]\n',
        '[filter:tempauth]\nuser_demo_demo = demo .admin\n')
    proxy_sample.write_text(text)
    object_sample = samples / 'object-server.conf-sample'
    object_sample.write_text(object_sample.read_text().replace(
        '# mb_per_sync = 512', 'mb_per_sync = 7'))

    cluster = saio.Cluster(run_dir=str(tmp_path / 'run'),
                           sample_dir=str(samples))
    try:
        cluster.prepare()
        proxy = _read(os.path.join(cluster.swift_dir, 'proxy-server.conf'))
        assert proxy['filter:tempauth']['user_demo_demo'] == 'demo .admin'
        for i in (1, 2, 3):
            conf = _read(os.path.join(cluster.swift_dir,
                                      'object-server-%d.conf' % i))
            assert conf['app:object-server']['mb_per_sync'] == '7'
    finally:
        cluster.stop()
    assert (tmp_path / 'run' / 'etc' / 'object.ring.gz').exists()


def test_a_sample_without_a_needed_section_is_refused(tmp_path):
    samples = tmp_path / 'etc'
    shutil.copytree(os.path.join(ROOT, 'etc'), samples)
    proxy_sample = samples / 'proxy-server.conf-sample'
    proxy_sample.write_text(proxy_sample.read_text().replace(
        '[filter:cache]', '[filter:memcache]'))
    cluster = saio.Cluster(run_dir=str(tmp_path / 'run'),
                           sample_dir=str(samples))
    with pytest.raises(saio.ClusterError, match=r'\[filter:cache\]'):
        cluster.prepare()


# --- the command ----------------------------------------------------------

def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read()
    except OSError:
        return b''


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def test_saio_command_serves_until_sigterm(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join(
                   p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'zerocloud.cli', 'saio', '--port', '0'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ready = select.select([proc.stdout], [], [], 60)[0]
        line = proc.stdout.readline().decode() if ready else ''
        match = re.fullmatch(r'ready (http://127\.0\.0\.1:\d+/auth/v1\.0)\n',
                             line)
        assert match, (line, proc.stderr.read() if proc.poll() else '')
        url, token = swiftclient.get_auth(match.group(1), 'test:tester',
                                          'testing')
        assert _status(swiftclient.head_account, url, token) == 200
        children = children_of(proc.pid)
        assert len(children) == 4     # core + 3 object servers
        assert os.listdir(tmp_path)   # its temporary run directory

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b''
        deadline = time.monotonic() + 5
        while any(map(_alive, children)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(map(_alive, children))
        assert os.listdir(tmp_path) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
