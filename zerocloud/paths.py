# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The paths of a job description: ``swift://``, ``file://``, ``zvm://``.

* ``swift://ACCOUNT/CONTAINER/OBJECT`` names an object; ``~`` or ``.`` as
  the account is the caller's. ``*`` may appear in the container and the
  object (the planner expands it), never in the account.
* ``file://IMAGE:PATH`` names a file inside a read-only image (an
  executable of a system image such as ``python``).
* ``zvm://GROUP:DEVICE`` pipes a writable device into a readable device of
  another group's nodes.

Also the text checks every string of a job goes through. Pure.
"""
import dataclasses
import json
import re
from typing import Union

from zerocloud.exceptions import JobError

__all__ = ['SwiftPath', 'ImagePath', 'ZvmPath', 'AnyPath', 'parse_path',
           'check_text', 'quote', 'NAME_RE', 'SWIFT_NAME_LIMITS']

#: Longest account, container and object names Swift accepts (bytes).
SWIFT_NAME_LIMITS = {'account': 256, 'container': 256, 'object': 1024}
#: Names of groups, images and devices.
NAME_RE = re.compile(r'[A-Za-z0-9_.-]+')
_BAD_CHARS_RE = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')


def quote(text, limit=80):
    """Quote user text for an error message: JSON string syntax (control
    characters escaped), cut after ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + '...'
    return json.dumps(text)


@dataclasses.dataclass(frozen=True)
class SwiftPath:
    """``swift://ACCOUNT/CONTAINER/OBJECT``; ``*`` may appear in the
    container and the object (never in the account)."""

    account: str
    container: str
    obj: str

    @property
    def url(self):
        return 'swift://%s/%s/%s' % (self.account, self.container, self.obj)

    @property
    def wildcards(self):
        """How many ``*`` the path holds."""
        return self.container.count('*') + self.obj.count('*')

    def __str__(self):
        return self.url


@dataclasses.dataclass(frozen=True)
class ImagePath:
    """``file://IMAGE:PATH``: a file inside a read-only image."""

    image: str
    path: str

    @property
    def url(self):
        return 'file://%s:%s' % (self.image, self.path)

    def __str__(self):
        return self.url


@dataclasses.dataclass(frozen=True)
class ZvmPath:
    """``zvm://GROUP:DEVICE``: pipe into a readable device of another
    group's node(s)."""

    node: str
    device: str

    @property
    def url(self):
        return 'zvm://%s:%s' % (self.node, self.device)

    def __str__(self):
        return self.url


AnyPath = Union[SwiftPath, ImagePath, ZvmPath]


def check_text(value, where, allow_empty=False):
    """Return ``value`` if it is a string without control characters (and
    not empty unless ``allow_empty``); else raise JobError about ``where``."""
    if not isinstance(value, str):
        raise JobError('%s must be a string' % where)
    if not allow_empty and not value:
        raise JobError('%s must not be empty' % where)
    if _BAD_CHARS_RE.search(value):
        raise JobError('%s must not contain control characters' % where)
    return value


def _parse_swift(rest, account, where):
    parts = rest.split('/', 2)
    if len(parts) != 3 or not all(parts):
        raise JobError('%s must be swift://account/container/object' % where)
    acct, container, obj = parts
    if acct in ('~', '.'):
        acct = account
    elif '*' in acct:
        raise JobError('%s: wildcards are not allowed in the account'
                       % where)
    for label, value in (('account', acct), ('container', container),
                         ('object', obj)):
        if len(value.encode('utf-8')) > SWIFT_NAME_LIMITS[label]:
            raise JobError('%s: %s name longer than %d bytes'
                           % (where, label, SWIFT_NAME_LIMITS[label]))
    return SwiftPath(acct, container, obj)


def parse_path(text, account, where='path'):
    """Parse one path of a job.

    ``~`` or ``.`` as the account of a ``swift://`` path is replaced by
    ``account`` (the caller's).

    :returns: a :class:`SwiftPath`, :class:`ImagePath` or :class:`ZvmPath`.
    :raises JobError: (400) prefixed with ``where``.
    """
    check_text(text, where)
    scheme, sep, rest = text.partition('://')
    if not sep:
        raise JobError('%s must be swift://account/container/object, '
                       'not %s' % (where, quote(text)))
    if scheme == 'swift':
        return _parse_swift(rest, account, where)
    if scheme in ('file', 'zvm'):
        first, colon, second = rest.partition(':')
        if not colon or not first or not second:
            shape = ('file://IMAGE:PATH' if scheme == 'file'
                     else 'zvm://GROUP:DEVICE')
            raise JobError('%s must be %s' % (where, shape))
        if not NAME_RE.fullmatch(first):
            raise JobError('%s: bad name %s' % (where, quote(first)))
        if scheme == 'file':
            if '..' in second.split('/'):
                raise JobError('%s: %s leaves the image (..)'
                               % (where, quote(text)))
            return ImagePath(first, second)
        if not NAME_RE.fullmatch(second):
            raise JobError('%s: bad device name %s' % (where, quote(second)))
        return ZvmPath(first, second)
    raise JobError('%s: unknown scheme %s (use swift://, file:// or zvm://)'
                   % (where, quote(scheme)))
