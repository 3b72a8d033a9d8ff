# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""A program's own HTTP answer: a ``message/cgi`` stdout.

A job whose only path-less ``stdout`` is declared with ``"content_type":
"message/cgi"`` answers as a CGI program does (RFC 3875, section 6): its
stdout begins with header lines, ends them with an empty line, and the
rest is the body::

    Status: 404 Not Found
    Content-Type: text/html; charset=utf-8

    <p>no such page</p>

``Status`` (default ``200``, or ``302`` with a ``Location``) and the
headers of :data:`ALLOWED` become the response's; any other header a
program writes (``Set-Cookie``, ``X-Nexe-*``, hop-by-hop headers ...) is
dropped, so that a job can never forge the report's headers nor set
cookies on the storage endpoint.  ``message/http`` (a CGI "non-parsed
header" program, as ZeroCloud took it) is the same with an HTTP status
line first (``HTTP/1.1 404 Not Found``) instead of ``Status``.
:func:`parse_head` reads the header block; a stdout without a valid one
(no empty line in its first :data:`HEAD_LIMIT` bytes, a line that is not
``Name: value``, a bad status) is :class:`CGIError`, which the proxy
answers ``502``.

``X-Zerovm-Execute: 1.0`` with ``Content-Type: application/json`` makes
the body a job description the proxy runs next, as the same caller: a
*job chain* (ZeroCloud's ``job_chain``; the proxy filter's
``max_chain_length``).  :data:`CHAIN_HEADER` is therefore kept among the
headers, for the proxy to find and remove.

An *output object* declared ``message/cgi`` (or ``message/http``) is
stored without its header block, which sets the object's own headers:
``Content-Type`` and the others of :data:`OBJECT_ALLOWED`, and any
``X-Object-Meta-*`` (ZeroCloud's rule), over those the job declared.
"""
import re

__all__ = ['CGI_TYPE', 'NPH_TYPE', 'CHAIN_HEADER', 'HEAD_LIMIT', 'ALLOWED',
           'OBJECT_ALLOWED', 'OBJECT_PREFIXES', 'CGIError', 'is_cgi',
           'parse_head']

#: The ``content_type`` of a ``stdout`` that carries the program's answer.
CGI_TYPE = 'message/cgi'
#: The same with an HTTP status line first (a "non-parsed header" program).
NPH_TYPE = 'message/http'
#: A header of the program's answer that asks the proxy to run its body.
CHAIN_HEADER = 'X-Zerovm-Execute'
#: The header block must end within this many bytes.
HEAD_LIMIT = 16384
#: Headers a program may set (lower case), besides ``Status``.
ALLOWED = frozenset([
    'content-type', 'content-disposition', 'content-language',
    'content-encoding', 'cache-control', 'expires', 'last-modified',
    'etag', 'vary', 'link', 'location', 'retry-after',
    CHAIN_HEADER.lower()])

#: Headers a ``message/cgi`` *output object* may set on itself (lower
#: case), and :data:`OBJECT_PREFIXES`: those Swift stores with an object.
OBJECT_ALLOWED = frozenset([
    'content-type', 'content-disposition', 'content-encoding',
    'content-language', 'cache-control', 'expires'])
OBJECT_PREFIXES = ('x-object-meta-',)

_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_STATUS_RE = re.compile(r'^([2-5][0-9][0-9])(?: ([\x20-\x7e]*))?$')
_LINE_RE = re.compile(rb'\r?\n')
_STATUS_LINE_RE = re.compile(r'^HTTP/1\.[01] ([2-5][0-9][0-9])'
                             r'(?: ([\x20-\x7e]*))?$')


class CGIError(ValueError):
    """A ``message/cgi`` stdout without a valid header block."""


def is_cgi(content_type):
    """Does ``content_type`` (a stdout's) ask for a CGI answer?"""
    return (content_type or '').split(';')[0].strip().lower() in (
        CGI_TYPE, NPH_TYPE)


def _end_of_head(data):
    """(offset where the header block ends, offset where the body
    begins), or None."""
    ends = []
    for sep in (b'\r\n\r\n', b'\n\n'):
        at = data.find(sep)
        if at >= 0:
            ends.append((at, at + len(sep)))
    if data.startswith(b'\r\n'):
        ends.append((0, 2))
    elif data.startswith(b'\n'):
        ends.append((0, 1))
    return min(ends) if ends else None


def parse_head(data, nph=False, allowed=ALLOWED, prefixes=()):
    """Parse the header block at the start of ``data`` (the first bytes
    of the stdout, at least :data:`HEAD_LIMIT` of them when there are
    that many).

    :param nph: the header block begins with an HTTP status line
        (``message/http``).
    :param allowed: the header names kept (lower case), and ``prefixes``
        those kept by the beginning of their name (``x-object-meta-``):
        an output object's are not a response's (:data:`OBJECT_ALLOWED`).
    :returns: ``(status, headers, dropped, body_offset)``: the status
        (``(404, 'Not Found')``, the reason None when the program gave
        none), the allowed headers as ``(name, value)``
        pairs, the names of the headers dropped, and where the body
        begins in ``data``.
    :raises CGIError: saying what is wrong.
    """
    end = _end_of_head(data[:HEAD_LIMIT + 4])
    if end is None or end[0] > HEAD_LIMIT:
        raise CGIError('no empty line ends its headers in the first %d '
                       'bytes' % HEAD_LIMIT)
    head, body_at = data[:end[0]], end[1]
    status, headers, dropped, names = None, [], [], set()
    lines = _LINE_RE.split(head) if head else []
    if nph:
        first = lines.pop(0).decode('ascii', 'replace') if lines else ''
        match = _STATUS_LINE_RE.match(first)
        if not match:
            raise CGIError('%r is not an HTTP/1.x status line with a 2xx-5xx '
                           'code' % first[:80])
        status = (int(match.group(1)), match.group(2) or None)
        names.add('status')
    for raw in lines:
        try:
            line = raw.decode('ascii')
        except UnicodeDecodeError:
            raise CGIError('a header line is not ASCII') from None
        name, sep, value = line.partition(':')
        if not sep or not _TOKEN_RE.match(name):
            raise CGIError('%r is not a "Name: value" header line'
                           % line[:80])
        value = value.strip(' \t')
        if any(ord(c) < 32 and c != '\t' or ord(c) == 127 for c in value):
            raise CGIError('header %s holds a control character' % name)
        lname = name.lower()
        if lname in names:
            raise CGIError('header %s is given twice' % name)
        names.add(lname)
        if lname == 'status':
            match = _STATUS_RE.match(value)
            if not match:
                raise CGIError('Status %r is not a 2xx-5xx code and reason'
                               % value[:80])
            status = (int(match.group(1)), match.group(2) or None)
        elif lname in allowed or lname.startswith(tuple(prefixes)):
            headers.append((name, value))
        else:
            dropped.append(name)
    if status is None:
        status = (302, None) if 'location' in names else (200, None)
    if 'content-type' not in names:
        headers.append(('Content-Type', 'application/octet-stream'))
    return status, headers, dropped, body_at
