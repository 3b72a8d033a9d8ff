# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The job description: parse and validate a POSTed job into plain data.

A job is a JSON array of node *groups* (the format is documented for users in
``doc/job_format.rst``)::

    [{"name": "sort",
      "exec": {"path": "swift://~/exec/sort", "args": "1048576"},
      "devices": [
          {"name": "stdin", "path": "swift://~/data/binary*.data"},
          {"name": "stdout", "path": "swift://~/data/sorted*.data"},
          {"name": "stderr"}]}]

:func:`parse_job` turns the request body into a :class:`Job` of
:class:`Group`, :class:`Exec` and :class:`Device` objects, or raises
:class:`~zerocloud.exceptions.JobError` whose ``status`` is the HTTP status
to answer (400 bad job, 413 too large, 422 not JSON) and whose message names
the group and field: ``group "map": device "stdin": path must be
swift://account/container/object``.

Everything that can be checked without listing containers is checked here,
across groups too (names, connect targets, ``zvm://`` pipes and their
cycles); wildcard expansion and channel wiring are the planner's job
(:mod:`zerocloud.middleware.planner`). This module is pure: no I/O.

ZeroCloud's older spellings are accepted: ``file_list`` for ``devices`` and
``device`` for a device's ``name``; so is its ``mode`` (device) hint,
which zerocloud does not use.  Its ``location`` (group) hint asks for the
nodes of every group naming the same location to run on one server, as
far as their objects allow (:mod:`zerocloud.middleware.placement`).
"""
import dataclasses
import json
import re
import shlex
from typing import Optional, Tuple, Union

from zerocloud.config import JobLimits
from zerocloud.exceptions import JobError
from zerocloud.paths import (NAME_RE, SWIFT_NAME_LIMITS, AnyPath, ImagePath,
                             SwiftPath, ZvmPath, check_text, parse_path,
                             quote)

# The path types and helpers are re-exported: zerocloud.job is where users
# of the job model look for them.
__all__ = ['READABLE_DEVICES', 'WRITABLE_DEVICES', 'RESPONSE_DEVICES',
           'PIPE_TARGET_DEVICES', 'MAX_NAME_LENGTH', 'Exec', 'Device',
           'Group', 'Job', 'parse_job', 'parse_job_data', 'load_json',
           'SwiftPath', 'ImagePath', 'ZvmPath', 'parse_path', 'quote',
           'SWIFT_NAME_LIMITS', 'parse_shebang', 'SCRIPT_ALIAS',
           'SHEBANG_MAX', 'MAX_REPLICATE']

#: Devices a program reads.
READABLE_DEVICES = ('stdin', 'input', 'image', 'script')
#: Devices a program writes.
WRITABLE_DEVICES = ('stdout', 'stderr', 'output')
#: Writable devices that may go without a path: their bytes are returned in
#: the HTTP response.
RESPONSE_DEVICES = ('stdout', 'stderr')
#: Readable devices another group's writable device may pipe into.
PIPE_TARGET_DEVICES = ('stdin', 'input')

#: Most copies of a node ``replicate`` may ask for (ZeroCloud's 2 and 3).
MAX_REPLICATE = 3

#: Longest group name; node names add ``-N`` to it.
MAX_NAME_LENGTH = 128

_ENV_KEY_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_META_KEY_RE = re.compile(r'[A-Za-z0-9_-]+')
_DEVICE_MODES = ('file', 'char', 'pipe', 'block')

_GROUP_KEYS = frozenset(['name', 'exec', 'devices', 'file_list', 'count',
                         'connect', 'attach', 'replicate', 'location'])
_EXEC_KEYS = frozenset(['path', 'args', 'env', 'name'])
_DEVICE_KEYS = frozenset(['name', 'device', 'path', 'content_type', 'meta',
                          'min_size', 'mode'])
_MISPLACED = {'args': 'belongs in "exec"', 'env': 'belongs in "exec"'}


# --- the model ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Exec:
    """The program of a group: its path, argv tail, environment, argv[0]."""

    path: Union[SwiftPath, ImagePath]
    args: Tuple[str, ...] = ()
    env: Tuple[Tuple[str, str], ...] = ()
    name: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Device:
    """One device (channel) of a group, as declared."""

    name: str
    access: str                      # 'r' or 'w'
    path: Optional[AnyPath] = None
    content_type: Optional[str] = None
    meta: Tuple[Tuple[str, str], ...] = ()
    min_size: int = 0
    system_image: bool = False

    @property
    def is_wildcard(self):
        return isinstance(self.path, SwiftPath) and self.path.wildcards > 0


@dataclasses.dataclass(frozen=True)
class Group:
    """One element of the job array: a program and how many copies of it
    run (``count``, or one per object matched by a wildcard)."""

    name: str
    exec: Exec
    devices: Tuple[Device, ...] = ()
    count: Optional[int] = None
    connect: Tuple[str, ...] = ()
    attach: Optional[str] = None
    replicate: int = 1
    #: ZeroCloud's co-location hint: nodes of groups with the same
    #: location run on one server where they can.
    location: Optional[str] = None

    def device(self, name):
        """The device called ``name``, or None."""
        for dev in self.devices:
            if dev.name == name:
                return dev
        return None

    @property
    def wildcard_device(self):
        """The readable device whose path has ``*``, or None."""
        for dev in self.devices:
            if dev.access == 'r' and dev.is_wildcard:
                return dev
        return None

    @property
    def is_multi(self):
        """True when the group may expand to more than one node."""
        return self.wildcard_device is not None or (self.count or 1) > 1


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated job: the caller's account and the groups, in order."""

    account: str
    groups: Tuple[Group, ...]

    def group(self, name):
        """The group called ``name``, or None."""
        for group in self.groups:
            if group.name == name:
                return group
        return None


# --- parsing --------------------------------------------------------------

def _reject_constant(name):
    raise ValueError('%s is not valid JSON' % name)


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise JobError('duplicate key %s in a JSON object' % quote(key))
        result[key] = value
    return result


#: Digits of the longest integer a job description may hold (no limit or
#: count comes near; Python refuses to read ones past 4300 digits).
MAX_INT_DIGITS = 100


def _bounded_int(text):
    if len(text.lstrip('-')) > MAX_INT_DIGITS:
        raise JobError('a number of %d digits in a JSON value'
                       % len(text.lstrip('-')))
    return int(text)


def load_json(text, what='job description'):
    """Read JSON as a job description is read, whatever carries it (a
    POSTed job, a stored one, a template, an archive's map): a key given
    twice in one object, ``NaN`` or ``Infinity``, a number of more than
    :data:`MAX_INT_DIGITS` digits or nesting deeper than Python follows
    are faults, not something to guess about.

    :param what: names the text in messages (``boot/system.map``...).
    :raises JobError: 422 when ``text`` (str or bytes) is not UTF-8 JSON,
        400 for the faults above.
    """
    if not isinstance(text, str):
        try:
            text = bytes(text).decode('utf-8')
        except UnicodeDecodeError:
            raise JobError('%s is not UTF-8 JSON' % what, 422) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_reject_constant,
                          parse_int=_bounded_int)
    except JobError as err:
        if what == 'job description':
            raise
        raise JobError('%s: %s' % (what, err), err.status) from None
    except RecursionError:
        raise JobError('%s is nested too deeply' % what) from None
    except ValueError as err:
        raise JobError('%s is not valid JSON: %s' % (what, err), 422) \
            from None


def parse_job(body, account, limits=None):
    """Parse a request body (bytes or str) into a :class:`Job`.

    :param account: the caller's account; replaces ``~`` and ``.`` in paths.
    :param limits: a :class:`zerocloud.config.JobLimits` (defaults if None).
    :raises JobError: 413 when the body is larger than
        ``limits.max_job_bytes``, 422 when it is not JSON, 400 for every
        other fault.
    """
    limits = limits or JobLimits()
    if isinstance(body, str):
        size = len(body.encode('utf-8', 'surrogatepass'))
    elif isinstance(body, (bytes, bytearray)):
        size = len(body)
    else:
        raise TypeError('job body must be bytes or str')
    if size > limits.max_job_bytes:
        raise JobError('job description is %d bytes, more than the limit '
                       'of %d' % (size, limits.max_job_bytes), 413)
    return parse_job_data(load_json(body), account, limits)


def parse_job_data(data, account, limits=None):
    """Validate an already decoded JSON value into a :class:`Job`.

    :raises JobError: (400) naming the group and field at fault.
    """
    limits = limits or JobLimits()
    check_text(account, 'account')
    if not isinstance(data, list):
        raise JobError('job description must be a JSON array of groups')
    if not data:
        raise JobError('job description has no groups')
    if len(data) > limits.max_nodes:
        raise JobError('job has %d groups, more than the limit of %d nodes'
                       % (len(data), limits.max_nodes))
    groups = []
    seen = set()
    for index, item in enumerate(data, 1):
        group = _parse_group(item, index, account, limits)
        if group.name in seen:
            raise JobError('group %s: name: duplicate group name'
                           % quote(group.name))
        seen.add(group.name)
        groups.append(group)
    job = Job(account, tuple(groups))
    _check_job(job, limits)
    return job


def _parse_name(value, where):
    check_text(value, where)
    if len(value) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(value) \
            or not value.strip('.'):
        raise JobError('%s must be 1 to %d of A-Z a-z 0-9 _ . - (not only '
                       'dots), not %s'
                       % (where, MAX_NAME_LENGTH, quote(value)))
    return value


def _parse_group(item, index, account, limits):
    if not isinstance(item, dict):
        raise JobError('group #%d must be a JSON object' % index)
    if 'name' not in item:
        raise JobError('group #%d: name is required' % index)
    name = _parse_name(item['name'], 'group #%d: name' % index)
    where = 'group %s' % quote(name)
    for key in item:
        if key not in _GROUP_KEYS:
            hint = _MISPLACED.get(key, 'unknown field')
            raise JobError('%s: %s: %s' % (where, quote(key), hint))
    if 'exec' not in item:
        raise JobError('Must specify exec path for %s' % where)
    exe = _parse_exec(item['exec'], where, account)

    if 'devices' in item and 'file_list' in item:
        raise JobError('%s: give "devices" or its old name "file_list", '
                       'not both' % where)
    raw_devices = item.get('devices', item.get('file_list', []))
    field = 'devices' if 'devices' in item else 'file_list'
    if not isinstance(raw_devices, list):
        raise JobError('%s: %s must be a list' % (where, field))
    devices = []
    for dev_index, raw in enumerate(raw_devices, 1):
        dev = _parse_device(raw, '%s: %s #%d' % (where, field, dev_index),
                            where, account, limits)
        if any(d.name == dev.name for d in devices):
            raise JobError('%s: device %s is declared twice'
                           % (where, quote(dev.name)))
        devices.append(dev)

    count = item.get('count')
    if count is not None:
        if not isinstance(count, int) or isinstance(count, bool) \
                or count < 1:
            raise JobError('%s: count must be an integer >= 1' % where)
        if count > limits.max_nodes:
            raise JobError('%s: count %d is more than the limit of %d nodes'
                           % (where, count, limits.max_nodes))

    connect = item.get('connect', [])
    if not isinstance(connect, list):
        raise JobError('%s: connect must be a list of group names' % where)
    named = set()
    for target in connect:
        check_text(target, '%s: connect' % where)
        if target in named:
            raise JobError('%s: connect names %s twice'
                           % (where, quote(target)))
        named.add(target)

    attach = item.get('attach')
    if attach is not None:
        check_text(attach, '%s: attach' % where)
        if attach == 'default':
            attach = None

    replicate = item.get('replicate', 1)
    if type(replicate) is not int or not 1 <= replicate <= MAX_REPLICATE:
        raise JobError('%s: replicate must be 1, 2 or 3 (how many servers '
                       'run each node)' % where)
    location = item.get('location') or None
    if 'location' in item:
        check_text(item['location'], '%s: location' % where,
                   allow_empty=True)

    group = Group(name, exe, tuple(devices), count, tuple(connect), attach,
                  replicate, location)
    _check_group(group, where)
    return group


def _parse_exec(raw, where, account):
    if not isinstance(raw, dict):
        raise JobError('%s: exec must be a JSON object' % where)
    for key in raw:
        if key not in _EXEC_KEYS:
            raise JobError('%s: exec: %s: unknown field' % (where, quote(key)))
    if 'path' not in raw:
        raise JobError('Must specify exec path for %s' % where)
    path = parse_path(raw['path'], account, '%s: exec: path' % where)
    if isinstance(path, ZvmPath):
        raise JobError('%s: exec: path must be swift://account/container/'
                       'object or file://IMAGE:PATH' % where)
    if isinstance(path, SwiftPath) and path.wildcards:
        raise JobError('%s: exec: path must name one object, without "*"'
                       % where)

    args = raw.get('args', '')
    if isinstance(args, str):
        check_text(args, '%s: exec: args' % where, allow_empty=True)
        try:
            args = shlex.split(args)
        except ValueError as err:
            raise JobError('%s: exec: args: %s' % (where, err)) from None
    elif isinstance(args, list):
        for arg in args:
            check_text(arg, '%s: exec: args' % where, allow_empty=True)
    else:
        raise JobError('%s: exec: args must be a string' % where)

    env = raw.get('env', {})
    if not isinstance(env, dict):
        raise JobError('%s: exec: env must be a JSON object of strings'
                       % where)
    for key, value in env.items():
        if not _ENV_KEY_RE.fullmatch(key):
            raise JobError('%s: exec: env: bad variable name %s'
                           % (where, quote(key)))
        check_text(value, '%s: exec: env: %s' % (where, key),
                   allow_empty=True)

    name = raw.get('name')
    if name is not None:
        check_text(name, '%s: exec: name' % where)
    return Exec(path, tuple(args), tuple(env.items()), name)


def _parse_device(raw, where, group_where, account, limits):
    if not isinstance(raw, dict):
        raise JobError('%s must be a JSON object' % where)
    if 'name' in raw and 'device' in raw and raw['name'] != raw['device']:
        raise JobError('%s: give "name" or its old name "device", not both'
                       % where)
    name = raw.get('name', raw.get('device'))
    if name is None:
        raise JobError('%s: name is required' % where)
    check_text(name, '%s: name' % where)
    images = limits.system_images
    known = READABLE_DEVICES + WRITABLE_DEVICES + tuple(images)
    if name not in known:
        raise JobError('%s: unknown device %s (known: %s)'
                       % (group_where, quote(name), ', '.join(known)))
    where = '%s: device %s' % (group_where, quote(name))
    for key in raw:
        if key not in _DEVICE_KEYS:
            raise JobError('%s: %s: unknown field' % (where, quote(key)))
    is_image = name in images
    access = 'w' if name in WRITABLE_DEVICES else 'r'

    path = None
    if 'path' in raw:
        if is_image:
            raise JobError('%s: a system image has no path' % where)
        path = parse_path(raw['path'], account, '%s: path' % where)
        if isinstance(path, ImagePath) or (
                access == 'r' and isinstance(path, ZvmPath)):
            kind = ('swift://account/container/object' if access == 'r'
                    else 'swift://account/container/object or '
                    'zvm://GROUP:DEVICE')
            raise JobError('%s: path must be %s' % (where, kind))
    elif access == 'w' and name not in RESPONSE_DEVICES:
        raise JobError('%s: path is required (only stdout and stderr may be '
                       'returned in the response)' % where)

    extras = [key for key in ('content_type', 'meta', 'min_size')
              if key in raw]
    if access == 'r' and extras:
        raise JobError('%s: %s only applies to writable devices'
                       % (where, extras[0]))
    content_type = raw.get('content_type')
    if content_type is not None:
        check_text(content_type, '%s: content_type' % where)
    meta = raw.get('meta', {})
    if not isinstance(meta, dict):
        raise JobError('%s: meta must be a JSON object of strings' % where)
    for key, value in meta.items():
        if not _META_KEY_RE.fullmatch(key):
            raise JobError('%s: meta: bad key %s' % (where, quote(key)))
        check_text(value, '%s: meta: %s' % (where, key), allow_empty=True)
    min_size = raw.get('min_size', 0)
    if not isinstance(min_size, int) or isinstance(min_size, bool) \
            or min_size < 0:
        raise JobError('%s: min_size must be an integer >= 0' % where)
    mode = raw.get('mode')
    if mode is not None and mode not in _DEVICE_MODES:
        raise JobError('%s: mode must be one of %s'
                       % (where, ', '.join(_DEVICE_MODES)))
    return Device(name, access, path, content_type, tuple(meta.items()),
                  min_size, is_image)


def _check_group(group, where):
    """Rules inside one group: wildcards, counts and output paths."""
    wild_in = [d for d in group.devices if d.access == 'r' and d.is_wildcard]
    if len(wild_in) > 1:
        raise JobError('%s: only one readable device may have "*" (%s and '
                       '%s both do)' % (where, quote(wild_in[0].name),
                                        quote(wild_in[1].name)))
    wild = wild_in[0] if wild_in else None
    if wild is not None and group.count is not None:
        raise JobError('%s: count cannot be combined with the wildcard in '
                       'device %s' % (where, quote(wild.name)))
    for dev in group.devices:
        if dev.access != 'w' or not isinstance(dev.path, SwiftPath):
            continue
        dev_where = '%s: device %s: path' % (where, quote(dev.name))
        stars = dev.path.wildcards
        if group.is_multi and not stars:
            raise JobError('%s: single output path %s for a group of many '
                           'nodes; put a "*" in it'
                           % (dev_where, quote(dev.path.url)))
        if wild is not None and stars and stars != wild.path.wildcards:
            raise JobError('%s has %d "*" but the input %s has %d'
                           % (dev_where, stars, quote(wild.path.url),
                              wild.path.wildcards))
    if group.attach is not None:
        dev = group.device(group.attach)
        if dev is None:
            raise JobError('%s: attach: no device %s in this group'
                           % (where, quote(group.attach)))
        if not isinstance(dev.path, SwiftPath):
            raise JobError('%s: attach: device %s has no swift:// path'
                           % (where, quote(group.attach)))


def _check_job(job, limits):
    """Rules across groups: connect targets, pipes, images, node count."""
    fed = {}
    for group in job.groups:
        where = 'group %s' % quote(group.name)
        for target in group.connect:
            if job.group(target) is None:
                raise JobError('%s: connect: no group named %s'
                               % (where, quote(target)))
        exe = group.exec.path
        if isinstance(exe, ImagePath):
            if exe.image == 'image':
                if group.device('image') is None:
                    raise JobError('%s: exec: path %s needs an "image" '
                                   'device' % (where, quote(exe.url)))
            elif exe.image not in limits.system_images:
                raise JobError('%s: exec: path: unknown system image %s'
                               % (where, quote(exe.image)))
        for dev in group.devices:
            if isinstance(dev.path, ZvmPath):
                _check_pipe(job, group, dev, fed)
    for group in job.groups:
        for dev in group.devices:
            if dev.access == 'r' and dev.path is None \
                    and not dev.system_image \
                    and (group.name, dev.name) not in fed:
                raise JobError('group %s: device %s: path is required'
                               % (quote(group.name), quote(dev.name)))
    _check_pipe_cycles(job)
    _check_replicated(job)
    total = sum(g.count or 1 for g in job.groups)
    if total > limits.max_nodes:
        raise JobError('job has at least %d nodes, more than the limit of %d'
                       % (total, limits.max_nodes))


def _check_replicated(job):
    """Copies of a node run apart and are compared at the end; a node
    joined to others by pipes has one peer at each end of a pipe, so it
    cannot run twice."""
    piped = set()
    for group in job.groups:
        piped.update(group.connect)
        if group.connect:
            piped.add(group.name)
        for dev in group.devices:
            if isinstance(dev.path, ZvmPath):
                piped.update((group.name, dev.path.node))
    for group in job.groups:
        if group.replicate > 1 and group.name in piped:
            raise JobError('group %s: replicate %d: a group joined to others '
                           'by zvm:// pipes or connect runs once'
                           % (quote(group.name), group.replicate))


def _check_pipe(job, group, dev, fed):
    where = 'group %s: device %s: path %s' % (
        quote(group.name), quote(dev.name), quote(dev.path.url))
    target = job.group(dev.path.node)
    if target is None:
        raise JobError('%s: no group named %s' % (where, quote(dev.path.node)))
    if target is group:
        raise JobError('%s: a group cannot pipe into itself' % where)
    if dev.path.device not in PIPE_TARGET_DEVICES:
        raise JobError('%s: can only pipe into %s'
                       % (where, ' or '.join(PIPE_TARGET_DEVICES)))
    key = (target.name, dev.path.device)
    if key in fed:
        raise JobError('%s: %s is already fed by group %s'
                       % (where, dev.path.url, quote(fed[key])))
    declared = target.device(dev.path.device)
    if declared is not None and declared.path is not None:
        raise JobError('%s: device %s of group %s already has a path'
                       % (where, quote(dev.path.device), quote(target.name)))
    fed[key] = group.name


def _check_pipe_cycles(job):
    """``zvm://`` pipes must flow one way: a stage never feeds itself."""
    edges = {}
    for group in job.groups:
        edges[group.name] = [d.path.node for d in group.devices
                             if isinstance(d.path, ZvmPath)]
    state = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        trail = [start]
        state[start] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                trail.pop()
                state[name] = 2
            elif state.get(child) == 1:
                loop = trail[trail.index(child):] + [child]
                raise JobError('group %s: zvm:// pipes form a cycle that '
                               'cannot run: %s' % (
                                   quote(child), ' -> '.join(loop)))
            elif not state.get(child):
                state[child] = 1
                trail.append(child)
                stack.append((child, iter(edges[child])))


# --- #! scripts ------------------------------------------------------------

#: The guest path of a ``#!`` script's own bytes (doc/job_format.rst).
SCRIPT_ALIAS = '/dev/script'
#: ``#!`` lines as written on Unix hosts that a system image answers:
#: (line, image, its interpreter).
_KNOWN_LINES = tuple(
    (prefix + name, image, path)
    for image, path, names in (
        ('python', 'bin/python3', ('python3', 'python')),
        ('lua', 'bin/lua', ('lua5.4', 'lua')))
    for name in names
    for prefix in ('/usr/bin/env ', '/usr/bin/', '/usr/local/bin/'))
#: Longest ``#!`` line looked at, as Linux's BINPRM_BUF_SIZE.
SHEBANG_MAX = 256


def parse_shebang(head, system_images, where='exec'):
    """The interpreter of a program whose bytes begin with ``head``: None
    when it is not a ``#!`` script, else ``(ImagePath, argument or None)``.

    Accepted: ``#!file://IMAGE:PATH [ARG]`` naming one of
    ``system_images``, and the usual Python and Lua lines
    (``#!/usr/bin/env python3``, ``#!/usr/bin/lua``...) when ``python``,
    or ``lua``, is one.  As on Linux, what follows the interpreter is one
    argument.

    :raises JobError: (400) for a ``#!`` line naming anything else.
    """
    if not head.startswith(b'#!'):
        return None
    line = head[2:SHEBANG_MAX].split(b'\n', 1)[0].rstrip(b'\r')
    try:
        text = line.decode('ascii').strip()
    except UnicodeDecodeError:
        text = None
    if text is None or any(c < ' ' and c != '\t' for c in text):
        raise JobError('%s: its "#!" line is not printable ASCII' % where)
    # As Linux: the interpreter ends at a space or a tab.
    text = text.replace('\t', ' ')
    interpreter, _, arg = text.partition(' ')
    arg = arg.strip() or None
    for known, image, path in _KNOWN_LINES:
        if text == known or text.startswith(known + ' '):
            if image not in system_images:
                break
            rest = text[len(known):].strip() or None
            return ImagePath(image, path), rest
    if interpreter.startswith('file://'):
        path = parse_path(interpreter, '', '%s: its "#!" line' % where)
        if path.image not in system_images:
            raise JobError('%s: its "#!" line names unknown system image %s'
                           % (where, quote(path.image)))
        return path, arg
    usual = [i for i in ('python', 'lua') if i in system_images]
    raise JobError('%s: its "#!" line %s names no system image (use '
                   '#!file://IMAGE:PATH%s)' % (
                       where, quote('#!' + text),
                       ', or a %s line' % ' or '.join(usual) if usual
                       else ''))
