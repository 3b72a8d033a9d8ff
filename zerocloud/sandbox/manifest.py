# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Turn a run description into the ``zvm`` launcher's manifest.

The manifest is line-based text (see ``zerocloud/native/manifest.c``): the
program and every channel are file descriptors the caller opened, so no host
path ever reaches the launcher or the guest.
"""
import dataclasses
import re
import urllib.parse

from zerocloud.exceptions import ManifestError
from zerocloud.sandbox import image

__all__ = ['Channel', 'Limits', 'build', 'READ', 'WRITE', 'STANDARD_DEVICES',
           'DEFAULT_MEMORY', 'MAX_CHANNELS']

READ = 'r'
WRITE = 'w'

#: Device name -> (guest path, direction) for the fixed devices.
STANDARD_DEVICES = {
    'stdin': ('/dev/stdin', READ),
    'stdout': ('/dev/stdout', WRITE),
    'stderr': ('/dev/stderr', WRITE),
    'input': ('/dev/input', READ),
    'output': ('/dev/output', WRITE),
}

#: Memory for a guest unless told otherwise: segments, 8 MiB stack, heap, mmap.
DEFAULT_MEMORY = 256 * 1024 * 1024
#: Smallest memory limit the launcher accepts (the stack alone is 8 MiB).
MIN_MEMORY = 9 * 1024 * 1024
#: Mirrors ZVM_MAX_CHANNELS / ZVM_MAX_ARGS / ZVM_MAX_ENV in zvm.h.
MAX_CHANNELS = 256
MAX_ARGS = 1024
MAX_ENV = 1024
#: Mirrors ZVM_MAX_SLICE_US: the kernel clamps a time slice to 100 ms.
MAX_SLICE_US = 100000

_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')
_ENV_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


@dataclasses.dataclass(frozen=True)
class Channel:
    """A guest device backed by a host fd.

    ``path`` is the guest path (``/dev/stdout``, ``/dev/in/map-1``, ...),
    ``mode`` READ or WRITE, ``fd`` an open host descriptor in that direction,
    ``limit`` a byte cap (0: none).  A readable channel with an ``image``
    (a :class:`zerocloud.sandbox.image.Index` of the tar ``fd`` reads,
    which must be a regular file) also shows the tar's files from ``/``.
    """
    path: str
    mode: str
    fd: int
    limit: int = 0
    image: object = None

    def check(self):
        if self.mode not in (READ, WRITE):
            raise ManifestError('channel %s: mode must be r or w' % self.path)
        if not valid_path(self.path, self.mode):
            raise ManifestError('channel %r: not a valid %s device path' % (
                self.path, 'readable' if self.mode == READ else 'writable'))
        if not isinstance(self.fd, int) or self.fd < 0:
            raise ManifestError('channel %s: bad fd %r' % (self.path, self.fd))
        if not isinstance(self.limit, int) or self.limit < 0:
            raise ManifestError('channel %s: bad limit' % self.path)
        if self.image is not None and self.mode != READ:
            raise ManifestError('channel %s: an image is readable'
                                % self.path)


def valid_path(path, mode):
    """True for the guest paths the launcher accepts in that direction:
    the standard devices, ``/dev/in/NAME`` and other readable
    ``/dev/NAME`` (images), ``/dev/out/NAME``."""
    for p, m in STANDARD_DEVICES.values():
        if path == p:
            return m == mode
    prefix = '/dev/in/' if mode == READ else '/dev/out/'
    if mode == READ and not path.startswith(prefix) and \
            path.startswith('/dev/') and path[5:] not in ('in', 'out'):
        prefix = '/dev/'
    name = path[len(prefix):]
    return (path.startswith(prefix) and bool(_NAME.match(name))
            and name not in ('.', '..') and len(path) < 256)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one run; ``None`` or 0 means no limit."""
    memory: int = DEFAULT_MEMORY    #: bytes of guest address space
    cpu: int = None                 #: CPU seconds (SIGKILL at the limit)
    timeout: float = None           #: wall-clock seconds
    max_output: int = None          #: bytes over all output channels

    def check(self):
        if not isinstance(self.memory, int) or self.memory < MIN_MEMORY:
            raise ManifestError('memory limit must be at least %d bytes' %
                                MIN_MEMORY)
        if self.cpu is not None and (not isinstance(self.cpu, int)
                                     or self.cpu < 1):
            raise ManifestError('cpu limit must be a whole number of '
                                'seconds >= 1')
        if self.timeout is not None and not self.timeout > 0:
            raise ManifestError('timeout must be positive')
        if self.max_output is not None and self.max_output < 0:
            raise ManifestError('max output must not be negative')


#: Mirrors ZVM_MAX_MANIFEST.
MAX_MANIFEST = 8 * 1024 * 1024


def _enc_path(path):
    return urllib.parse.quote(path.encode('utf-8', 'surrogateescape'),
                              safe='/')


def _image_lines(channels):
    images = [(n, c.image) for n, c in enumerate(channels)
              if c.image is not None]
    lines = []
    for entry, number in image.merge(images):
        if entry.isdir:
            lines.append('dir %s %d' % (_enc_path(entry.path), entry.perm))
        else:
            lines.append('file %s %d %d %d %d' % (
                _enc_path(entry.path), number, entry.offset, entry.size,
                entry.perm))
    return lines


def _enc(s):
    if '\0' in s:
        raise ManifestError('NUL byte in an argument or environment entry')
    return urllib.parse.quote(s, safe='') or ''


def build(program_fd, report_fd, argv, env=None, channels=(), seed=0,
          limits=None, clock=None, parent=None, slice_us=None):
    """Return the manifest as bytes.

    ``env`` is a mapping; ``channels`` a sequence of :class:`Channel`.
    ``parent`` is the pid of the process that starts the launcher: zvm
    exits at once if, when it reads the manifest, its parent is already
    another process (the caller died in between).  ``slice_us`` is the CPU
    time slice the guest asks the scheduler for (1 to
    :data:`MAX_SLICE_US` microseconds; ``None`` or 0: the kernel's default).
    Raises :class:`ManifestError` for anything the launcher would refuse.
    """
    limits = limits or Limits()
    limits.check()
    env = env or {}
    if not argv:
        raise ManifestError('argv needs at least argv[0]')
    if len(argv) > MAX_ARGS:
        raise ManifestError('too many arguments (max %d)' % MAX_ARGS)
    if len(env) > MAX_ENV:
        raise ManifestError('too many environment entries (max %d)' % MAX_ENV)
    if len(channels) > MAX_CHANNELS:
        raise ManifestError('too many channels (max %d)' % MAX_CHANNELS)
    if not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise ManifestError('seed must be an integer in [0, 2**64)')
    lines = ['zvm-manifest 1', 'program %d' % program_fd,
             'report %d' % report_fd]
    for a in argv:
        lines.append('arg %s' % _enc(str(a)))
    for k, v in env.items():
        if not _ENV_KEY.match(k):
            raise ManifestError('bad environment variable name %r' % k)
        lines.append('env %s' % _enc('%s=%s' % (k, v)))
    seen = set()
    for c in channels:
        c.check()
        if c.path in seen:
            raise ManifestError('channel %s given twice' % c.path)
        seen.add(c.path)
        lines.append('channel %s %s %d %d' % (c.path, c.mode, c.fd, c.limit))
    lines.extend(_image_lines(channels))
    lines.append('seed %d' % seed)
    lines.append('memory %d' % limits.memory)
    if limits.cpu:
        lines.append('cpu %d' % limits.cpu)
    if limits.timeout:
        lines.append('timeout_ms %d' % max(1, int(limits.timeout * 1000)))
    if limits.max_output:
        lines.append('max_output %d' % limits.max_output)
    if clock is not None:
        lines.append('clock %d' % clock)
    if parent is not None:
        lines.append('parent %d' % parent)
    if slice_us:
        if not isinstance(slice_us, int) or not 0 < slice_us <= MAX_SLICE_US:
            raise ManifestError('slice_us must be an integer in 1..%d'
                                % MAX_SLICE_US)
        lines.append('slice_us %d' % slice_us)
    text = ('\n'.join(lines) + '\n').encode('ascii')
    if len(text) >= MAX_MANIFEST:
        raise ManifestError('the manifest is %d bytes, at most %d (too many '
                            'image files?)' % (len(text), MAX_MANIFEST - 1))
    return text
