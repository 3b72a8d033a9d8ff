# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Channel wiring: the pipes between the nodes of an expanded job.

Two things make pipes, both one way (the writer's end is ``w``, the reader's
``r``):

* ``A.connect = [B]``: every node ``a`` of A gets a writable ``/dev/out/<b>``
  and every node ``b`` of B a readable ``/dev/in/<a>``, for every pair with
  ``a != b`` (a node never connects to itself, so a group connecting to
  itself makes a mesh of its nodes).
* a writable device whose path is ``zvm://G:DEVICE``: node *i* of the group
  writes its device into ``DEVICE`` of node *i* of group G. Both groups must
  have as many nodes (one writer per reader; ``job.py`` already refused
  pipes into a device with a path, a device fed twice and cycles).

Pure: plain data in (the job and the node names of each group), channels out.
"""
from zerocloud.exceptions import JobError
from zerocloud.middleware.plan import Channel
from zerocloud.paths import ZvmPath, quote

__all__ = ['wire']


def wire(job, names, max_channels):
    """Make the pipe channels of an expanded job.

    :param job: a :class:`zerocloud.job.Job`.
    :param names: ``{group name: [node names, in order]}``.
    :param max_channels: most pipe ends the job may have.
    :returns: ``{node name: [Channel, ...]}`` for the nodes that have pipes,
        in a deterministic order (job order, then node order).
    :raises JobError: (400) when a pipe cannot be paired or the job would
        have more than ``max_channels`` pipe ends.
    """
    _check_size(job, names, max_channels)
    pipes = {}
    for group in job.groups:
        for dev in group.devices:
            if isinstance(dev.path, ZvmPath):
                _wire_device(group, dev, names, pipes)
    for group in job.groups:
        for target in group.connect:
            _wire_connect(names[group.name], names[target], pipes)
    return pipes


def _check_size(job, names, max_channels):
    total = 0
    for group in job.groups:
        sources = len(names[group.name])
        for dev in group.devices:
            if isinstance(dev.path, ZvmPath):
                total += 2 * sources
        for target in group.connect:
            total += 2 * sources * len(names[target])
    if total > max_channels:
        raise JobError('job would wire %d pipe ends, more than the limit of '
                       '%d channels' % (total, max_channels))


def _add(pipes, node, channel):
    pipes.setdefault(node, []).append(channel)


def _wire_device(group, dev, names, pipes):
    sources = names[group.name]
    targets = names[dev.path.node]
    if len(sources) != len(targets):
        raise JobError(
            'group %s: device %s: path %s pairs nodes one to one, but %s '
            'has %d nodes and %s has %d' % (
                quote(group.name), quote(dev.name), quote(dev.path.url),
                quote(group.name), len(sources), quote(dev.path.node),
                len(targets)))
    out_alias = '/dev/' + dev.name
    in_alias = '/dev/' + dev.path.device
    for source, target in zip(sources, targets):
        _add(pipes, source, Channel(
            out_alias, 'w', 'pipe', dev.name, peer=target,
            peer_alias=in_alias, content_type=dev.content_type,
            meta=dev.meta, min_size=dev.min_size))
        _add(pipes, target, Channel(
            in_alias, 'r', 'pipe', dev.path.device, peer=source,
            peer_alias=out_alias))


def _wire_connect(sources, targets, pipes):
    for source in sources:
        for target in targets:
            if source == target:
                continue
            _add(pipes, source, Channel(
                '/dev/out/' + target, 'w', 'pipe', 'out', peer=target,
                peer_alias='/dev/in/' + source))
            _add(pipes, target, Channel(
                '/dev/in/' + source, 'r', 'pipe', 'in', peer=source,
                peer_alias='/dev/out/' + target))
