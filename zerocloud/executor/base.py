# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The executor interface: what the object filter asks, what it gets back.

The object filter turns an execution request into a :class:`NodeJob` (the
node's :class:`NodeSpec`, the program on disk, an open fd for every
readable channel, a directory for outputs) and hands it to an
:class:`Executor`, whose one method :meth:`Executor.run` returns a
:class:`NodeResult`.  Like ``requests``' ``BaseAdapter``, the interface is
small so that the real sandbox (:mod:`zerocloud.executor.sandbox`) and the
unit tests' fake are interchangeable; the filter takes its executor as a
constructor argument.

:func:`parse_spec` reads ``spec.json`` (``doc/internals.rst``) into a
:class:`NodeSpec`, raising :class:`~zerocloud.exceptions.SpecError`.
"""
import dataclasses
import json
import re

from zerocloud.exceptions import SpecError
from zerocloud.sandbox import manifest as mf

__all__ = ['SPEC_VERSION', 'CHANNEL_KINDS', 'ChannelSpec', 'NodeSpec',
           'NodeJob', 'NodeResult', 'Executor', 'parse_spec']

#: The only ``spec.json`` version understood.
SPEC_VERSION = 1
#: Channel kinds: an object (read, or written by the proxy after the job),
#: a path-less output returned in the response, a pipe to or from
#: another node of the job (:mod:`zerocloud.middleware.pipes`), and a
#: system image of the object server (read-only, its files seen from ``/``).
CHANNEL_KINDS = ('object', 'response', 'pipe', 'image')
#: Keys of a connected node's ``rendezvous`` object.
_RDV_KEYS = ('port', 'token', 'timeout', 'pipe_limit')

_MEMBER = re.compile(r'^in/[A-Za-z0-9_.-]{1,200}$')
_IMAGE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$')
_LIMIT_KEYS = ('memory', 'cpu', 'timeout', 'max_output')


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
    """One device of a node as the proxy describes it."""
    alias: str              #: guest path, ``/dev/stdin``, ``/dev/in/x``
    direction: str          #: ``r`` or ``w``
    kind: str               #: one of :data:`CHANNEL_KINDS`
    path: str = None        #: ``swift://...`` (informational here)
    local: bool = False     #: readable: the object this request is for
    member: str = None      #: readable, not local: its tar member
    limit: int = 0          #: writable: byte cap (0: none)
    peer: str = None        #: pipe: the node at the other end
    peer_alias: str = None  #: pipe: its device there
    #: ``image`` channels: the system image's name; a readable object:
    #: ``image`` when it is the node's image device, mounted from ``/``.
    image: str = None

    @property
    def readable(self):
        return self.direction == mf.READ


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """A node's run: program arguments, environment, seed, limits, channels.

    ``limits`` holds what the node asked for (``None``: nothing asked);
    the filter lowers it to its configured maxima.
    """
    node: str
    account: str
    argv: tuple
    env: dict
    seed: int
    limits: dict
    channels: tuple
    exec_sha256: str = None
    exec_path: str = None
    #: Connected nodes: the job's rendezvous (``port``, ``ip``, ``token``,
    #: ``timeout``, ``pipe_limit``); None for a node without pipes.
    rendezvous: dict = None

    @property
    def pipes(self):
        """Indexes of the pipe channels."""
        return tuple(i for i, c in enumerate(self.channels)
                     if c.kind == 'pipe')

    @property
    def members(self):
        """Tar members the request must carry for readable channels."""
        return tuple(c.member for c in self.channels if c.member)

    @property
    def needs_local(self):
        return any(c.local for c in self.channels)

    @property
    def images(self):
        """Indexes of the channels whose files the guest sees from ``/``
        (system images, and the image device), in channel order."""
        return tuple(i for i, c in enumerate(self.channels) if c.image)

    @property
    def exec_image(self):
        """``(image name, path)`` of a ``file://IMAGE:PATH`` program, or
        None for a program sent with the request."""
        path = self.exec_path or ''
        if not path.startswith('file://'):
            return None
        name, sep, inner = path[len('file://'):].partition(':')
        if not sep or not name or not inner:
            raise SpecError('spec: exec.path %r is not file://IMAGE:PATH'
                            % path)
        return name, inner


@dataclasses.dataclass(frozen=True)
class NodeJob:
    """Everything an executor needs, resolved to the host.

    ``inputs`` maps the index of each readable channel, and of each
    writable pipe, to an open fd the caller owns; ``workdir`` is a private
    directory for output files, which the caller removes with everything
    in it.  ``images`` maps the index of each image channel
    (:attr:`NodeSpec.images`) to the :class:`zerocloud.sandbox.image.Index`
    of the tar its fd reads.
    """
    spec: NodeSpec
    program: str
    inputs: dict
    workdir: str
    limits: mf.Limits
    images: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class NodeResult:
    """What a run produced: the report and, per writable channel index,
    the host file holding its bytes (inside the job's ``workdir``)."""
    result: object      #: a :class:`zerocloud.executor.result.RunResult`
    outputs: dict
    #: Read pipes the program left bytes in (filled by the object filter).
    unread: list = dataclasses.field(default_factory=list)


class Executor:
    """Runs nodes.  Subclasses implement :meth:`run`.

    :meth:`run` blocks until the node ended; callers on an event loop run it
    in a worker thread.  It returns a :class:`NodeResult` whatever the
    program did, and raises :class:`~zerocloud.exceptions.SandboxError`
    only when the sandbox itself could not run.

    ``cancel`` (optional) is a :class:`zerocloud.sandbox.launcher.Cancel`:
    ``cancel.abort(message)``, from any thread (the event loop's included),
    stops the node promptly -- before it starts, nothing runs; while it
    runs, the program is killed -- and :meth:`run` then returns a result
    with reason ``aborted`` and that message (what the program wrote so far
    is still counted); after the run, it changes nothing.  Executors that
    cannot stop a run early may ignore it.
    """

    def run(self, job, cancel=None):
        raise NotImplementedError

    def close(self):
        """Release what the executor holds (nothing by default)."""


def _str(value, what):
    if not isinstance(value, str):
        raise SpecError('spec: %s must be a string' % what)
    return value


def _int(value, what, low=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SpecError('spec: %s must be an integer >= %d' % (what, low))
    return value


def _channel(index, raw):
    what = 'channels[%d]' % index
    if not isinstance(raw, dict):
        raise SpecError('spec: %s must be an object' % what)
    alias = _str(raw.get('alias'), what + '.alias')
    direction = raw.get('direction')
    if direction not in (mf.READ, mf.WRITE):
        raise SpecError('spec: %s.direction must be "r" or "w"' % what)
    if not mf.valid_path(alias, direction):
        raise SpecError('spec: %s.alias %r is not a valid %s device'
                        % (what, alias, 'readable' if direction == mf.READ
                           else 'writable'))
    kind = raw.get('kind')
    if kind not in CHANNEL_KINDS:
        raise SpecError('spec: %s.kind must be one of %s'
                        % (what, ', '.join(CHANNEL_KINDS)))
    local = raw.get('local', False)
    if not isinstance(local, bool):
        raise SpecError('spec: %s.local must be true or false' % what)
    member = raw.get('member')
    path = raw.get('path')
    if path is not None:
        _str(path, what + '.path')
    limit = _int(raw.get('limit') or 0, what + '.limit')
    image = raw.get('image')
    if image is not None and (not isinstance(image, str)
                              or not _IMAGE.match(image)):
        raise SpecError('spec: %s.image must be an image name' % what)
    if kind == 'image':
        if image is None or direction != mf.READ or local or \
                member is not None:
            raise SpecError('spec: %s: an image channel is readable and '
                            'names its image, nothing else' % what)
        return ChannelSpec(alias, direction, kind, None, image=image)
    if image is not None and (direction != mf.READ or image != 'image'):
        raise SpecError('spec: %s: only the readable image device is '
                        'mounted' % what)
    if kind == 'pipe':
        if image is not None:
            raise SpecError('spec: %s: a pipe is not an image' % what)
        peer = _str(raw.get('peer'), what + '.peer')
        peer_alias = _str(raw.get('peer_alias'), what + '.peer_alias')
        if local or member is not None:
            raise SpecError('spec: %s: a pipe is neither local nor a member'
                            % what)
        return ChannelSpec(alias, direction, kind, None, False, None, limit,
                           peer, peer_alias)
    if direction == mf.READ:
        if kind != 'object':
            raise SpecError('spec: %s: a readable channel is an object'
                            % what)
        if local == (member is not None):
            raise SpecError('spec: %s: a readable channel is either local '
                            'or names its tar member' % what)
        if member is not None and not _MEMBER.match(_str(member, what)):
            raise SpecError('spec: %s.member must look like in/<name>'
                            % what)
    elif local or member is not None:
        raise SpecError('spec: %s: a writable channel is neither local nor '
                        'a member' % what)
    return ChannelSpec(alias, direction, kind, path, local, member, limit,
                       image=image)


def _limits(raw):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError('spec: limits must be an object')
    out = {}
    for key in _LIMIT_KEYS:
        value = raw.get(key)
        if value is None or value == 0:
            out[key] = None
        elif key == 'timeout' and isinstance(value, float) and value > 0:
            out[key] = value
        else:
            out[key] = _int(value, 'limits.' + key, 1)
    return out


def parse_spec(data):
    """Parse ``spec.json`` (bytes) into a :class:`NodeSpec`.

    :raises SpecError: naming the bad field.
    """
    try:
        raw = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SpecError('spec.json is not UTF-8 JSON: %s' % exc) from None
    if not isinstance(raw, dict):
        raise SpecError('spec.json must be a JSON object')
    if raw.get('version') != SPEC_VERSION:
        raise SpecError('spec: version must be %d' % SPEC_VERSION)
    node = _str(raw.get('node'), 'node')
    account = _str(raw.get('account', ''), 'account')
    argv = raw.get('argv') or [node]
    if not isinstance(argv, list) or not all(isinstance(a, str)
                                             for a in argv):
        raise SpecError('spec: argv must be a list of strings')
    env = raw.get('env') or {}
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in env.items()):
        raise SpecError('spec: env must map strings to strings')
    seed = _int(raw.get('seed', 0), 'seed')
    if seed >= 2 ** 64:
        raise SpecError('spec: seed must be below 2**64')
    exec_info = raw.get('exec') or {}
    if not isinstance(exec_info, dict):
        raise SpecError('spec: exec must be an object')
    sha = exec_info.get('sha256')
    if sha is not None and not re.fullmatch('[0-9a-f]{64}', str(sha)):
        raise SpecError('spec: exec.sha256 must be 64 hex digits')
    channels = raw.get('channels', [])
    if not isinstance(channels, list):
        raise SpecError('spec: channels must be a list')
    if len(channels) > mf.MAX_CHANNELS:
        raise SpecError('spec: too many channels (max %d)'
                        % mf.MAX_CHANNELS)
    parsed = tuple(_channel(i, c) for i, c in enumerate(channels))
    aliases = [c.alias for c in parsed]
    if len(set(aliases)) != len(aliases):
        raise SpecError('spec: a device alias is given twice')
    members = [c.member for c in parsed if c.member]
    if len(set(members)) != len(members):
        raise SpecError('spec: a tar member is named twice')
    rdv = raw.get('rendezvous')
    if any(c.kind == 'pipe' for c in parsed) or rdv is not None:
        rdv = _rendezvous(rdv)
    return NodeSpec(node=node, account=account, argv=tuple(argv), env=env,
                    seed=seed, limits=_limits(raw.get('limits')),
                    channels=parsed, exec_sha256=sha,
                    exec_path=exec_info.get('path'), rendezvous=rdv)


def _rendezvous(raw):
    if not isinstance(raw, dict):
        raise SpecError('spec: a node with pipes needs a rendezvous object')
    for key in _RDV_KEYS:
        if key not in raw:
            raise SpecError('spec: rendezvous.%s is missing' % key)
    _int(raw['port'], 'rendezvous.port', 1)
    _int(raw['pipe_limit'], 'rendezvous.pipe_limit', 1)
    if not isinstance(raw['token'], str) or len(raw['token']) < 16:
        raise SpecError('spec: rendezvous.token must be a string of at '
                        'least 16 characters')
    timeout = raw['timeout']
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) \
            or timeout <= 0:
        raise SpecError('spec: rendezvous.timeout must be a positive number')
    if raw.get('ip') is not None:
        _str(raw['ip'], 'rendezvous.ip')
    return dict(raw)
