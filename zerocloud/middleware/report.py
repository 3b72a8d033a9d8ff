# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The answer to a job: merge node outcomes into a status, a JSON report
and ZeroCloud's ``X-Nexe-*`` headers.

The job status is 200 when every node exited 0.  Otherwise it is the status
of the most serious failure, in this order (the first that applies wins):

===== ======================= ===========================================
502   Bad Gateway             the copies of a replicated node disagree
                              (``disagreement``): two object servers ran
                              the same program on what should have been
                              the same bytes and ended differently.
503   Service Unavailable     a node could not be run anywhere: every
                              candidate object server was unreachable,
                              busy (503), missing the object (404) or
                              unmounted (507), or the proxy could not read
                              the node's large object.  Retry later.
404   Not Found               a node's object is on none of its object
                              servers (every candidate answered 404: it
                              was deleted or expired after the listing
                              matched it -- a wildcard's node that runs
                              alone is then ``skipped``, not a failure,
                              unless its whole group is), or the object
                              a large object's manifest or a symlink
                              names does not exist.
403   Forbidden               the caller may not read what a node's large
                              object or symlink names (its segments, its
                              target).
409   Conflict                a node's large object cannot be read whole
                              (a segment is missing, changed or not
                              readable by the caller), or its symlink
                              loops or has too many links.
413   Request Entity Too      a node's object that is not read in place
      Large                   (a large object, a symlink's target) is
                              larger than ``max_fetch_bytes``, or an
                              input than an object server takes.
500   Internal Server Error   the sandbox or an object server failed
                              (``launcher-error``, a malformed answer, an
                              unexpected backend status, an
                              ``output-error`` writing to its disk).
422   Unprocessable Entity    a program was refused before it ran
                              (``invalid-binary``: the validator or the
                              loader), or is not a file of the image its
                              ``file://`` path names.
415   Unsupported Media Type  a node's ``image`` device is not a tar the
                              sandbox can mount (compressed, a member
                              leaving the image or under ``/dev``...).
504   Gateway Timeout         a program ran out of time (``timeout``:
                              wall clock; ``cpu``: CPU seconds).
424   Failed Dependency       a program ran and failed: non-zero exit
                              (``exit``), killed by a signal
                              (``signal``), a forbidden system call
                              (``policy``), over its ``memory`` or
                              ``output-limit``; or it left bytes of a
                              pipe from another node unread, or its
                              reader went away (``pipe``).
===== ======================= ===========================================

Nodes joined by pipes run as one gang: when one fails the others are
stopped (reason ``aborted``).  Those are consequences, not causes: when
only aborted nodes remain, the status and message are the gang's
(:class:`~zerocloud.middleware.rendezvous.Rendezvous` ``failure``: ``503``
the nodes could not all be admitted, ``504`` the job's wall-clock limit,
``424`` a node failed), and the message always says why the gang stopped.

Headers carry one comma-separated value per node, in node order
(:data:`NEXE_HEADERS`).  Every value goes through :func:`header_value`:
printable ASCII only, ``,`` and ``\\`` escaped, control characters (CR, LF)
and non-ASCII escaped as ``\\xNN``/``\\uNNNN``, cut at
:data:`MAX_HEADER_VALUE` characters, so nothing a program prints can end a
header, add one, or shift another node's value.
"""
import dataclasses
import hashlib
import json
from typing import Optional

from zerocloud.executor.result import Reason, RunResult

__all__ = ['JobReport', 'build_report', 'header_value', 'node_failure',
           'STATUS_ORDER', 'KIND_WORDS', 'NEXE_HEADERS', 'MAX_HEADER_VALUE',
           'OMITTED_HEADER', 'COLOCATED_HEADER']

#: Failure kinds with their job status, most serious first.
STATUS_ORDER = (('disagreement', 502), ('unavailable', 503),
                ('missing', 404), ('forbidden', 403), ('broken', 409),
                ('too-large', 413),
                ('server-error', 500), ('proxy-storage', 507),
                ('invalid-binary', 422), ('invalid-image', 415),
                ('timeout', 504),
                ('program', 424), ('pipe', 424))
#: How the job's message says each failure kind, before the nodes' names.
KIND_WORDS = {'disagreement': 'copies disagree',
              'unavailable': 'no object server could run',
              'missing': 'object missing',
              'forbidden': 'object not readable',
              'broken': 'object not readable whole',
              'too-large': 'object too large', 'server-error': 'server error',
              'proxy-storage': 'no room on the proxy',
              'invalid-binary': 'invalid program',
              'invalid-image': 'unusable image',
              'timeout': 'out of time', 'program': 'program failed',
              'pipe': 'pipe failed', 'aborted': 'stopped',
              'skipped': 'skipped'}
#: The per-node headers, in the order they are set.
NEXE_HEADERS = ('X-Nexe-System', 'X-Nexe-Status', 'X-Nexe-Retcode',
                'X-Nexe-Etag', 'X-Nexe-Validation', 'X-Nexe-Cdr-Line',
                'X-Nexe-Error')
#: Longest value one node contributes to one header.
MAX_HEADER_VALUE = 256
#: Says how many nodes the X-Nexe-* headers leave out (only when some).
OMITTED_HEADER = 'X-Zerocloud-Nodes-Omitted'
#: Which nodes with a ``location`` ran together (only for such jobs).
COLOCATED_HEADER = 'X-Nexe-Colocated'

_REASON_KIND = {
    Reason.INVALID_BINARY: 'invalid-binary',
    Reason.LAUNCHER_ERROR: 'server-error',
    Reason.TIMEOUT: 'timeout', Reason.CPU: 'timeout',
    Reason.EXIT: 'program', Reason.SIGNAL: 'program',
    Reason.POLICY: 'program', Reason.MEMORY: 'program',
    Reason.OUTPUT_LIMIT: 'program', Reason.ABORTED: 'aborted'}


def header_value(text, limit=MAX_HEADER_VALUE):
    """One node's value for a header: printable ASCII without ``,``, at
    most ``limit`` characters (an escape is never cut), ``-`` if empty."""
    out = []
    size = 0
    for char in str(text):
        code = ord(char)
        if char in ',\\' or code < 0x20 or code == 0x7f:
            piece = '\\x%02x' % code
        elif code > 0x7f:
            piece = ('\\u%04x' % code if code <= 0xffff
                     else '\\U%08x' % code)
        else:
            piece = char
        size += len(piece)
        if size > limit:
            break
        out.append(piece)
    return ''.join(out) or '-'


def _result(outcome):
    """The node's RunResult, or None (not run, or a report we cannot
    read: then ``outcome.error`` is set)."""
    if not outcome.ran:
        return None
    try:
        data = outcome.report['result']
        return RunResult.from_report(data, data.get('launcher_status', 0))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        outcome.ran = False
        outcome.status = outcome.status or 200
        outcome.error = 'unreadable node report: %s' % err
        return None


def node_failure(outcome, result):
    """The failure kind of a node (a key of :data:`STATUS_ORDER`), or
    None when it exited 0."""
    if outcome.disagreement:
        return 'disagreement'
    if outcome.skipped:
        return None
    if result is None:
        if outcome.status is None:
            return 'unavailable'
        if outcome.status == 404 and not outcome.ran:
            return 'missing'
        if outcome.status == 503:   # the proxy could not read its object
            return 'unavailable'
        if outcome.status in (401, 403):
            return 'forbidden'
        if outcome.status == 409:
            return 'broken'
        if outcome.status == 413:
            return 'too-large'
        if outcome.status == 422:
            return 'invalid-binary'
        if outcome.status == 415:
            return 'invalid-image'
        if outcome.status == 507:   # the proxy's spool, never a server's
            return 'proxy-storage'
        return 'server-error'
    if (outcome.report or {}).get('validation', 'ok') != 'ok':
        return 'invalid-binary'
    if result.ok and result.exit_code == 0:
        return 'pipe' if (outcome.report or {}).get('unread') else None
    if result.reason is Reason.OUTPUT_ERROR:
        # "ALIAS: write failed: ..." -- a pipe whose reader went away, or
        # the object server's own disk.
        chan = outcome.node.channel((result.message or '').split(':')[0])
        return 'pipe' if chan is not None and chan.kind == 'pipe' \
            else 'server-error'
    return _REASON_KIND.get(result.reason, 'program')


@dataclasses.dataclass
class JobReport:
    """The merged answer: ``status``, ``message``, ``nodes`` (dicts),
    ``headers`` (``X-Nexe-*``), ``stdout`` (spool paths of the path-less
    stdout, in node order; None when the job has none)."""

    status: int
    message: str
    nodes: list
    headers: dict
    stdout: Optional[list] = None
    stdout_type: str = 'text/plain'
    outputs: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return self.status == 200

    def fail(self, status, message):
        """Mark the job failed after the fact (e.g. a commit error)."""
        self.status, self.message = status, message

    def to_dict(self):
        return {'status': self.status, 'ok': self.ok,
                'message': self.message, 'nodes': self.nodes,
                'outputs': self.outputs}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + '\n'


def _read_capped(path, limit):
    with open(path, 'rb') as src:
        data = src.read(limit + 1)
    text = data[:limit].decode('utf-8', 'replace')
    return text + ('...' if len(data) > limit else '')


def _channels(node, result):
    by_alias = {c.path: c for c in (result.channels if result else ())}
    items = []
    for chan in node.channels:
        item = {'alias': chan.alias, 'kind': chan.kind,
                'direction': chan.direction, 'endpoint': chan.endpoint}
        counted = by_alias.get(chan.alias)
        if counted is not None:
            item.update(bytes_read=counted.bytes_read,
                        bytes_written=counted.bytes_written,
                        reads=counted.reads, writes=counted.writes,
                        sha256=counted.sha256)
        items.append(item)
    return items


def _response_path(node, outcome, alias):
    for index, chan in enumerate(node.channels):
        if chan.alias == alias and chan.kind == 'response':
            return outcome.outputs.get(index)
    return None


def _node_entry(outcome, result, kind, stderr_bytes):
    node = outcome.node
    server = outcome.server
    entry = {'name': node.name, 'group': node.group,
             'server': ('%s/%s' % (server.address, server.device)
                        if server else None),
             'ran': result is not None, 'failure': kind,
             'reason': result.reason.value if result else None,
             'exit_code': result.exit_code if result else None,
             'signal': result.signal if result else None,
             'message': result.message if result else None,
             'validation': (outcome.report or {}).get('validation'),
             'cpu_ms': (result.cpu_user_ms + result.cpu_sys_ms
                        if result else None),
             'wall_ms': result.wall_ms if result else None,
             'max_rss_kb': result.max_rss_kb if result else None,
             'channels': _channels(node, result),
             'error': outcome.error or _unread_error(outcome),
             'stderr': None}
    if outcome.copies is not None:
        entry['copies'] = outcome.copies
    if outcome.skipped:
        entry['skipped'] = outcome.skipped
    stderr = _response_path(node, outcome, '/dev/stderr')
    if stderr is not None:
        entry['stderr'] = _read_capped(stderr, stderr_bytes)
    return entry


def _unread_error(outcome):
    unread = (outcome.report or {}).get('unread') or []
    parts, unended = [], []
    for item in unread[:3]:
        try:
            if item['sent'] == item['read']:
                # Its writer had not ended when the node's wait did.
                unended.append('%s from node %s' % (
                    item['alias'], json.dumps(item['peer'])))
                continue
            parts.append('%d of the %d bytes of %s from node %s' % (
                item['sent'] - item['read'], item['sent'], item['alias'],
                json.dumps(item['peer'])))
        except (KeyError, TypeError):
            continue
    found = []
    if parts:
        found.append('left %s unread' % ', '.join(parts))
    if unended:
        found.append('ended before %s did' % ', '.join(unended))
    return '; '.join(found) or None


def _cdr(result):
    if result is None:
        return '-'
    totals = [0, 0, 0, 0]
    for chan in result.channels:
        totals[0] += chan.reads
        totals[1] += chan.bytes_read
        totals[2] += chan.writes
        totals[3] += chan.bytes_written
    return '%d %d %d %d %d %d %d' % (
        result.wall_ms, result.cpu_user_ms + result.cpu_sys_ms,
        result.max_rss_kb, *totals)


def _etag(result):
    if result is None:
        return '-'
    for chan in result.channels:
        if chan.path == '/dev/stdout' and chan.sha256:
            return chan.sha256
    return '-'


def _header_row(outcome, result, kind):
    report = outcome.report or {}
    if result is None:
        status, retcode = ('invalid-binary' if kind == 'invalid-binary'
                           else 'skipped' if outcome.skipped
                           else 'not-run'), '-'
        validation = 'invalid' if kind == 'invalid-binary' else '-'
    else:
        status = result.reason.value
        retcode = result.shell_status
        validation = 'ok' if report.get('validation', 'ok') == 'ok' \
            else 'invalid'
    error = outcome.error or (result.message if result and kind else '')
    return (outcome.node.name, status, '-' if retcode is None else retcode,
            _etag(result), validation, _cdr(result), error or '-')


def _failed(kind, names):
    """``'program failed: node "a"'``, ``'...: nodes "a", "b"'``."""
    return '%s: node%s %s' % (KIND_WORDS[kind], 's' if len(names) > 1
                              else '', ', '.join(json.dumps(n)
                                                 for n in names))


def _skipped(names):
    """``'node "a" did not run: ...'`` for nodes whose objects went."""
    return '%s %s not run: %s objects had expired or been deleted since ' \
        'the listing' % (_failed('skipped', names[:5]) + (
            ' and %d more' % (len(names) - 5) if len(names) > 5 else ''),
            'were' if len(names) > 1 else 'was',
            'their' if len(names) > 1 else 'its')


def _nexe_headers(rows, budget, names=NEXE_HEADERS):
    """The X-Nexe-* headers of the first nodes whose values fit in
    ``budget`` bytes in all (names and values, as sent), the same nodes
    in every header, and :data:`OMITTED_HEADER` when some did not fit:
    proxies in front of Swift refuse answers with huge headers (HAProxy
    keeps about 15 KB of them by default), clients lines of over 64 KB."""
    values = [[header_value(value) for value in row] for row in rows]
    used = sum(len(name) + 4 for name in names) + \
        len(OMITTED_HEADER) + 4 + len(str(len(rows)))
    kept = 0
    for row in values:
        cost = sum(len(value) + (1 if kept else 0) for value in row)
        if used + cost > budget and kept:
            break
        used += cost
        kept += 1
    headers = {name: ','.join(row[i] for row in values[:kept]) or '-'
               for i, name in enumerate(names)}
    if kept < len(rows):
        headers[OMITTED_HEADER] = str(len(rows) - kept)
    return headers


def _colocated(outcomes):
    """Per node, as ZeroCloud's ``X-Nexe-Colocated``: a hash of the server
    when the node has a ``location`` and ran on the same server as
    another node of that location (the same hash for every node of that
    server), else None."""
    def where(outcome):
        server = outcome.server
        if outcome.node.location is None or server is None:
            return None
        return outcome.node.location, server.address
    places = [where(o) for o in outcomes]
    counts = {}
    for place in places:
        if place is not None:
            counts[place] = counts.get(place, 0) + 1
    return [hashlib.md5(place[1].encode(), usedforsecurity=False).hexdigest()
            if place is not None and counts[place] > 1 else None
            for place in places]


def build_report(plan, outcomes, stderr_bytes, gang_failure=None,
                 header_bytes=None):
    """Merge the :class:`~zerocloud.middleware.dispatch.NodeOutcome` of
    every node (in plan order) into a :class:`JobReport`.

    :param gang_failure: ``(node or None, status, message)``, why the
        connected nodes were stopped, if they were.
    :param header_bytes: most bytes of the X-Nexe-* headers together
        (None: no bound); see :func:`_nexe_headers`.
    """
    entries, rows, kinds = [], [], []
    for outcome in outcomes:
        result = _result(outcome)
        kind = node_failure(outcome, result)
        kinds.append((kind, outcome.node.name))
        entries.append(_node_entry(outcome, result, kind, stderr_bytes))
        rows.append(list(_header_row(outcome, result, kind)))
    names = NEXE_HEADERS
    if any(o.node.location is not None for o in outcomes):
        names += (COLOCATED_HEADER,)
        together = _colocated(outcomes)
        for entry, row, outcome, value in zip(entries, rows, outcomes,
                                              together):
            if outcome.node.location is not None:
                entry['colocated'] = value
            row.append(value or '0')
    headers = _nexe_headers(rows, float('inf') if header_bytes is None
                            else header_bytes, names)
    status, message = 200, 'every node exited 0'
    skipped = [o.node.name for o in outcomes if o.skipped]
    if skipped:
        message = 'every node that ran exited 0; %s' % _skipped(skipped)
    for kind, code in STATUS_ORDER:
        failed = [name for k, name in kinds if k == kind]
        if failed:
            status = code
            message = _failed(kind, failed)
            break
    aborted = [name for k, name in kinds if k == 'aborted']
    if status == 200 and (aborted or gang_failure):
        # Only aborted nodes: the gang's cause is the job's.
        status, message = gang_failure[1:] if gang_failure else (
            503, _failed('aborted', aborted))
    elif gang_failure is not None:
        message += '; connected nodes stopped: ' + gang_failure[2]
    stdout, stdout_type = None, 'text/plain'
    declared = [c for n in plan.nodes for c in n.channels
                if c.alias == '/dev/stdout' and c.kind == 'response']
    if declared:
        stdout_type = declared[0].content_type or stdout_type
        stdout = [p for p in (_response_path(o.node, o, '/dev/stdout')
                              for o in outcomes) if p is not None]
    return JobReport(status, message, entries, headers, stdout, stdout_type)
