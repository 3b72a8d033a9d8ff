# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""What the proxy filter does in the caller's name.

A :class:`Caller` wraps one job request and the rest of the proxy pipeline
(the ``app`` behind the filter).  Listings, reads and writes are
subrequests (``swift.common.wsgi.make_subrequest``) that carry the caller's
identity and ``swift.authorize``, so Swift applies the caller's rights,
ACLs, quotas and storage policies exactly as for the caller's own
requests.  :meth:`Caller.authorize` asks the auth filter directly, with the
container's ACL, so that a whole job is checked before any of it runs.

Failures are raised as swob responses (:func:`http_error`) whose one-line
message names the object.
"""
import io
import json
import re

from swift.common import swob
from swift.common.utils import quote
from swift.common.wsgi import make_subrequest
from swift.proxy.controllers.base import get_container_info, get_object_info

from zerocloud.middleware.dispatch import (AnswerError, Fetched, SpoolError,
                                           copy_bounded, open_spool_file)

__all__ = ['Caller', 'http_error', 'SWIFT_SOURCE']

#: ``swift.source`` of the filter's subrequests (proxy logs).
SWIFT_SOURCE = 'ZC'
#: User-Agent of the subrequests: the caller's, plus this.
_AGENT = '%(orig)s zerocloud'
_EXTRA_REASONS = {424: 'Failed Dependency', 429: 'Too Many Requests',
                  498: 'Rate Limited'}     # Swift's ratelimit


def reason_phrase(code):
    """``'404 Not Found'``: swob's reasons plus 424, 429 and 498."""
    reason = swob.RESPONSE_REASONS.get(code)
    return '%d %s' % (code, reason[0] if reason else
                      _EXTRA_REASONS.get(code, 'Error'))


def http_error(code, message, **headers):
    """A raisable swob response with a one-line text body."""
    return swob.HTTPException(status=reason_phrase(code),
                              body=message + '\n',
                              content_type='text/plain', headers=headers)


def _wsgi_path(*parts):
    return swob.str_to_wsgi('/v1/' + '/'.join(parts))


def _close(resp):
    close = getattr(resp.app_iter, 'close', None)
    if close is not None:
        close()


def _drain(resp, keep=0):
    """Read and close a subrequest's body; returns its first ``keep``
    bytes."""
    kept = b''
    try:
        for chunk in resp.app_iter:
            if len(kept) < keep:
                kept += chunk[:keep - len(kept)]
    finally:
        _close(resp)
    return kept


#: Bytes of a refused write's body kept for the job's message.
REASON_BYTES = 512


def refusal_reason(body):
    """What a Swift error body says, as one short line without HTML
    tags (``Upload exceeds quota.``)."""
    text = re.sub(r'<[^>]*>', ' ', body.decode('utf-8', 'replace'))
    text = ''.join(c if c.isprintable() else ' ' for c in text)
    return ' '.join(text.split())[:200]


#: Why a large object cannot be read whole.
BROKEN = ('a segment of the large object is missing, changed, or not '
          'readable by the caller')


class IterFile:
    """A file-like ``read`` over a WSGI body iterator."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b''

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class Caller:
    """The caller of one job request, as seen by the rest of the pipeline.

    :param app: the pipeline behind the filter.
    :param req: the job request (its environ holds the caller's identity).
    """

    def __init__(self, app, req):
        self.app = app
        self.req = req
        self._infos = {}
        # Swift's per-request info cache, shared by every copy of the
        # environ made for a lookup (object_info, container_info) and by
        # the subrequests.  Made here if no filter before this one made
        # it (ratelimit before auth did): else each lookup got a cache of
        # its own, and every node's program HEAD went to the object
        # servers -- a quarter of a per-object map's throughput.
        req.environ.setdefault('swift.infocache', {})

    def _subrequest(self, method, path, **kwargs):
        return make_subrequest(self.req.environ, method, path, agent=_AGENT,
                               swift_source=SWIFT_SOURCE, **kwargs)

    # --- listings ---------------------------------------------------------

    def list(self, account, container=None, prefix=''):
        """The entries of an account or container listing (JSON, paged,
        only names starting with ``prefix``), as the planner's lister wants
        them: a generator that asks for each page when it gets there;
        KeyError when the account or container does not exist."""
        path = '/v1/' + account + ('/' + container if container else '')
        marker = ''
        while True:
            page = self._listing_page(path, marker, prefix)
            if page is None:
                raise KeyError(path)
            if not page:
                return
            yield from page
            marker = page[-1].get('name') or page[-1].get('subdir') or ''
            if not marker:
                return

    def _listing_page(self, path, marker, prefix=''):
        query = 'format=json&marker=%s' % quote(marker, safe='')
        if prefix:
            query += '&prefix=%s' % quote(prefix, safe='')
        resp = self._subrequest('GET', '%s?%s' % (
            quote(path), query)).get_response(self.app)
        body = resp.body
        where = path[len('/v1/'):]
        if resp.status_int == 404:
            return None
        if resp.status_int in (401, 403):
            raise http_error(resp.status_int, 'not allowed to list %s'
                             % where)
        if resp.status_int == 204:
            return []
        if not resp.is_success:
            # Swift's ratelimit's 498 as it is, to be retried later.
            raise http_error(498 if resp.status_int == 498 else 503,
                             'could not list %s: %s' % (where, resp.status))
        try:
            page = json.loads(body)
        except ValueError:
            raise http_error(503, 'could not list %s: bad listing'
                             % where) from None
        return [e for e in page if isinstance(e, dict)]

    # --- container info and authorization --------------------------------

    def container_info(self, path):
        """Swift's container info of a SwiftPath's container (cached)."""
        key = (path.account, path.container)
        if key not in self._infos:
            env = dict(self.req.environ)
            env['PATH_INFO'] = _wsgi_path(path.account, path.container)
            self._infos[key] = get_container_info(
                env, self.app, swift_source=SWIFT_SOURCE)
        return self._infos[key]

    def policy_index(self, path):
        """Storage policy index of the container of ``path``."""
        return int(self.container_info(path)['storage_policy'])

    def authorize(self, path, method):
        """May the caller ``GET`` (read ACL) or ``PUT`` (write ACL) the
        object ``path``?  Raises 401/403 naming it, or 404 when its
        container does not exist."""
        info = self.container_info(path)
        verb = 'read' if method == 'GET' else 'write'
        authorize = self.req.environ.get('swift.authorize')
        if authorize is not None:
            env = dict(self.req.environ)
            env.update({'PATH_INFO': _wsgi_path(
                path.account, path.container, path.obj),
                'REQUEST_METHOD': method, 'QUERY_STRING': '',
                'CONTENT_LENGTH': '0', 'wsgi.input': io.BytesIO()})
            env.pop('HTTP_TRANSFER_ENCODING', None)
            check = swob.Request(env)
            check.acl = info.get('read_acl' if method == 'GET'
                                 else 'write_acl')
            denied = authorize(check)
            if denied is not None:
                code = denied.status_int if denied.status_int in (401, 403) \
                    else 403
                raise http_error(code, 'not allowed to %s %s'
                                 % (verb, path.url))
        if info.get('status') == 404:
            raise http_error(404, 'container of %s %s does not exist' % (
                'input' if method == 'GET' else 'output', path.url))

    def authorize_account(self, account):
        """May the caller run a job in ``account`` that touches none of
        its objects?  Swift's own answer to the job request as it is (a
        ``POST`` to the account: its owners); raises 401/403."""
        authorize = self.req.environ.get('swift.authorize')
        if authorize is None:
            return
        env = dict(self.req.environ)
        env.update({'PATH_INFO': _wsgi_path(account),
                    'REQUEST_METHOD': 'POST', 'QUERY_STRING': '',
                    'CONTENT_LENGTH': '0', 'wsgi.input': io.BytesIO()})
        env.pop('HTTP_TRANSFER_ENCODING', None)
        denied = authorize(swob.Request(env))
        if denied is not None:
            code = denied.status_int if denied.status_int in (401, 403) \
                else 403
            raise http_error(code, 'not allowed to run a job in %s that '
                             'reads and writes none of its objects (its '
                             'owner may)' % account)

    # --- objects ----------------------------------------------------------

    def check_exists(self, path):
        """404 naming ``path`` when the object does not exist."""
        self.etag(path)

    def etag(self, path):
        """The object's ETag (404 naming ``path`` when it does not
        exist)."""
        return (self.object_info(path).get('etag') or '').strip('"') or None

    def object_info(self, path):
        """Swift's object info (``type``, ``length``, ``etag``...) of
        ``path`` (404 naming it when it does not exist); ask
        :meth:`authorize` first: the info is read without the caller's
        rights."""
        info = get_object_info(
            dict(self.req.environ), self.app,
            path=_wsgi_path(path.account, path.container, path.obj),
            swift_source=SWIFT_SOURCE)
        if info.get('status') == 404:
            raise http_error(404, 'object %s does not exist' % path.url)
        return info

    def read(self, path, limit, what='object', first=None):
        """The bytes of the small object ``path`` (at most ``limit``: 413),
        read as the caller; 404/401/403 name it as ``what``.  With
        ``first``, only its first bytes, that many at most (a ranged GET,
        never 413)."""
        headers = {'Range': 'bytes=0-%d' % (first - 1)} if first else {}
        resp = self._subrequest('GET', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj)),
            headers=headers).get_response(self.app)
        try:
            if first and resp.status_int == 416:    # an empty object
                return b''
            if first and resp.is_success:
                return IterFile(resp.app_iter).read(first)
            if resp.status_int == 404:
                raise http_error(404, '%s %s does not exist'
                                 % (what, path.url))
            if resp.status_int in (401, 403):
                raise http_error(resp.status_int, 'not allowed to read %s %s'
                                 % (what, path.url))
            if not resp.is_success:
                raise http_error(503, 'could not read %s %s: %s'
                                 % (what, path.url, resp.status))
            body = IterFile(resp.app_iter).read(limit + 1)
        finally:
            _close(resp)
        if len(body) > limit:
            raise http_error(413, '%s %s is larger than the limit of %d '
                             'bytes' % (what, path.url, limit))
        return body

    def fetch(self, path, dest, limit, spool=None):
        """GET the object ``path`` into the file path ``dest``, at most
        ``limit`` bytes (counted against ``spool``'s budget when given);
        returns a :class:`Fetched`."""
        resp = self._subrequest('GET', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj))
        ).get_response(self.app)
        try:
            if resp.status_int == 404:
                raise http_error(404, 'object %s does not exist' % path.url)
            if resp.status_int in (401, 403):
                raise http_error(resp.status_int, 'not allowed to read %s'
                                 % path.url)
            if resp.status_int == 409:
                # Swift's answer for a large object it cannot join, or a
                # symlink that loops: its reason when it gives one.
                said = refusal_reason(resp.body)
                raise http_error(409, 'object %s cannot be read whole: %s '
                                 '(%s)' % (path.url, resp.status, BROKEN
                                           if not said or said.startswith(
                                               'Conflict ') else said))
            if not resp.is_success:
                raise http_error(503, 'could not read %s: %s'
                                 % (path.url, resp.status))
            with open_spool_file(dest, spool) as dst:
                size, md5, sha = copy_bounded(IterFile(resp.app_iter), dst,
                                              limit, path.url)
            if resp.content_length is not None and \
                    size != resp.content_length:
                # A large object whose segment went away is cut short
                # after its 200.
                raise http_error(409, 'object %s ended after %d of its %d '
                                 'bytes (%s)' % (path.url, size,
                                                 resp.content_length, BROKEN))
        except AnswerError:
            raise http_error(413, 'object %s is larger than the limit of %d '
                             'bytes' % (path.url, limit)) from None
        except SpoolError as err:
            raise http_error(507, 'the proxy has no room to fetch %s: %s'
                             % (path.url, err)) from None
        finally:
            _close(resp)
        return Fetched(dest, size, md5, sha)

    def head(self, path, version=None):
        """HEAD the object ``path`` (its version ``version``) as the
        caller: ``(status, headers)`` (a symlink's or a versioned object's
        as a GET would give them)."""
        resp = self._subrequest('HEAD', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj)) + (
                '?version-id=%s' % quote(version, safe='') if version
                else '')).get_response(self.app)
        _drain(resp)
        return resp.status_int, resp.headers

    def versions(self, path):
        """The version ids of the object ``path`` in a container with
        object versioning, newest first, delete markers left out (none
        in another container, or when they cannot be listed)."""
        sub = self._subrequest('GET', '%s?versions&format=json&prefix=%s'
                               % (_wsgi_path(path.account, path.container),
                                  quote(path.obj, safe='')))
        resp = sub.get_response(self.app)
        body = resp.body
        if resp.status_int != 200:
            return []
        try:
            entries = json.loads(body)
        except ValueError:
            return []
        return [e['version_id'] for e in entries if isinstance(e, dict)
                and e.get('name') == path.obj and e.get('version_id')
                and e['version_id'] != 'null'
                and not str(e.get('content_type', '')).startswith(
                    'application/x-deleted')]

    def delete(self, path, version=None):
        """DELETE the object ``path`` as the caller -- only its version
        ``version`` when given (a container with object versioning); the
        response status."""
        sub = self._subrequest('DELETE', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj)) + (
                '?version-id=%s' % quote(version, safe='') if version
                else ''))
        resp = sub.get_response(self.app)
        _drain(resp)
        return resp.status_int

    def restore_version(self, path):
        """In a container with object versioning, once the current
        version of ``path`` was deleted by its version id: make the newest
        version left current again, unless it is a delete marker or there
        is none.  Returns the status of what it did (None: nothing)."""
        sub = self._subrequest('GET', '%s?versions&format=json&limit=1'
                               '&prefix=%s' % (
                                   _wsgi_path(path.account, path.container),
                                   quote(path.obj, safe='')))
        resp = sub.get_response(self.app)
        body = resp.body
        if not resp.is_success:
            return resp.status_int
        # Sorted by name, newest version first: a name sorts before the
        # longer ones it begins, so the first entry is this object's
        # newest version, if it has any.
        entries = json.loads(body or b'[]') if resp.status_int == 200 \
            else []
        if not entries or entries[0].get('name') != path.obj or \
                entries[0].get('content_type', '').startswith(
                    'application/x-deleted'):
            return None
        sub = self._subrequest('PUT', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj)) +
            '?version-id=%s' % quote(entries[0]['version_id'], safe=''),
            headers={'Content-Length': '0'})
        sub.environ['wsgi.input'] = io.BytesIO()
        resp = sub.get_response(self.app)
        _drain(resp)
        return resp.status_int

    def put(self, path, source, size, headers, offset=0):
        """PUT ``size`` bytes of the file path ``source`` (or of a
        file-like object), from ``offset``, to ``path``; returns the
        subrequest's response (body drained)."""
        headers = dict(headers, **{'Content-Length': str(size)})
        sub = self._subrequest('PUT', quote(
            '/v1/%s/%s/%s' % (path.account, path.container, path.obj)),
            headers=headers)
        if not isinstance(source, str):
            sub.environ['wsgi.input'] = source
            sub.content_length = size
            resp = sub.get_response(self.app)
        else:
            with open(source, 'rb') as src:
                src.seek(offset)
                sub.environ['wsgi.input'] = src
                sub.content_length = size
                resp = sub.get_response(self.app)
        #: Why Swift refused it (e.g. "Upload exceeds quota."), or ''.
        resp.zerocloud_reason = refusal_reason(_drain(
            resp, 0 if resp.is_success else REASON_BYTES))
        return resp

    def put_container(self, path):
        """PUT the container of ``path`` as the caller; its status."""
        sub = self._subrequest('PUT', _wsgi_path(path.account,
                                                 path.container))
        resp = sub.get_response(self.app)
        _drain(resp)
        self._infos.pop((path.account, path.container), None)
        return resp.status_int
