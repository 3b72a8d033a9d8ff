# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import collections
import json

import pytest

from zerocloud.exceptions import JobError
from zerocloud.job import SwiftPath, parse_job
from zerocloud.middleware.placement import RingView, load_swift_ring, place
from zerocloud.middleware.planner import build_plan, dict_lister, expand

ACCOUNT = 'AUTH_me'


def dev(i, ip, port=6200, **extra):
    return dict(id=i, ip=ip, port=port, device='sd%s' % chr(97 + i),
                region=1, zone=1, weight=100, **extra)


DEVS = [dev(0, '10.0.0.1'), dev(1, '10.0.0.1'), dev(2, '10.0.0.2'),
        dev(3, '10.0.0.3'), dev(4, '10.0.0.4')]


class FakeRing:
    """Primaries: three devices chosen from the object name, recorded."""

    replica_count = 3

    def __init__(self):
        self.calls = []
        self.devs = DEVS + [None]

    def get_nodes(self, account, container=None, obj=None):
        self.calls.append((account, container, obj))
        start = sum(map(ord, '%s/%s/%s' % (account, container, obj)))
        return 42, [DEVS[(start + i) % len(DEVS)] for i in range(3)]

    def get_more_nodes(self, part):
        return iter(DEVS)


def make_plan(*groups, listing=None):
    job = parse_job(json.dumps(list(groups)), ACCOUNT)
    return expand(job, dict_lister(listing or {}))


def reader(name, path, **extra):
    return dict(name=name, exec={'path': 'swift://~/e/p'},
                devices=[{'name': 'stdin', 'path': path}], **extra)


def test_candidates_are_the_primaries_of_the_attach_object():
    ring = FakeRing()
    view = RingView.from_swift_ring(ring)
    result = place(make_plan(reader('g', 'swift://~/c/o')), view)
    (node,) = result.nodes
    assert ring.calls == [(ACCOUNT, 'c', 'o')]
    expected = ring.get_nodes(ACCOUNT, 'c', 'o')[1]
    assert [(s.ip, s.port, s.device, s.id) for s in node.candidates] == \
        [(d['ip'], d['port'], d['device'], d['id']) for d in expected]
    assert {s.partition for s in node.candidates} == {42}
    assert not any(s.local for s in node.candidates)


@pytest.mark.parametrize('form', ['ip:port', 'ip', 'id', '[ip]:port'])
def test_local_first(form):
    ring = FakeRing()
    _, primaries = ring.get_nodes(ACCOUNT, 'c', 'x')
    last = primaries[-1]
    hint = {'ip:port': '%s:%d' % (last['ip'], last['port']),
            'ip': last['ip'], 'id': last['id'],
            '[ip]:port': '[%s]:%d' % (last['ip'], last['port'])}[form]
    view = RingView.from_swift_ring(ring, local={hint})
    (node,) = place(make_plan(reader('g', 'swift://~/c/x')), view).nodes
    assert node.candidates[0].ip == last['ip'] and node.candidates[0].local
    local = [view.is_local(d) for d in primaries]
    assert [s.id for s in node.candidates] == \
        [d['id'] for d, flag in zip(primaries, local) if flag] + \
        [d['id'] for d, flag in zip(primaries, local) if not flag]
    assert [s.local for s in node.candidates] == sorted(local, reverse=True)


def test_attach_object_is_the_one_placed():
    ring = FakeRing()
    view = RingView(ring.get_nodes)
    place(make_plan(dict(name='g', exec={'path': 'swift://~/e/p'},
                         attach='output', devices=[
                             {'name': 'stdin', 'path': 'swift://~/c/in'},
                             {'name': 'output', 'path': 'swift://~/c/out'}])),
          view)
    assert ring.calls == [(ACCOUNT, 'c', 'out')]


def test_nodes_without_objects_are_spread_evenly():
    ring = FakeRing()
    view = RingView.from_swift_ring(ring)
    result = place(make_plan(dict(name='w', exec={'path': 'swift://~/e/p'},
                                  count=8)), view)
    assert ring.calls == []
    firsts = [n.candidates[0] for n in result.nodes]
    servers = collections.Counter(s.address for s in firsts)
    # Four servers, eight nodes: two first choices each.
    assert sorted(servers.values()) == [2, 2, 2, 2]
    # 10.0.0.1 has two devices: its two first choices use both.
    assert sorted(s.device for s in firsts if s.ip == '10.0.0.1') == \
        ['sda', 'sdb']
    for node in result.nodes:
        assert len(node.candidates) == 3
        assert len({s.address for s in node.candidates}) == 3
        assert all(s.partition is None for s in node.candidates)


def test_replicated_nodes_without_objects_get_enough_servers():
    class TwoReplicas(FakeRing):
        replica_count = 2
    view = RingView.from_swift_ring(TwoReplicas())
    plan = place(make_plan(dict(name='w', exec={'path': 'swift://~/e/p'},
                                count=2, replicate=3),
                           dict(name='x', exec={'path': 'swift://~/e/p'})),
                 view)
    for node in plan.nodes[:2]:
        assert len({s.address for s in node.candidates}) == 3
    assert len(plan.nodes[2].candidates) == 2


def test_replicated_nodes_need_as_many_servers():
    class OneServer(FakeRing):
        def __init__(self):
            super().__init__()
            self.devs = DEVS[:2]    # both on 10.0.0.1
    view = RingView.from_swift_ring(OneServer())
    with pytest.raises(JobError) as caught:
        place(make_plan(dict(name='w', exec={'path': 'swift://~/e/p'},
                             replicate=2)), view)
    assert str(caught.value) == ('group "w": replicate 2: node "w" can run '
                                 "on only 1 object server (the ring's "
                                 'servers)')


def test_a_location_gives_its_nodes_one_first_server():
    view = RingView.from_swift_ring(FakeRing())
    paths = ['in/a', 'in/b', 'in/c']
    holders = [{s.address for s in view.candidates(SwiftPath(
        ACCOUNT, *p.split('/')))} for p in paths]
    plan = place(make_plan(
        reader('a', 'swift://~/in/a', location='L'),
        reader('b', 'swift://~/in/b', location='L'),
        reader('c', 'swift://~/in/c'),
        dict(name='free', exec={'path': 'swift://~/e/p'}, location='L')),
        view)
    a, b, c, free = plan.nodes
    # The server holding most of the location's objects comes first for
    # each node that has it, and for the node without an object.
    common = holders[0] & holders[1]
    assert common, holders
    first = a.candidates[0].address
    assert first in common and b.candidates[0].address == first
    assert free.candidates[0].address == first
    assert free.candidates[0].partition is None
    # Nothing is added to or taken from a placed node's candidates.
    assert {s.address for s in a.candidates} == holders[0]
    assert {s.address for s in b.candidates} == holders[1]
    # Nodes without the location are left as they were.
    assert c.candidates == view.candidates(SwiftPath(ACCOUNT, 'in', 'c'))
    assert [n.location for n in plan.nodes] == ['L', 'L', None, 'L']


def test_a_location_whose_objects_share_no_server_is_best_effort():
    ring = RingView(lambda a, c, o: (1, [DEVS[0]] if o == 'x'
                                     else [DEVS[3]]),
                    devices=lambda: DEVS)
    plan = place(make_plan(reader('x', 'swift://~/in/x', location='L'),
                           reader('y', 'swift://~/in/y', location='L')),
                 ring)
    assert [n.candidates[0].device for n in plan.nodes] == ['sda', 'sdd']


def test_spread_without_a_device_list_hashes_the_node_name():
    ring = FakeRing()
    view = RingView(ring.get_nodes, ring.get_more_nodes)
    result = place(make_plan(dict(name='w', exec={'path': 'swift://~/e/p'},
                                  count=2)), view)
    assert ring.calls == [(ACCOUNT, '.zerocloud', 'w-1'),
                          (ACCOUNT, '.zerocloud', 'w-2')]
    assert all(len(n.candidates) == 3 for n in result.nodes)


def test_build_plan_places_when_given_a_ring():
    job = parse_job(json.dumps([reader('g', 'swift://~/c/*')]), ACCOUNT)
    view = RingView.from_swift_ring(FakeRing())
    result = build_plan(job, dict_lister({'c': ['a', 'b']}), view)
    assert all(len(n.candidates) == 3 for n in result.nodes)
    assert build_plan(job, dict_lister({'c': ['a']})).nodes[0].candidates \
        == ()


def test_real_swift_ring(tmp_path, monkeypatch):
    ring_mod = pytest.importorskip('swift.common.ring')
    from swift.common import utils
    monkeypatch.setattr(utils, 'HASH_PATH_PREFIX', b'zc-test-prefix')
    monkeypatch.setattr(utils, 'HASH_PATH_SUFFIX', b'zc-test-suffix')
    builder = ring_mod.RingBuilder(6, 3, 1)
    for i, (ip, dev_name) in enumerate([
            ('127.0.0.1', 'sdb1'), ('127.0.0.1', 'sdb2'),
            ('127.0.0.2', 'sdb1'), ('127.0.0.3', 'sdb1')]):
        builder.add_dev({'id': i, 'region': 1, 'zone': i % 3 + 1,
                         'ip': ip, 'port': 6200 + i % 2,
                         'device': dev_name, 'weight': 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(str(tmp_path / 'object.ring.gz'))

    view = load_swift_ring(str(tmp_path), local={'127.0.0.3:6201'})
    real = ring_mod.Ring(str(tmp_path), ring_name='object')
    assert view.replica_count == 3

    listing = {'c': ['o%d' % i for i in range(20)]}
    free_group = dict(name='free', exec={'path': 'swift://~/e/p'}, count=4)
    result = place(make_plan(reader('g', 'swift://~/c/*'), free_group,
                             listing=listing), view)
    for node in result.nodes[:20]:
        part, primaries = real.get_nodes(ACCOUNT, 'c', node.attach.obj)
        assert {s.id for s in node.candidates} == \
            {d['id'] for d in primaries}
        assert {s.partition for s in node.candidates} == {part}
        flags = [s.local for s in node.candidates]
        assert flags == sorted(flags, reverse=True)
        if any(d['id'] == 3 for d in primaries):
            assert node.candidates[0].id == 3
    free = result.nodes[20:]
    assert len({n.candidates[0].id for n in free}) == 4
    assert all(len(n.candidates) == 3 for n in free)


def test_plan_json_includes_candidates():
    view = RingView.from_swift_ring(FakeRing())
    data = place(make_plan(reader('g', 'swift://~/c/o')), view).to_dict()
    cand = data['nodes'][0]['candidates'][0]
    assert set(cand) == {'ip', 'port', 'device', 'id', 'partition', 'local'}
    assert SwiftPath(ACCOUNT, 'c', 'o').url == data['nodes'][0]['attach']


def test_connected_nodes_spread_their_first_choices():
    # Reviewer L: 8 of a 15-node MapReduce had their primary on one server
    # (6 places), the overflow found the secondary's full too, and the
    # third server was idle: refused as busy on an idle cluster.
    a, b, c = DEVS[0], DEVS[2], DEVS[3]     # three servers

    def nodes(account, container, obj):
        return 7, [c, a] if obj.startswith('red') else [a, b]
    view = RingView(nodes)
    listing = {'c': ['m%02d' % i for i in range(12)]}
    mappers = reader('map', 'swift://~/c/m*', connect=['red'])
    reducers = dict(name='red', exec={'path': 'swift://~/e/p'}, count=3,
                    devices=[{'name': 'stdout',
                              'path': 'swift://~/c/red*.txt'}])
    connected = place(make_plan(mappers, reducers, listing=listing), view)
    firsts = collections.Counter(n.candidates[0].ip for n in connected.nodes)
    assert firsts == {'10.0.0.1': 6, '10.0.0.2': 6, '10.0.0.3': 3}
    for node in connected.nodes:    # still only their own servers
        assert {s.device for s in node.candidates} == (
            {'sda', 'sdd'} if node.name.startswith('red') else
            {'sda', 'sdc'})
    # Nodes without pipes keep their primary first.
    alone = place(make_plan(reader('map', 'swift://~/c/m*'),
                            listing=listing), view)
    assert {n.candidates[0].ip for n in alone.nodes} == {'10.0.0.1'}
