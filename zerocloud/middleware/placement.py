# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Placement: which object servers may run each node of a plan.

A node runs where its attach object lives: its candidates are the primary
devices of that object in the object ring, local ones first (a "local" hint
names servers that are cheaper to reach, e.g. the proxy's own host), then
the others in ring order. Dispatch tries them in that order and fails over
to the next one. A node without an attach object may run anywhere: such
nodes are spread evenly over the ring's servers.

The ring comes in as data through :class:`RingView`: two callables shaped
like Swift's ``Ring.get_nodes(account, container, obj) -> (partition,
[device dict])`` and ``Ring.get_more_nodes(partition)`` (handoffs, kept for
dispatch), plus optionally every device (for spreading). Tests pass fakes;
the proxy passes a real ring with :meth:`RingView.from_swift_ring` or
:func:`load_swift_ring`. Pure apart from :func:`load_swift_ring`, which
reads a ring file.
"""
import collections
import dataclasses
import math

from zerocloud.exceptions import JobError
from zerocloud.middleware.plan import Server
from zerocloud.paths import quote

__all__ = ['RingView', 'load_swift_ring', 'place', 'copy_candidates']

#: Candidates given to a node without an attach object when the ring does
#: not say how many replicas it keeps.
DEFAULT_SPREAD_CANDIDATES = 3


class RingView:
    """The object ring, as the planner needs it.

    :param get_nodes: ``get_nodes(account, container, obj)`` returning
        ``(partition, [device dict])``; a device dict has at least ``ip``,
        ``port`` and ``device`` (and usually ``id``).
    :param get_more_nodes: ``get_more_nodes(partition)``, an iterable of
        handoff device dicts (optional; used by dispatch).
    :param devices: a callable returning every device dict (optional; used
        to spread nodes without an attach object). Without it such nodes
        are placed by hashing their name through ``get_nodes``.
    :param local: ``"ip:port"``, ``"ip"`` or device ids of local devices.
    :param replica_count: how many candidates a spread node gets.
    """

    def __init__(self, get_nodes, get_more_nodes=None, devices=None,
                 local=(), replica_count=None):
        self.get_nodes = get_nodes
        self.get_more_nodes = get_more_nodes
        self.devices = devices
        self.local = frozenset(local)
        self.replica_count = replica_count

    @classmethod
    def from_swift_ring(cls, ring, local=()):
        """Adapt a ``swift.common.ring.Ring`` (or anything shaped like it:
        ``get_nodes``, ``get_more_nodes``, ``devs``, ``replica_count``)."""
        return cls(ring.get_nodes, ring.get_more_nodes,
                   devices=lambda: [d for d in ring.devs if d],
                   local=local, replica_count=ring.replica_count)

    def is_local(self, dev):
        """True when the local hint names this device or its server."""
        ip, port = dev.get('ip'), dev.get('port')
        return bool(self.local & {dev.get('id'), ip, '%s:%s' % (ip, port),
                                  '[%s]:%s' % (ip, port)})

    def server(self, dev, partition=None):
        return Server(ip=dev['ip'], port=int(dev['port']),
                      device=dev['device'], id=dev.get('id'),
                      partition=partition, local=self.is_local(dev))

    def candidates(self, path):
        """The primaries holding ``path`` (a SwiftPath), local first."""
        partition, devs = self.get_nodes(path.account, path.container,
                                         path.obj)
        servers = [self.server(d, partition) for d in devs]
        return tuple(sorted(servers, key=lambda s: not s.local))

    def servers(self):
        """Every object server as a list of its devices, in a stable order
        (None when the view has no device list). Zero-weight devices are
        left out."""
        if self.devices is None:
            return None
        by_server = {}
        for dev in sorted(self.devices(),
                          key=lambda d: (d['ip'], d['port'], d['device'])):
            if dev.get('weight', 1) == 0:
                continue
            by_server.setdefault((dev['ip'], dev['port']), []).append(dev)
        return list(by_server.values())

    def spread(self, index, wanted):
        """Candidates for the ``index``-th node without an attach object:
        ``wanted`` different servers, starting at server ``index`` (round
        robin), each server's devices taken in turn as well."""
        servers = self.servers()
        count = min(wanted, len(servers))
        found = []
        for j in range(count):
            slot = index + j
            devs = servers[slot % len(servers)]
            found.append(self.server(devs[(slot // len(servers))
                                          % len(devs)]))
        return tuple(found)


def load_swift_ring(swift_dir, ring_name='object', local=()):
    """Load a Swift ring (``<swift_dir>/<ring_name>.ring.gz``) as a
    :class:`RingView`. Needs the ``swift`` package."""
    from swift.common.ring import Ring
    return RingView.from_swift_ring(Ring(swift_dir, ring_name=ring_name),
                                    local)


def place(plan, ring):
    """Return a copy of ``plan`` whose nodes have their ``candidates``.

    A node with ``replicate`` copies needs that many different servers
    among its candidates (:func:`copy_candidates` deals them out).

    :param ring: a :class:`RingView`.
    :raises JobError: (400) when it has fewer.
    """
    can_spread = bool(ring.servers())
    wanted = int(math.ceil(ring.replica_count or DEFAULT_SPREAD_CANDIDATES))
    spread = 0
    nodes = []
    for node in plan.nodes:
        if node.attach is not None:
            found = ring.candidates(node.attach)
        elif can_spread:
            found = ring.spread(spread, max(wanted, node.replicate))
            spread += 1
        else:
            _partition, devs = ring.get_nodes(plan.account, '.zerocloud',
                                              node.name)
            found = tuple(ring.server(d) for d in devs)
        servers = {(s.ip, s.port) for s in found}
        if len(servers) < node.replicate:
            raise JobError(
                'group %s: replicate %d: node %s can run on only %d '
                'object server%s (%s)' % (
                    quote(node.group), node.replicate, quote(node.name),
                    len(servers), '' if len(servers) == 1 else 's',
                    'those holding %s' % node.attach.url
                    if node.attach is not None else "the ring's servers"))
        nodes.append(dataclasses.replace(node, candidates=found))
    return dataclasses.replace(plan, nodes=_balance_gang(_colocate(nodes)))


def _server_key(server):
    return (server.ip, server.port)


def _colocate(nodes):
    """ZeroCloud's ``location`` hint, best effort: the nodes of every
    location share one first-choice server.  It is the server that holds
    the objects of most of the location's placed nodes (nodes with an
    attach object can run only where it is); the others keep their own
    first choices.  Nodes without an object may run anywhere: they get it
    first too.  Failover may still move a node away; the report says
    which nodes ran together (``colocated``)."""
    nodes = list(nodes)
    members = {}
    for index, node in enumerate(nodes):
        if node.location is not None:
            members.setdefault(node.location, []).append(index)
    for indexes in members.values():
        if len(indexes) < 2:
            continue
        attached = [nodes[i] for i in indexes if nodes[i].attach is not None]
        voters = attached or [nodes[i] for i in indexes]
        votes, order, device = {}, [], {}
        for node in voters:
            for server in node.candidates:
                key = _server_key(server)
                if key not in order:
                    order.append(key)
                    device[key] = server
            for key in {_server_key(s) for s in node.candidates}:
                votes[key] = votes.get(key, 0) + 1
        if not order:
            continue
        best = max(order, key=lambda k: votes[k])   # the first of the most
        for i in indexes:
            node = nodes[i]
            first = [s for s in node.candidates if _server_key(s) == best]
            rest = [s for s in node.candidates if _server_key(s) != best]
            if not first and node.attach is None:
                first = [dataclasses.replace(device[best], partition=None)]
            nodes[i] = dataclasses.replace(node,
                                           candidates=tuple(first + rest))
    return tuple(nodes)


def _balance_gang(nodes):
    """The first choices of the nodes joined by pipes, spread over their
    candidates' servers as evenly as they allow.

    A gang's nodes must all be admitted at once, each on one of its
    candidates; each node taking its primary, an unlucky hashing sent most
    of a 15-node MapReduce to one server (8 places asked of its 6), whose
    overflow found the second replica's server full too, while the third
    stayed nearly idle: the job was refused as busy on an idle cluster,
    every time.  Greedily, in plan order, each node (but those with a
    ``location``, which keep theirs) now takes first the least loaded of
    its candidates' servers, the earlier candidate on a tie; the others
    stay behind it, in order, for failover."""
    nodes = list(nodes)
    load = collections.Counter()
    gang = [i for i, node in enumerate(nodes)
            if any(c.kind == 'pipe' for c in node.channels)
            and node.candidates]
    for i in gang:
        if nodes[i].location is not None:
            load[_server_key(nodes[i].candidates[0])] += 1
    for i in gang:
        node = nodes[i]
        if node.location is not None:
            continue
        keys = []
        for server in node.candidates:
            if _server_key(server) not in keys:
                keys.append(_server_key(server))
        best = min(keys, key=lambda k: (load[k], keys.index(k)))
        load[best] += 1
        if best != keys[0]:
            nodes[i] = dataclasses.replace(node, candidates=tuple(
                [s for s in node.candidates if _server_key(s) == best]
                + [s for s in node.candidates if _server_key(s) != best]))
    return tuple(nodes)


def copy_candidates(candidates, copies):
    """The candidates of each copy of a replicated node: the servers, in
    the order they first appear, are dealt to the copies in turn (copy
    ``i`` gets the ``i``-th, the ``i + copies``-th...), each with all its
    devices among the candidates; so two copies never run on the same
    server, and a copy that fails over moves to its own next candidate,
    never to another copy's."""
    order = []
    for server in candidates:
        if (server.ip, server.port) not in order:
            order.append((server.ip, server.port))
    return [tuple(s for s in candidates
                  if order.index((s.ip, s.port)) % copies == i)
            for i in range(copies)]
