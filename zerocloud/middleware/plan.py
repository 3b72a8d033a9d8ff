# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The plan of a job: its nodes, their channels and placements (plain data).

:mod:`zerocloud.middleware.planner` builds a :class:`Plan` from a job; the
proxy filter dispatches it and ``zerocloud plan`` prints it. A plan is
immutable; :func:`zerocloud.middleware.placement.place` returns a copy with
the candidate object servers filled in.

Shape, as :meth:`Plan.to_dict` gives it (``zerocloud plan --json``)::

    {"account": "AUTH_test",
     "nodes": [
       {"name": "map-1", "group": "map", "index": 1,
        "exec": "swift://AUTH_test/exec/map",
        "argv": ["map-1", "-v"], "env": {"LANG": "C"},
        "attach": "swift://AUTH_test/books/a.txt",
        "outputs": [],
        "channels": [
          {"alias": "/dev/stdin", "direction": "r", "kind": "object",
           "endpoint": "swift://AUTH_test/books/a.txt"},
          {"alias": "/dev/out/red", "direction": "w", "kind": "pipe",
           "endpoint": "zvm://red:/dev/in/map-1"}],
        "candidates": [{"ip": "10.0.0.1", "port": 6200, "device": "sdb",
                        "id": 4, "partition": 17, "local": true}]}]}

Channel kinds: ``object`` (a Swift object, read or written), ``pipe`` (to
or from another node, ``endpoint`` ``zvm://NODE:ALIAS`` names the other end),
``response`` (a path-less stdout/stderr returned in the HTTP answer,
``endpoint`` None) and ``image`` (a read-only system image).
"""
import dataclasses
from typing import Optional, Tuple

from zerocloud.paths import SwiftPath

__all__ = ['Channel', 'Server', 'PlanNode', 'Plan', 'format_plan']

KINDS = ('object', 'pipe', 'response', 'image')


@dataclasses.dataclass(frozen=True)
class Channel:
    """One file the program sees.

    ``alias`` is the guest path (``/dev/stdin``, ``/dev/in/map-3``),
    ``direction`` ``'r'`` or ``'w'``, ``device`` the device name of the job
    (``'in'``/``'out'`` for connect pipes). ``path`` is set for objects,
    ``peer`` (node name) and ``peer_alias`` for pipes.
    """

    alias: str
    direction: str
    kind: str
    device: str
    path: Optional[SwiftPath] = None
    peer: Optional[str] = None
    peer_alias: Optional[str] = None
    content_type: Optional[str] = None
    meta: Tuple[Tuple[str, str], ...] = ()
    min_size: int = 0

    @property
    def endpoint(self):
        """The other end as text: a swift:// URL, ``zvm://NODE:ALIAS``,
        ``file://IMAGE:/`` for a system image, or None (the response)."""
        if self.kind == 'object':
            return self.path.url
        if self.kind == 'pipe':
            return 'zvm://%s:%s' % (self.peer, self.peer_alias)
        if self.kind == 'image':
            return 'file://%s:/' % self.device
        return None

    def to_dict(self):
        result = {'alias': self.alias, 'direction': self.direction,
                  'kind': self.kind, 'endpoint': self.endpoint}
        if self.direction == 'w' and self.kind in ('object', 'response'):
            result.update(content_type=self.content_type,
                          meta=dict(self.meta), min_size=self.min_size)
        return result


@dataclasses.dataclass(frozen=True)
class Server:
    """A candidate object server (one ring device) for a node."""

    ip: str
    port: int
    device: str
    id: Optional[int] = None
    partition: Optional[int] = None
    local: bool = False

    @property
    def address(self):
        if ':' in self.ip:
            return '[%s]:%d' % (self.ip, self.port)
        return '%s:%d' % (self.ip, self.port)

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PlanNode:
    """One sandbox run: a program, its argv and env, its channels.

    ``attach`` is the object the node is co-located with (None: any
    server), ``outputs`` the objects it writes, ``candidates`` the object
    servers that may run it, best first (empty until placed).
    """

    name: str
    group: str
    index: int
    exec: object
    argv: Tuple[str, ...]
    env: Tuple[Tuple[str, str], ...]
    channels: Tuple[Channel, ...]
    attach: Optional[SwiftPath] = None
    outputs: Tuple[SwiftPath, ...] = ()
    candidates: Tuple[Server, ...] = ()
    #: ``attach`` came from a container listing (a wildcard match), which
    #: already says that it exists.
    listed: bool = False
    #: How many servers run the node (``replicate``): the copies' results
    #: must agree (doc/job_format.rst, *Replicated nodes*).
    replicate: int = 1
    #: The group's ``location`` hint (None: none).
    location: Optional[str] = None

    def channel(self, alias):
        """The channel with guest path ``alias``, or None."""
        for chan in self.channels:
            if chan.alias == alias:
                return chan
        return None

    def to_dict(self):
        return {
            'name': self.name, 'group': self.group, 'index': self.index,
            'exec': self.exec.url, 'argv': list(self.argv),
            'env': dict(self.env),
            'attach': self.attach.url if self.attach else None,
            'outputs': [p.url for p in self.outputs],
            'channels': [c.to_dict() for c in self.channels],
            'candidates': [s.to_dict() for s in self.candidates],
            'replicate': self.replicate, 'location': self.location}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every node of a job, in job order then node order."""

    account: str
    nodes: Tuple[PlanNode, ...]

    def node(self, name):
        """The node called ``name``, or None."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    @property
    def outputs(self):
        """Every object the job writes, in node order."""
        return tuple(p for n in self.nodes for p in n.outputs)

    @property
    def channel_count(self):
        return sum(len(n.channels) for n in self.nodes)

    def to_dict(self):
        return {'account': self.account,
                'nodes': [n.to_dict() for n in self.nodes]}


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in rows]


def format_plan(plan):
    """Render a plan as readable text: a summary line, a table of nodes,
    then each node's argv and channels."""
    lines = ['plan for account %s: %s, %s, %s' % (
        plan.account, _count(len(plan.nodes), 'node'),
        _count(plan.channel_count, 'channel'),
        _count(len(plan.outputs), 'output')), '']
    copies = any(n.replicate > 1 for n in plan.nodes)
    rows = [('NODE', 'GROUP', 'EXEC', 'ATTACH', 'CANDIDATES')
            + (('COPIES',) if copies else ())]
    for node in plan.nodes:
        servers = ','.join(s.address + '/' + s.device
                           for s in node.candidates) or '-'
        rows.append((node.name, node.group, node.exec.url,
                     node.attach.url if node.attach else '-', servers)
                    + ((str(node.replicate),) if copies else ()))
    lines.extend(_table(rows))
    for node in plan.nodes:
        lines.append('')
        lines.append('%s: argv %s' % (node.name, ' '.join(
            _shell_word(a) for a in node.argv)))
        if node.env:
            lines.append('  env ' + ' '.join(
                '%s=%s' % (k, _shell_word(v)) for k, v in node.env))
        rows = [('  ' + c.direction, c.alias, c.kind,
                 c.endpoint or '-') for c in node.channels]
        if rows:
            lines.extend(_table(rows))
    return '\n'.join(lines) + '\n'


def _count(number, noun):
    return '%d %s%s' % (number, noun, '' if number == 1 else 's')


def _shell_word(text):
    if text and all(c.isalnum() or c in '-_./:=,@%+' for c in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"
