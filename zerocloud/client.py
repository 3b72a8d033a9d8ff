# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Submitting jobs: what ``zerocloud submit`` and ``zerocloud demo`` use.

Credentials work as for the ``swift`` command: ``-A/-U/-K`` or
``ST_AUTH``/``ST_USER``/``ST_KEY`` (v1 auth), or a ready
``OS_STORAGE_URL``/``OS_AUTH_TOKEN``; options given win over the
environment (see :func:`authenticate`).
"""
import dataclasses
import http.client
import json
import os
import re
import time
import urllib.parse

from zerocloud.exceptions import ZeroCloudError

__all__ = ['ClientError', 'Answer', 'authenticate', 'submit', 'body_type',
           'object_url', 'format_nodes', 'format_failures', 'printable']


class ClientError(ZeroCloudError):
    """Could not authenticate or reach the cluster."""


@dataclasses.dataclass
class Answer:
    """The proxy's answer to a job.  ``body`` is empty when it was
    written to ``submit``'s ``stream_to`` (``streamed`` bytes)."""
    status: int
    reason: str
    headers: dict
    body: bytes
    streamed: int = None

    @property
    def ok(self):
        return 200 <= self.status < 300

    def report(self):
        """The JSON report, or None when the body is the job's stdout."""
        ctype = self.headers.get('content-type', '')
        if not ctype.startswith('application/json'):
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


#: Seconds to connect, and to wait for an answer (and for each part of it)
#: by default: a job's answer comes when it ends (see ``heartbeat``).
TIMEOUT = 900
#: Most seconds to wait for the auth service.
AUTH_TIMEOUT = 30


def authenticate(auth_url=None, user=None, key=None, storage_url=None,
                 token=None, timeout=None):
    """(storage_url, token) from arguments or the swift CLI's variables.

    Arguments win over the environment: with any of ``auth_url``, ``user``
    or ``key`` given, ``OS_AUTH_TOKEN`` (and the ``OS_STORAGE_URL`` set
    with it) is not used.  A storage URL without a token is where to go
    once authenticated, instead of the one the auth service answers.
    The auth service gets ``timeout`` seconds, :data:`AUTH_TIMEOUT` at
    most.
    """
    env = os.environ
    if token or not (auth_url or user or key):
        ready = (storage_url or env.get('OS_STORAGE_URL'),
                 token or env.get('OS_AUTH_TOKEN'))
        if all(ready):
            return ready
    if not storage_url and not env.get('OS_AUTH_TOKEN'):
        storage_url = env.get('OS_STORAGE_URL')
    auth_url = auth_url or env.get('ST_AUTH')
    user = user or env.get('ST_USER')
    key = key or env.get('ST_KEY')
    if not (auth_url and user and key):
        raise ClientError('no credentials: give -A/-U/-K (or ST_AUTH, '
                          'ST_USER, ST_KEY; or OS_STORAGE_URL and '
                          'OS_AUTH_TOKEN)')
    url, token = _get_auth(auth_url, user, key,
                           min(timeout or AUTH_TIMEOUT, AUTH_TIMEOUT))
    if not token or not (storage_url or url):
        raise ClientError('authentication failed: %s answered without %s'
                          % (auth_url, 'X-Auth-Token' if not token
                             else 'X-Storage-Url'))
    return storage_url or url, token


def _get_auth(auth_url, user, key, timeout):
    """swiftclient's v1 auth, its failures one line without the page."""
    import requests
    import swiftclient
    try:
        return swiftclient.get_auth(auth_url, user, key, timeout=timeout)
    except swiftclient.ClientException as e:
        raise ClientError('authentication failed: %s'
                          % _auth_refusal(e, auth_url))
    except requests.Timeout:
        raise ClientError('no answer from %s within %g s'
                          % (auth_url, timeout))
    except OSError as e:
        raise ClientError('cannot reach %s: %s' % (auth_url, e))


def _auth_refusal(e, auth_url):
    status = e.http_status
    if status is None:
        return e.msg
    if 200 <= status < 300:     # a page, without X-Storage-Url
        return '%s answered without X-Storage-Url' % auth_url
    why = ('%d %s' % (status, e.http_reason or '')).strip()
    if status in (401, 403):
        why += ' (check -U/-K or ST_USER/ST_KEY)'
    return why


#: Bytes read from the answer at a time when it is streamed.
CHUNK = 64 * 1024


def body_type(body):
    """The Content-Type a job body is POSTed with: a tar's, a script's
    (``#!``) or a job description's."""
    if body[257:262] == b'ustar':
        return 'application/x-tar'
    return 'text/plain' if body.startswith(b'#!') else 'application/json'


def object_url(storage_url, name):
    """The URL of ``CONTAINER/OBJECT`` in the account of ``storage_url``
    (a #! script POSTed there reads that object as its stdin)."""
    container, _sep, obj = name.lstrip('/').partition('/')
    if not container or not obj:
        raise ClientError('%s: not CONTAINER/OBJECT' % name)
    return '%s/%s/%s' % (storage_url.rstrip('/'),
                         urllib.parse.quote(container, safe=''),
                         urllib.parse.quote(obj))


def deferred_answer(storage_url, token, url, wait=0.0, poll=0.5,
                    stream_to=None, timeout=None):
    """The stored answer of a deferred job (``submit(deferred=...)``'s
    ``swift://ACCOUNT/CONTAINER/OBJECT``), as an :class:`Answer` with the
    job's own status and headers; waits up to ``wait`` seconds for it.
    ``stream_to`` and ``timeout`` are as for :func:`submit`.

    :raises ClientError: when it is not there (yet), or ``url`` is not a
        ``swift://`` object.
    """
    parts = urllib.parse.urlsplit(url)
    container, _sep, obj = parts.path.lstrip('/').partition('/')
    if parts.scheme != 'swift' or not parts.netloc or not obj:
        raise ClientError('%s: not swift://ACCOUNT/CONTAINER/OBJECT' % url)
    base = storage_url.rstrip('/').rsplit('/', 1)[0]
    answer_url = '%s/%s/%s/%s' % (
        base, urllib.parse.quote(parts.netloc, safe=''),
        urllib.parse.quote(container, safe=''), urllib.parse.quote(obj))
    timeout = timeout or TIMEOUT
    head = _stored_headers(answer_url, token, url, wait, poll, timeout)
    try:
        stored = json.loads(head)
        code, _sp, reason = stored['status'].partition(' ')
        headers = {k.lower(): v for k, v in stored['headers'].items()}
        if stored.get('answer_stored') is False:
            # The job ended, but Swift refused its answer (a quota...).
            return Answer(int(code), reason, dict(
                headers, **{'content-type': 'text/plain'}),
                stored['message'].encode('utf-8') + b'\n')
        answer = Answer(int(code), reason, headers, b'')
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ClientError('%s.headers is not a deferred answer: %s'
                          % (url, e))
    if not answer.ok or headers.get('content-type', '').startswith(
            'application/json'):
        stream_to = None        # read for the report or the reason
    with _Request('GET', answer_url, {'X-Auth-Token': token},
                  timeout=timeout) as resp:
        if resp.status != 200:
            raise ClientError('cannot read %s: %s' % (url, _status(resp)))
        return _take(answer, resp, answer_url, stream_to)


def _stored_headers(object_url, token, url, wait, poll, timeout):
    """The body of a deferred answer's ``.headers``, once it is there."""
    deadline = time.monotonic() + wait
    while True:
        with _Request('GET', object_url + '.headers',
                      {'X-Auth-Token': token}, timeout=timeout) as resp:
            if resp.status == 200:
                return _read(resp, object_url)
            if resp.status != 404:
                raise ClientError('cannot read %s.headers: %s'
                                  % (url, _status(resp)))
        if time.monotonic() >= deadline:
            raise ClientError('%s: no answer yet (the job runs, or its '
                              'proxy restarted and lost it)' % url)
        time.sleep(poll)


def _status(resp):
    """``401 Unauthorized``, and what that may mean."""
    status = '%d %s' % (resp.status, resp.reason)
    if resp.status == 401:
        status += ' (the token may have expired)'
    return status


def submit(storage_url, token, job_body, json_report=False, dry_run=False,
           timeout=TIMEOUT, stream_to=None, heartbeat=False, source=None,
           deferred=None):
    """POST a job (bytes or a JSON-able value) and return the Answer.
    Bytes that begin with ``#!`` are a script, POSTed as ``text/plain``:
    the proxy runs it with the interpreter its first line names.  A tar
    (``ustar`` magic) is a ZeroVM application archive, POSTed as
    ``application/x-tar``: the proxy runs its ``boot/system.map``.

    ``timeout``: seconds to connect, to wait for the answer to begin, and
    then for each part of it.

    ``stream_to``: a binary file that a successful job's stdout body (not
    a JSON report) is written to as it arrives, instead of being held in
    memory: the nodes' stdout may be larger than the client's memory.

    ``heartbeat``: ask for ``?heartbeat=on`` (the proxy answers ``202`` at
    once and sends spaces while the job runs, then its JSON report); the
    Answer then has the job's status, from the report.

    ``source``: ``swift://ACCOUNT/CONTAINER/OBJECT`` of a stored job or
    application archive, sent as ``X-Zerovm-Source``; ``job_body`` is then
    the data its path-less stdin reads (``application/octet-stream``).

    ``deferred``: ``always`` or ``auto``, sent as ``X-Zerovm-Deferred``:
    the answer may then be ``202`` whose body is the ``swift://`` URL the
    job's answer will be stored at (and ``<URL>.headers`` its status).
    """
    if not isinstance(job_body, (bytes, str)):
        job_body = json.dumps(job_body)
    if isinstance(job_body, str):
        job_body = job_body.encode('utf-8')
    headers = {'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0',
               'Content-Type': body_type(job_body)}
    if source:
        headers.update({'X-Zerovm-Source': source,
                        'Content-Type': 'application/octet-stream'})
    if json_report:
        headers['Accept'] = 'application/json'
    if dry_run:
        headers['X-Zerocloud-Dry-Run'] = '1'
    if deferred:
        headers['X-Zerovm-Deferred'] = deferred
    url = storage_url + ('?heartbeat=on' if heartbeat else '')
    with _Request('POST', url, headers, job_body, timeout) as resp:
        answer = Answer(resp.status, resp.reason,
                        {k.lower(): v for k, v in resp.getheaders()}, b'')
        if not answer.ok or answer.headers.get(
                'content-type', '').startswith('application/json'):
            stream_to = None
        _take(answer, resp, storage_url, stream_to)
        if heartbeat and answer.status == 202:
            _job_status(answer, storage_url)
        return answer


class _Request:
    """``with _Request(method, url, ...) as resp``: an HTTP request whose
    failures to connect or to get an HTTP answer are ClientErrors; the
    connection is closed at the end."""

    def __init__(self, method, url, headers, body=None, timeout=TIMEOUT):
        self.method, self.url, self.headers = method, url, headers
        self.body, self.timeout = body, timeout
        parts = urllib.parse.urlsplit(url)
        self.path = urllib.parse.urlunsplit(('', '') + parts[2:]) or '/'
        self.conn = (http.client.HTTPSConnection if parts.scheme == 'https'
                     else http.client.HTTPConnection)(parts.netloc,
                                                      timeout=timeout)

    def __enter__(self):
        try:
            self.conn.request(self.method, self.path, body=self.body,
                              headers=self.headers)
            return self.conn.getresponse()
        except TimeoutError:
            self.conn.close()
            raise ClientError('no answer from %s within %g s (--timeout)'
                              % (self.url, self.timeout))
        except http.client.RemoteDisconnected:
            self.conn.close()
            raise ClientError('%s closed the connection without answering'
                              % self.url)
        except http.client.HTTPException as e:
            self.conn.close()
            raise ClientError('%s did not answer in HTTP: %r'
                              % (self.url, e))
        except OSError as e:
            self.conn.close()
            raise ClientError('cannot reach %s: %s' % (self.url, e))

    def __exit__(self, *exc):
        self.conn.close()


def _take(answer, resp, url, stream_to=None):
    """Read ``resp``'s body into ``answer.body``, or write it to
    ``stream_to`` as it comes (``answer.streamed`` bytes)."""
    if stream_to is None:
        answer.body = _read(resp, url)
        return answer
    answer.streamed = 0
    while True:
        chunk = _read(resp, url, CHUNK)
        if not chunk:
            break
        stream_to.write(chunk)      # a reader gone is the caller's
        answer.streamed += len(chunk)
    # http.client ends a short read without a word (for compatibility)
    length = resp.getheader('content-length')
    if length is not None and int(length) != answer.streamed:
        raise ClientError('the answer from %s broke off after %d of its '
                          '%s bytes' % (url, answer.streamed, length))
    return answer


def _job_status(answer, storage_url):
    """A heartbeat answer's status is in its report, after the spaces."""
    answer.body = answer.body.lstrip(b' ')
    report = answer.report()
    if not isinstance(report, dict) or not isinstance(report.get('status'),
                                                      int):
        raise ClientError('the answer from %s ended without its report'
                          % storage_url)
    answer.status = report['status']
    answer.reason = http.client.responses.get(answer.status, '')


def _read(resp, storage_url, size=None):
    try:
        return resp.read(size)
    except TimeoutError:
        raise ClientError('the answer from %s stopped coming (--timeout)'
                          % storage_url)
    except (OSError, http.client.HTTPException) as e:
        raise ClientError('the answer from %s broke off: %r'
                          % (storage_url, e))


_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f]')


def printable(text, keep=''):
    """``text`` with its control characters but those of ``keep`` shown
    as ``\\xNN``: a job's stderr or names cannot move the cursor, change
    colours or set the terminal's title."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep
                        else '\\x%02x' % ord(m.group()), text)


_COLUMNS = [('NODE', 'name'), ('SERVER', 'server'), ('STATUS', 'exit_code'),
            ('REASON', 'reason'), ('CPU MS', 'cpu_ms'),
            ('WALL MS', 'wall_ms'), ('MEM KB', 'max_rss_kb')]


def skipped_nodes(answer, report=None):
    """How many of the job's nodes were skipped (their objects gone
    since the listing): from the report, else ``X-Nexe-Status``."""
    if report is not None:
        return sum(1 for n in report.get('nodes') or []
                   if isinstance(n, dict) and n.get('skipped'))
    statuses = answer.headers.get('x-nexe-status') or ''
    return statuses.split(',').count('skipped')


def _cell(node, key):
    if key == 'reason' and node.get('skipped'):
        return 'skipped (%s)' % node['skipped']
    if key == 'server' and node.get('copies'):
        # A replicated node: the copy used, then the others that ran.
        ran = sorted((c for c in node['copies'] if c.get('ran')),
                     key=lambda c: not c.get('used'))
        if ran:
            return '+'.join(str(c.get('server')) for c in ran)
    if key == 'cpu_ms' and key not in node:
        user = node.get('cpu_user_ms') or 0
        return str(user + (node.get('cpu_sys_ms') or 0))
    v = node.get(key)
    return '-' if v is None else str(v)


def format_nodes(report):
    """A per-node table from a job report (any missing field shows '-')."""
    nodes = report.get('nodes') or []
    if isinstance(nodes, dict):
        nodes = [dict(v, name=k) for k, v in nodes.items()]
    rows = [[h for h, _ in _COLUMNS]]
    for n in nodes:
        rows.append([printable(_cell(n, k)) for _, k in _COLUMNS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in rows]
    return '\n'.join(lines) + '\n'


#: Lines of a failed node's stderr that :func:`format_failures` shows.
STDERR_LINES = 10


def _why(node):
    """One line on why a node failed, from its report entry."""
    if node.get('error'):
        return node['error']
    reason = node.get('reason')
    if reason == 'exit':
        why = 'exit code %s' % node.get('exit_code')
    elif reason == 'signal':
        why = 'killed by signal %s' % node.get('signal')
    else:
        why = reason or node.get('failure') or 'failed'
    message = node.get('message')
    return '%s: %s' % (why, message) if message else why


def format_failures(report, stderr_lines=STDERR_LINES):
    """Why a failed job failed: its message, then each failed node with the
    reason and the last ``stderr_lines`` lines of its stderr (when the job
    kept a path-less stderr).  Empty for a job that did not fail."""
    nodes = report.get('nodes') or []
    failed = [n for n in nodes if isinstance(n, dict) and n.get('failure')]
    if not failed and report.get('ok', True):
        return ''
    lines = [report['message']] if report.get('message') else []
    for node in failed:
        lines.append('node %s: %s' % (node.get('name'), _why(node)))
        lines.extend('  stderr: ' + line
                     for line in _lines(node.get('stderr'))[-stderr_lines:])
    return ''.join(printable(str(line), '\t\n') + '\n' for line in lines)


def _lines(text):
    """The lines of ``text``, split at newlines only (not at ``\\r``, as
    ``splitlines`` does)."""
    lines = (text or '').split('\n')
    return lines[:-1] if lines[-1] == '' else lines
