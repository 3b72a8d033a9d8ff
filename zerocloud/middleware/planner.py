# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The planner: turn a parsed job into a :class:`~.plan.Plan` of nodes.

Pure: listings and rings come in as data, so the proxy passes authorized
Swift listings and a real ring while tests pass dicts and fakes.

Expansion rules (the user's view is in ``doc/job_format.rst``):

* A ``*`` in a readable path makes one node per matching object, named
  ``NAME-1`` .. ``NAME-N`` in listing order. ``*`` matches any text, ``/``
  included, and a pattern matches the *whole* name (``*.txt`` never matches
  ``a.txt.bak``). The container may hold ``*`` too: containers are matched
  in account-listing order, then objects in each. Pseudo-directories
  (``subdir`` entries, names ending in ``/``, ``application/directory``
  markers) are skipped. No match is a 400 naming the path.
* ``count: N`` makes ``NAME-1`` .. ``NAME-N``; a bare ``NAME`` when N is 1
  or absent.
* Each ``*`` of an output path is replaced by the text the input's
  corresponding ``*`` matched, or by the node name in a count-based group.
* Pipes come from :func:`zerocloud.middleware.wiring.wire`.
* The attach object: the device named by ``attach``; by default the first
  readable object, else the first written object, else none (the node may
  run anywhere; placement spreads such nodes evenly).
* ``argv`` is ``exec.name`` (default: the node name) then ``exec.args``.

A *lister* is a callable ``lister(account, container=None, prefix='')``:
with a container it returns that container's objects, without one the
account's containers, in listing order, as names or Swift JSON listing
entries (dicts with ``name``, or ``subdir``); an iterable, read only as
far as needed (a wildcard that matches more than ``max_nodes`` objects
stops the listing there).  ``prefix`` is the text before a pattern's first
``*``: a lister may return only names that start with it (Swift's
``prefix=``); other names are skipped anyway.  It raises
:class:`LookupError` (e.g. ``KeyError``) for a container or account that
does not exist; other errors (e.g. 403 from an authorized listing) go
through to the caller.  :func:`dict_lister` builds one from a dict.
"""
import dataclasses

from zerocloud.config import JobLimits
from zerocloud.exceptions import JobError
from zerocloud.job import SCRIPT_ALIAS
from zerocloud.paths import (SWIFT_NAME_LIMITS, ImagePath, SwiftPath,
                             ZvmPath, quote)
from zerocloud.middleware.placement import place
from zerocloud.middleware.plan import Channel, Plan, PlanNode
from zerocloud.middleware.wiring import wire

__all__ = ['attach_object', 'build_plan', 'expand', 'dict_lister',
           'match_glob', 'needs_listing', 'script_node']


def match_glob(pattern, name):
    """Match ``name`` against ``pattern`` where ``*`` stands for any text.

    The whole name must match. Returns the texts the ``*`` matched (earlier
    stars take the shortest text that lets the rest match), or None. Runs in
    O(len(pattern) * len(name)): no backtracking blow-up on hostile globs.
    """
    parts = pattern.split('*')
    if len(parts) == 1:
        return () if pattern == name else None
    head, tail = parts[0], parts[-1]
    if len(head) + len(tail) > len(name) or not name.startswith(head) \
            or not name.endswith(tail):
        return None
    end = len(name) - len(tail)
    pos = len(head)
    captures = []
    for literal in parts[1:-1]:
        found = name.find(literal, pos, end)
        if found < 0:
            return None
        captures.append(name[pos:found])
        pos = found + len(literal)
    captures.append(name[pos:end])
    return tuple(captures)


def _entry_name(entry):
    """The object/container name of a listing entry, None to skip it."""
    if isinstance(entry, dict):
        if 'subdir' in entry or 'name' not in entry:
            return None
        if entry.get('content_type') == 'application/directory':
            return None
        entry = entry['name']
    if not isinstance(entry, str) or not entry or entry.endswith('/'):
        return None
    return entry


def _list(lister, account, container=None, prefix=''):
    """The names of a listing that start with ``prefix``, lazily; none
    when the account or container does not exist."""
    try:
        for entry in lister(account, container, prefix=prefix) or ():
            name = _entry_name(entry)
            if name is not None and name.startswith(prefix):
                yield name
    except LookupError:
        return


def dict_lister(listing):
    """Make a lister from a dict.

    Keys are ``ACCOUNT`` (value: its containers), ``ACCOUNT/CONTAINER`` or
    just ``CONTAINER`` (value: its objects; the longer key wins).
    """
    def lister(account, container=None, prefix=''):
        if container is None:
            names = listing[account]
        else:
            key = '%s/%s' % (account, container)
            names = listing[key] if key in listing else listing[container]
        return [n for n in names if _entry_name(n) is None
                or _entry_name(n).startswith(prefix)]
    return lister


def needs_listing(job):
    """True when planning ``job`` needs a lister (a readable ``*``)."""
    return any(g.wildcard_device is not None for g in job.groups)


def _matches(group, dev, lister, limit, max_nodes):
    """[(SwiftPath, captures)] for the wildcard device ``dev``."""
    pattern = dev.path
    where = 'group %s: device %s: path %s' % (
        quote(group.name), quote(dev.name), quote(pattern.url))
    if lister is None:
        raise JobError('%s: a wildcard needs a container listing to expand'
                       % where)
    if '*' in pattern.container:
        containers = []
        for name in _list(lister, pattern.account,
                          prefix=pattern.container.split('*')[0]):
            caught = match_glob(pattern.container, name)
            if caught is not None:
                containers.append((name, caught))
    else:
        containers = [(pattern.container, ())]
    found = []
    for container, caught in containers:
        for name in _list(lister, pattern.account, container,
                          prefix=pattern.obj.split('*')[0]):
            more = match_glob(pattern.obj, name)
            if more is None:
                continue
            found.append((SwiftPath(pattern.account, container, name),
                          caught + more))
            if len(found) > limit:
                raise JobError('%s matches more than the %d nodes left '
                               'under the limit of %d'
                               % (where, limit, max_nodes))
    if not found:
        raise JobError('%s: no object matches' % where)
    return found


def _substitute(path, texts, where):
    """Replace the ``*`` of ``path`` in order with ``texts`` (the last text
    repeats: a count-based node passes just its name)."""
    used = [0]

    def fill(part):
        pieces = part.split('*')
        result = pieces[0]
        for piece in pieces[1:]:
            result += texts[min(used[0], len(texts) - 1)] + piece
            used[0] += 1
        return result

    container, obj = fill(path.container), fill(path.obj)
    url = 'swift://%s/%s/%s' % (path.account, container, obj)
    if '/' in container or not container or not obj:
        raise JobError('%s: %s is not a valid object path'
                       % (where, quote(url)))
    for label, value in (('container', container), ('object', obj)):
        if len(value.encode('utf-8')) > SWIFT_NAME_LIMITS[label]:
            raise JobError('%s: %s: %s name longer than %d bytes'
                           % (where, quote(url), label,
                              SWIFT_NAME_LIMITS[label]))
    return SwiftPath(path.account, container, obj)


def _instances(group, lister, budget, max_nodes):
    """[(node name, index, matched path or None, captures)] of a group."""
    wild = group.wildcard_device
    if wild is not None:
        return [('%s-%d' % (group.name, i), i, path, caught)
                for i, (path, caught) in enumerate(
                    _matches(group, wild, lister, budget, max_nodes), 1)]
    count = group.count or 1
    if count > budget:
        raise JobError('group %s: count %d is more than the %d nodes left '
                       'under the limit of %d' % (quote(group.name), count,
                                                  budget, max_nodes))
    if count == 1:
        return [(group.name, 1, None, None)]
    return [('%s-%d' % (group.name, i), i, None, None)
            for i in range(1, count + 1)]


def _device_channels(group, dev, name, matched, caught):
    """The channel of one declared device on node ``name`` (or None when a
    pipe will provide it)."""
    alias = '/dev/' + dev.name
    if dev.system_image:
        return Channel(alias, 'r', 'image', dev.name)
    if dev.access == 'r':
        if dev.path is None:
            return None
        path = matched if dev is group.wildcard_device else dev.path
        return Channel(alias, 'r', 'object', dev.name, path=path)
    if isinstance(dev.path, ZvmPath):
        return None
    extra = dict(content_type=dev.content_type, meta=dev.meta,
                 min_size=dev.min_size)
    if dev.path is None:
        return Channel(alias, 'w', 'response', dev.name, **extra)
    path = dev.path
    if path.wildcards:
        where = 'group %s: device %s: path %s' % (
            quote(group.name), quote(dev.name), quote(path.url))
        path = _substitute(path, caught or (name,), where)
    return Channel(alias, 'w', 'object', dev.name, path=path, **extra)


def _attach(group, channels):
    """The object a node runs beside: ``attach``'s, else
    :func:`attach_object`'s choice."""
    if group.attach is not None:
        for chan in channels:
            if chan.kind == 'object' and chan.device == group.attach:
                return chan.path
    return attach_object(channels)


def attach_object(channels, usable=None):
    """The object among ``channels`` a node is placed by: its first
    readable object other than a ``script`` (a program's source is small,
    its data is not: ZeroCloud never placed a node by its script), else
    its script, else its first written object; only objects whose path
    ``usable(path)`` accepts (all by default), else None."""
    objects = [c for c in channels if c.kind == 'object'
               and (usable is None or usable(c.path))]
    for wanted in (lambda c: c.direction == 'r' and c.device != 'script',
                   lambda c: c.direction == 'r',
                   lambda c: c.direction == 'w'):
        for chan in objects:
            if wanted(chan):
                return chan.path
    return None


def expand(job, lister=None, limits=None):
    """Expand ``job`` into a :class:`Plan` (without placement).

    :param lister: see the module docstring; may be None for a job without
        wildcards.
    :param limits: a :class:`zerocloud.config.JobLimits`.
    :raises JobError: (400) on no match, too many nodes or channels, a node
        name used twice, an output object written twice, unpairable pipes.
    """
    limits = limits or JobLimits()
    per_group = _expand_groups(job, lister, limits)
    names = {group.name: [i[0] for i in instances]
             for group, instances in per_group}
    pipes = wire(job, names, limits.max_channels)
    nodes = tuple(_make_node(group, instance, pipes.get(instance[0], ()))
                  for group, instances in per_group
                  for instance in instances)
    _check_channels(nodes, limits)
    _check_outputs(nodes)
    return Plan(job.account, nodes)


def _expand_groups(job, lister, limits):
    """[(group, instances)]: every group's nodes, names checked unique."""
    per_group = []
    taken = {}
    total = 0
    for group in job.groups:
        instances = _instances(group, lister, limits.max_nodes - total,
                               limits.max_nodes)
        total += len(instances)
        for name, _index, _path, _caught in instances:
            if name in taken:
                raise JobError('group %s: node name %s is already used by '
                               'group %s' % (quote(group.name), quote(name),
                                             quote(taken[name])))
            taken[name] = group.name
        per_group.append((group, instances))
    return per_group


def _make_node(group, instance, pipes):
    name, index, matched, caught = instance
    channels = [c for c in (
        _device_channels(group, dev, name, matched, caught)
        for dev in group.devices) if c is not None]
    channels.extend(_implicit_image(group, channels))
    channels.extend(pipes)
    channels.sort(key=_channel_rank)
    exe = group.exec
    attach = _attach(group, channels)
    return PlanNode(
        name=name, group=group.name, index=index, exec=exe.path,
        argv=(exe.name or name,) + exe.args, env=exe.env,
        channels=tuple(channels), attach=attach,
        outputs=tuple(c.path for c in channels
                      if c.kind == 'object' and c.direction == 'w'),
        listed=attach is not None and attach == matched,
        replicate=group.replicate, location=group.location)


def _check_channels(nodes, limits):
    total = sum(len(n.channels) for n in nodes)
    if total > limits.max_channels:
        raise JobError('job has %d channels, more than the limit of %d'
                       % (total, limits.max_channels))


def _check_outputs(nodes):
    """Two nodes never write the same object."""
    writers = {}
    for node in nodes:
        for out in node.outputs:
            if out in writers:
                raise JobError('group %s: node %s writes %s, which node %s '
                               'writes too' % (
                                   quote(node.group), quote(node.name),
                                   quote(out.url), quote(writers[out])))
            writers[out] = node.name


_DEVICE_RANK = {name: rank for rank, name in enumerate(
    ('stdin', 'stdout', 'stderr', 'input', 'output', 'image', 'script'))}


def _channel_rank(channel):
    """Sort key of a node's channels: standard devices in a fixed order,
    then system images, then connect pipes (out, then in). Stable."""
    if channel.device in _DEVICE_RANK:
        return _DEVICE_RANK[channel.device]
    return {'out': 7, 'in': 8}.get(channel.device, 6)


def _implicit_image(group, channels):
    """A system image the program lives in is mounted even if the group
    does not list it as a device."""
    exe = group.exec.path
    if isinstance(exe, ImagePath) and exe.image != 'image' and \
            not any(c.device == exe.image for c in channels):
        return [Channel('/dev/' + exe.image, 'r', 'image', exe.image)]
    return []


def build_plan(job, lister=None, ring=None, limits=None):
    """Expand ``job`` and, when ``ring`` is given (a
    :class:`zerocloud.middleware.placement.RingView`), place its nodes."""
    plan = expand(job, lister, limits)
    if ring is not None:
        plan = place(plan, ring)
    return plan


def script_node(node, interpreter, argument):
    """The node of a ``#!`` script (its ``exec`` object begins with a
    ``#!`` line naming a system image, :func:`zerocloud.job.parse_shebang`):
    the interpreter runs instead, with the line's ``argument`` if any and
    the script's own bytes, readable at ``/dev/script``, then the node's
    arguments -- as a Unix kernel starts a script.  The image is mounted
    and the script is one more readable object of the node.

    :raises JobError: (400) when the node has a ``script`` device."""
    if node.channel(SCRIPT_ALIAS) is not None:
        raise JobError('group %s: exec %s is a #! script, read from %s: '
                       'the group cannot have a script device as well'
                       % (quote(node.group), quote(node.exec.url),
                          SCRIPT_ALIAS))
    argv = list(node.argv[:1]) + ([argument] if argument else []) + \
        [SCRIPT_ALIAS] + list(node.argv[1:])
    channels = list(node.channels)
    if not any(c.kind == 'image' and c.device == interpreter.image
               for c in channels):
        channels.append(Channel('/dev/' + interpreter.image, 'r', 'image',
                                interpreter.image))
    channels.append(Channel(SCRIPT_ALIAS, 'r', 'object', 'script',
                            path=node.exec))
    return dataclasses.replace(node, exec=interpreter, argv=tuple(argv),
                               channels=tuple(channels))
