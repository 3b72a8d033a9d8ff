# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""zerocloud.saio parts that need no server: cache, rings, config rendering.

The cluster itself is exercised in test/functional/test_saio.py.
"""
import os

import pytest

from zerocloud import saio


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


# --- MemoryCache ----------------------------------------------------------

def test_cache_values_round_trip_through_json_like_memcached():
    cache = saio.MemoryCache()
    cache.set('token', (123.5, 'test,test:tester'))
    assert cache.get('token') == [123.5, 'test,test:tester']
    cache.get('token').append('mutated')
    assert cache.get('token') == [123.5, 'test,test:tester']
    cache.set('raw', '17', serialize=False)
    assert cache.get('raw') == '17'
    assert cache.get('missing') is None


def test_cache_entries_expire():
    clock = FakeClock()
    cache = saio.MemoryCache(clock=clock)
    cache.set('short', 1, time=10)
    cache.set('forever', 2)
    cache.set('absolute', 3, time=int(clock.now) + 40 * 24 * 3600)
    clock.now += 10
    assert cache.get('short') is None
    assert cache.get('forever') == 2
    assert cache.get('absolute') == 3


def test_cache_counters():
    cache = saio.MemoryCache()
    assert cache.incr('n') == 1
    assert cache.incr('n', delta=5) == 6
    assert cache.decr('n', delta=2) == 4
    assert cache.decr('n', delta=10) == 0      # never below zero
    assert cache.decr('fresh') == 0
    cache.set('json', 7)
    assert cache.incr('json') == 8


def test_cache_delete_and_multi():
    cache = saio.MemoryCache()
    cache.set_multi({'a': 1, 'b': 2}, 'server-key')
    assert cache.get_multi(['a', 'b', 'c'], 'server-key') == [1, 2, None]
    cache.delete('a')
    cache.delete('never-there')
    assert cache.get('a') is None


def test_cache_is_bounded():
    cache = saio.MemoryCache(max_entries=3)
    for i in range(5):
        cache.set('k%d' % i, i)
    assert [cache.get('k%d' % i) for i in range(5)] == [None, None, 2, 3, 4]


def test_cache_filter_shares_one_cache_across_requests():
    seen = []

    def app(env, start_response):
        seen.append(env['swift.cache'])
        return [b'']

    wrapped = saio.cache_filter_factory({}, memcache_servers='ignored')(app)
    wrapped({}, None)
    wrapped({}, None)
    assert isinstance(seen[0], saio.MemoryCache)
    assert seen[0] is seen[1]


# --- rings ----------------------------------------------------------------

def _placement(path):
    from swift.common.ring import Ring
    ring = Ring(path)
    return ring.replica_count, [
        tuple(node['device'] for node in ring.get_part_nodes(part))
        for part in range(ring.partition_count)]


@pytest.fixture
def hash_conf(monkeypatch):
    """Swift's hash path settings, as if a saio swift.conf were loaded."""
    from swift.common import utils
    monkeypatch.setattr(utils, 'HASH_PATH_PREFIX',
                        saio.HASH_PATH_PREFIX.encode())
    monkeypatch.setattr(utils, 'HASH_PATH_SUFFIX',
                        saio.HASH_PATH_SUFFIX.encode())


def test_ring_placement_is_fixed_whatever_the_ports(tmp_path, hash_conf):
    devices = ['sdb', 'sdc', 'sdd']
    first, second = str(tmp_path / 'a.ring.gz'), str(tmp_path / 'b.ring.gz')
    saio.build_ring(first, 2, [('127.0.0.1', 6000 + i, d)
                               for i, d in enumerate(devices)])
    saio.build_ring(second, 2, [('127.0.0.1', 7100 + i, d)
                                for i, d in enumerate(devices)])
    replicas, placement = _placement(first)
    assert replicas == 2
    assert len(placement) == 2 ** saio.PART_POWER
    assert all(len(set(nodes)) == 2 for nodes in placement)
    assert {d for nodes in placement for d in nodes} == set(devices)
    assert _placement(second) == (replicas, placement)
    assert os.path.exists(str(tmp_path / 'a.builder'))


@pytest.mark.parametrize('erasure_coded', [False, True])
def test_swift_conf_policies_are_valid_for_swift(tmp_path, erasure_coded):
    import configparser
    from swift.common.storage_policy import (EC_POLICY, REPL_POLICY,
                                             parse_storage_policies)
    from zerocloud.saioconf import _write_swift_conf
    path = str(tmp_path / 'swift.conf')
    _write_swift_conf(path, erasure_coded=erasure_coded)
    parser = configparser.ConfigParser()
    parser.read(path)
    policies = parse_storage_policies(parser)
    assert policies.default.idx == 0
    assert policies.default.policy_type == REPL_POLICY
    if not erasure_coded:
        assert len(policies) == 1
        return
    ec = policies.get_by_name(saio.EC_POLICY)
    assert (ec.idx, ec.policy_type) == (1, EC_POLICY)
    assert (ec.ec_ndata, ec.ec_nparity) == (saio.EC_DATA_FRAGMENTS,
                                            saio.EC_PARITY_FRAGMENTS)
    assert ec.ec_n_unique_fragments == 3


# --- config rendering -----------------------------------------------------

SAMPLE = """\
[DEFAULT]
bind_port = 8080
Mixed_Case = kept

[pipeline:main]
pipeline = cache proxy-server

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211

[app:proxy-server]
use = egg:swift#proxy
"""


def test_render_config_overrides_and_replaces_only_what_it_is_told(
        tmp_path):
    sample = tmp_path / 'x.conf-sample'
    sample.write_text(SAMPLE)
    conf = saio.render_config(
        str(sample), {'DEFAULT': {'bind_port': '1234'}},
        {'filter:cache': {'paste.filter_factory': 'm:f'}})
    assert conf['DEFAULT']['bind_port'] == '1234'
    assert conf['DEFAULT']['Mixed_Case'] == 'kept'
    assert dict(conf.items('filter:cache', raw=True)) == {
        'paste.filter_factory': 'm:f', 'bind_port': '1234',
        'Mixed_Case': 'kept'}    # the last two are [DEFAULT]'s
    assert conf['pipeline:main']['pipeline'] == 'cache proxy-server'
    assert conf['app:proxy-server']['use'] == 'egg:swift#proxy'


def test_render_config_refuses_unknown_sections_and_missing_files(
        tmp_path):
    sample = tmp_path / 'x.conf-sample'
    sample.write_text(SAMPLE)
    with pytest.raises(saio.ClusterError, match=r'\[filter:nope\]'):
        saio.render_config(str(sample), {'filter:nope': {'a': 'b'}})
    with pytest.raises(saio.ClusterError, match='cannot read'):
        saio.render_config(str(tmp_path / 'absent'), {})


def test_cluster_refuses_a_bad_object_server_count():
    with pytest.raises(ValueError):
        saio.Cluster(object_servers=0)
    with pytest.raises(ValueError):
        saio.Cluster(object_servers=9)


def test_system_images_are_those_of_the_directory(tmp_path):
    with pytest.raises(saio.ClusterError, match='not a directory'):
        saio.Cluster(system_images_dir=str(tmp_path / 'none'))
    for name in ('python.tar', 'lua.tar', 'notes.txt', '.tar'):
        (tmp_path / name).write_bytes(b'')
    (tmp_path / 'dir.tar').mkdir()
    assert saio.Cluster(system_images_dir=str(tmp_path)).system_images() \
        == ['lua', 'python']
    assert saio.Cluster().system_images() == []


@pytest.mark.parametrize('argv', [
    ['saio', '--port', '99999'], ['saio', '--port', '-1'],
    ['saio', '--port', 'x'], ['result', '--wait', 'nan', 'swift://a/c/o'],
    ['result', '--wait', '-5', 'swift://a/c/o'],
    ['result', '--wait', 'inf', 'swift://a/c/o']])
def test_cli_numbers_out_of_range_are_usage_errors(argv, capsys):
    from zerocloud import cli
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert 'zerocloud' in capsys.readouterr().err


def test_saio_in_an_unusable_directory_is_one_line(tmp_path, capsys):
    from zerocloud import cli
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    assert cli.main(['saio', '--port', '0', '--dir',
                     str(blocker / 'run')]) == 1
    err = capsys.readouterr().err
    assert err.startswith('zerocloud: cannot run the cluster in ')
    assert len(err.splitlines()) == 1
    assert cli.main(['saio', '--port', '0', '--images',
                     str(tmp_path / 'none')]) == 1
    assert 'not a directory' in capsys.readouterr().err


def test_object_servers_cannot_be_driven_before_start():
    cluster = saio.Cluster()
    with pytest.raises(saio.ClusterError):
        cluster.stop_object_server(0)
    with pytest.raises(saio.ClusterError):
        cluster.start_object_server(0)


def test_own_eggs_become_factories_and_others_stay(tmp_path):
    sample = tmp_path / 'x.conf-sample'
    sample.write_text('[filter:ours]\nuse = egg:zerocloud#object\nk = v\n'
                      '[filter:theirs]\nuse = egg:swift#healthcheck\n')
    parser = saio.resolve_own_eggs(saio.render_config(str(sample), {}))
    assert dict(parser['filter:ours']) == {
        'k': 'v', 'paste.filter_factory':
        'zerocloud.middleware.object:filter_factory'}
    assert dict(parser['filter:theirs']) == {'use': 'egg:swift#healthcheck'}
    with pytest.raises(saio.ClusterError, match='egg:zerocloud#nope'):
        sample.write_text('[filter:x]\nuse = egg:zerocloud#nope\n')
        saio.resolve_own_eggs(saio.render_config(str(sample), {}))
