# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Opening an object: the job a ``GET`` (or ``HEAD``, ``POST``, ``PUT``,
``DELETE``) with ``open/1.0`` runs.

As ZeroCloud's ``open`` did for clients that can only ``GET`` a URL (a
browser, a link in a page), an object is "opened" the way a file manager
opens a file on a double click: by the application registered for its
content type.  The proxy filter takes two spellings of the same request::

    GET /open/<account>/<container>/<object>?name=value...
    GET /v1/<account>/<container>/<object>?name=value...
        X-Zerovm-Execute: open/1.0

and makes it a job (:func:`open_job`):

* an object whose ``Content-Type`` is ``application/x-nexe`` (or
  ``application/x-executable``) is a program: it runs alone, with the
  query's ``args`` as its arguments, and its stdout is the answer, sent
  as the query's ``content_type`` (``text/plain`` by default);
* an application archive (a tar, ``application/x-tar`` and the like, or
  an object named ``*.zapp``) is an application, as ZeroCloud's REST
  services were: its ``boot/system.map`` is the job, the archive itself
  every group's ``image`` device (as for an archive POSTed);
* any other object is opened by the job template
  ``/v1/<account>/.zvm/<type>/<subtype>/config`` (``.zvm/text/csv/config``
  for a ``text/csv`` object): a job description whose strings may hold
  ``{.NAME}`` or ``{.NAME=DEFAULT}``, replaced by the query's value of
  ``NAME`` (or ``DEFAULT``), and ``{.object_path}``, replaced by
  ``/<container>/<object>`` (so ``"swift://~{.object_path}"`` is the
  object opened).  Values are put into the parsed template's strings, so a
  query can never change the job's structure, only the text of its
  fields; the job is then checked as any other.  An archive's
  ``boot/system.map`` is filled the same way.

Every group's program gets the CGI variables of :func:`cgi_environ`, and
a ``message/cgi`` stdout (:mod:`zerocloud.middleware.cgiheader`) lets a
program answer with its own status and headers.

Any method of :data:`OPEN_METHODS` opens an object, as ZeroCloud's REST
services took them: the program sees it as ``REQUEST_METHOD``, and a
``POST``'s or ``PUT``'s body is what the job's path-less ``stdin`` devices
read (an executable object gets one).

A container is a REST service when its ``X-Container-Meta-Rest-Endpoint``
(:data:`ENDPOINT_META`) names an application (an archive, a job
description or a program): ``METHOD /api/<account>/<container>/<path>``
(or ``X-Zerovm-Execute: api/1.0``) runs it like an opened object, with
``PATH_INFO`` the path under the container and no ``LOCAL_*``.

The template is read as the caller, like everything the job reads: a
template an anonymous client may use must be in a ``.zvm`` container it
may read.  ``heartbeat`` and ``object_path`` are not template values.
"""
import json
import re
import urllib.parse

from zerocloud.exceptions import JobError
from zerocloud.job import load_json
from zerocloud.paths import quote

__all__ = ['OPEN_VERSION', 'OPEN_METHODS', 'OPEN_PREFIX', 'ENDPOINT_VERSION',
           'ENDPOINT_PREFIX', 'ENDPOINT_META', 'TEMPLATES_CONTAINER',
           'EXECUTABLE_TYPES', 'template_name', 'parse_query', 'fill',
           'open_job', 'is_executable', 'is_archive', 'cgi_environ',
           'ARCHIVE_TYPES', 'with_request_stdin', 'BODY_DEVICES']

#: Readable devices that, without a path, read the request's body.
BODY_DEVICES = ('stdin', 'input', 'script')
#: ``X-Zerovm-Execute`` of a request that opens an object.
OPEN_VERSION = 'open/1.0'
#: Methods that open an object (ZeroCloud's REST services); a POST's or
#: PUT's body is what the job's path-less ``stdin`` reads.
OPEN_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE')
#: The path's first segment, instead of ``v1``, that opens an object.
OPEN_PREFIX = 'open'
#: ``X-Zerovm-Execute`` of a request to a container's REST endpoint.
ENDPOINT_VERSION = 'api/1.0'
#: The path's first segment of a request to a container's REST endpoint.
ENDPOINT_PREFIX = 'api'
#: The container metadata naming a container's REST endpoint.
ENDPOINT_META = 'rest-endpoint'
#: The container of an account's templates, as in ZeroCloud.
TEMPLATES_CONTAINER = '.zvm'
#: Content types of objects that are programs, run as they are.
EXECUTABLE_TYPES = ('application/x-nexe', 'application/x-executable')
#: Content types of application archives (their boot/system.map runs).
ARCHIVE_TYPES = ('application/x-tar', 'application/x-gtar',
                 'application/x-ustar')
#: Query names that are not template values.
RESERVED = ('object_path', 'heartbeat')

_TYPE_RE = re.compile(r'^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/'
                      r'[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$')
_VAR_RE = re.compile(r'\{\.([A-Za-z_][A-Za-z0-9_]*)(?:=([^{}]*))?\}')


def template_name(content_type):
    """The object name, in :data:`TEMPLATES_CONTAINER`, of the template
    for objects of ``content_type`` (its parameters dropped); JobError
    (415) for a type that names no template."""
    ctype = (content_type or '').split(';')[0].strip().lower()
    if not _TYPE_RE.match(ctype):
        raise JobError('an object of Content-Type %s cannot be opened (no '
                       'type/subtype to find its template by)'
                       % json.dumps(content_type), status=415)
    return ctype + '/config'


def parse_query(query_string):
    """The names and values (a dict) of a request's ``QUERY_STRING`` as
    WSGI gives it (bytes as latin-1); JobError (400) when a name comes
    twice or the query is not UTF-8."""
    try:
        pairs = [(_utf8(name), _utf8(value))
                 for name, value in urllib.parse.parse_qsl(
                     query_string, keep_blank_values=True,
                     encoding='latin-1', errors='strict')]
    except (UnicodeError, ValueError):
        raise JobError('the query string is not UTF-8') from None
    values = {}
    for name, value in pairs:
        if name in values:
            raise JobError('the query gives %s twice' % json.dumps(name))
        values[name] = value
    return values


def _utf8(wsgi_text):
    return wsgi_text.encode('latin-1').decode('utf-8')


def fill(template, values, where):
    """``template`` (parsed JSON) with ``{.NAME}`` and ``{.NAME=DEFAULT}``
    in its strings replaced by ``values[NAME]`` (or ``DEFAULT``); keys are
    left as they are.  JobError (400) names a value nobody gave, or one
    holding ``*`` that would go into a ``swift://`` path (it would turn
    the template's one object into a wildcard over many: a query picks
    objects, it does not multiply nodes)."""
    def one(match, in_path=False):
        name, default = match.group(1), match.group(2)
        if name in values:
            if in_path and '*' in values[name]:
                raise JobError('%s: the value of %s holds "*", which would '
                               'make a swift:// path of the template a '
                               'wildcard' % (where, json.dumps(name)))
            return values[name]
        if default is None:
            raise JobError('%s needs the query to give %s (it has no '
                           'default)' % (where, json.dumps(name)))
        return default

    def walk(value):
        if isinstance(value, str):
            if value.startswith('swift://'):
                return _VAR_RE.sub(lambda m: one(m, True), value)
            return _VAR_RE.sub(one, value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value
    return walk(template)


def cgi_environ(target, info, query_string, request_uri, method='GET',
                body_type=None, body_length=None):
    """The CGI variables an opened object's nodes get (ZeroCloud's
    names): the request's, and ``LOCAL_*`` for the object opened (none
    when ``info`` is None: an ``/api/`` path names no object).  Only
    what the request and the object determine: no host names, times or
    request headers (a caller's token must never reach a program)."""
    path = '/%s/%s/%s' % (target.account, target.container, target.obj)
    found = {} if body_length is None else {
        'CONTENT_LENGTH': str(body_length), 'CONTENT_TYPE': body_type or ''}
    found.update({
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'SERVER_SOFTWARE': 'zerocloud',
        'REQUEST_METHOD': method,
        'REQUEST_URI': request_uri,
        'PATH_INFO': path,
        'QUERY_STRING': query_string})
    if info is not None:
        found.update({
            'LOCAL_OBJECT': 'on',
            'LOCAL_PATH_INFO': path,
            'LOCAL_CONTENT_TYPE': info.get('type') or '',
            'LOCAL_CONTENT_LENGTH': str(info.get('length') or 0),
            'LOCAL_HTTP_ETAG': (info.get('etag') or '').strip('"')})
    return found


def _with_environ(job, environ):
    """Every group's ``exec.env`` with ``environ`` set in it (ours win;
    shapes that are not a job are left to the job's checks)."""
    if environ and isinstance(job, list):
        for group in job:
            exe = group.get('exec') if isinstance(group, dict) else None
            if isinstance(exe, dict):
                env = exe.get('env', {})
                if isinstance(env, dict):
                    exe['env'] = dict(env, **environ)
    return job


def open_job(target, content_type, query, template_text=None,
             template_url='', environ=None, source=None):
    """The job description (JSON text) that opens the object ``target``
    (a SwiftPath) of ``content_type``, given the request's ``query`` (from
    :func:`parse_query`) and, for a non-executable type, the template's
    bytes read from ``template_url``; every group's program gets
    ``environ`` (:func:`cgi_environ`).  An application archive's job
    (its ``boot/system.map``) is filled the same way, ``source`` naming it
    in errors.  Raises JobError."""
    if 'object_path' in query:
        raise JobError('object_path is the object opened, not a query '
                       'value')
    if is_executable(content_type):
        return json.dumps(_with_environ([{
            'name': 'open',
            'exec': {'path': target.url, 'args': query.get('args', '')},
            'devices': [{'name': 'stdin'},
                        {'name': 'stdout', 'content_type':
                         query.get('content_type') or 'text/plain'},
                        {'name': 'stderr'}]}], environ))
    where = source or 'template %s' % template_url
    template = load_json(template_text, where)
    values = {k: v for k, v in query.items() if k not in RESERVED}
    values['object_path'] = '/%s/%s' % (target.container, target.obj)
    return json.dumps(_with_environ(fill(template, values, where), environ))


def with_request_stdin(job_text, url):
    """The job (JSON text) with every path-less ``stdin``, ``input`` or
    ``script`` that no ``zvm://`` path feeds reading ``url`` (where the
    request body stands, ZeroCloud's ``X-Zerovm-Source`` jobs); ZeroCloud's
    ``file_list`` and ``device`` spellings too.  Text that is not a job is
    returned as it is, for the job's own checks to name what is wrong.

    :raises JobError: (400) when a group has more than one such device
        (as in ZeroCloud: each node reads the body through one device).
    """
    try:
        job = load_json(job_text)
    except JobError:
        return job_text
    if not isinstance(job, list):
        return job_text
    groups = [g for g in job if isinstance(g, dict)]

    def devices(group):
        found = group.get('devices', group.get('file_list', []))
        return [d for d in found if isinstance(d, dict)] \
            if isinstance(found, list) else []
    fed = set()
    for group in groups:
        for dev in devices(group):
            path = dev.get('path')
            if isinstance(path, str) and path.startswith('zvm://'):
                target, _sep, name = path[len('zvm://'):].partition(':')
                fed.add((target, name.replace('/dev/', '', 1)))
    for group in groups:
        reading = [dev for dev in devices(group)
                   if dev.get('name', dev.get('device')) in BODY_DEVICES
                   and 'path' not in dev and (group.get('name'), dev.get(
                       'name', dev.get('device'))) not in fed]
        if len(reading) > 1:
            raise JobError('group %s: devices %s have no path: only one '
                           'device of a group reads the request body' % (
                               quote(str(group.get('name'))), ', '.join(
                                   quote(str(d.get('name', d.get('device'))))
                                   for d in reading)))
        for dev in reading:
            dev['path'] = url
    return json.dumps(job)


def is_archive(content_type, name):
    """Is an object of ``content_type`` named ``name`` a ZeroVM
    application archive (a tar, or a ``.zapp`` as ZeroCloud named them)?"""
    ctype = (content_type or '').split(';')[0].strip().lower()
    return ctype in ARCHIVE_TYPES or name.endswith('.zapp')


def is_executable(content_type):
    """Is an object of ``content_type`` a program, run as it is?"""
    ctype = (content_type or '').split(';')[0].strip().lower()
    return ctype in EXECUTABLE_TYPES
