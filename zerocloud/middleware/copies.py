# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Replicated nodes: merge the copies of a node into one outcome.

A group with ``replicate: N`` (2 or 3) runs each of its nodes on N
different object servers at once (:func:`~zerocloud.middleware.placement.
copy_candidates` deals the node's candidates out, so two copies never share
a server).  The sandbox is deterministic: the same program on the same
bytes ends the same way and writes the same bytes.  So the copies are
compared, and :func:`merge_copies` makes the node's outcome:

* A copy is *settled* when its program ended by itself -- ``ok``, ``exit``,
  a ``signal``, a ``policy`` kill, its ``memory`` or ``output-limit``, or
  the validator's refusal.  Those are functions of the program and its
  inputs.  Every settled copy must agree with the others on the report
  without timings (:meth:`~zerocloud.executor.result.RunResult.
  deterministic`: reason, exit code, signal, message, and each channel's
  bytes and sha256) and on the validation.  The node is the first settled
  copy; when two disagree, the node fails with ``disagreement`` (the job
  answers 502, and writes nothing): one server read other bytes than the
  other (a replica of an input differs) or ran wrongly.
* A copy that did not settle -- no server could run it, its answer was
  unusable, it ran out of time or CPU on a busy server, its launcher or
  output disk failed -- is a server's trouble, not the program's: it is
  left out when another copy settled (replication tolerates it), and is
  the node's outcome when none did.

Every copy is listed in the node's ``copies`` (server, reason or error),
so a report shows where each ran and which were left out.
"""
import json

from zerocloud.executor.result import Reason, RunResult

__all__ = ['merge_copies', 'SETTLED_REASONS']

#: Ends of a run decided by the program and its inputs alone.
SETTLED_REASONS = frozenset([
    Reason.OK, Reason.EXIT, Reason.SIGNAL, Reason.POLICY, Reason.MEMORY,
    Reason.OUTPUT_LIMIT, Reason.INVALID_BINARY])


def _where(outcome):
    server = outcome.server
    return '%s/%s' % (server.address, server.device) if server else None


def _settled(outcome):
    """``(deterministic report, validation)`` of a copy whose program
    ended by itself, else None."""
    if not outcome.ran:
        return None
    try:
        data = outcome.report['result']
        result = RunResult.from_report(data, data.get('launcher_status', 0))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if result.reason not in SETTLED_REASONS:
        return None
    return result.deterministic(), outcome.report.get('validation', 'ok')


def _describe(settled):
    """A short account of one copy's end, for the disagreement message."""
    result, validation = settled
    text = result['reason']
    if result['exit_code'] is not None:
        text += ' %d' % result['exit_code']
    if validation != 'ok':
        text += ', validation %s' % validation
    return text


def _difference(first, other):
    """What two settled copies disagree on, as ``(theirs, ours)`` texts."""
    if first[0]['reason'] != other[0]['reason'] or \
            first[0]['exit_code'] != other[0]['exit_code'] or \
            first[1] != other[1]:
        return _describe(first), _describe(other)
    ours = {c['path']: c for c in first[0]['channels']}
    for chan in other[0]['channels']:
        mine = ours.get(chan['path'])
        if mine != chan:
            return (_channel(mine, chan['path']), _channel(chan, chan['path']))
    return (json.dumps(first[0], sort_keys=True),
            json.dumps(other[0], sort_keys=True))


def _channel(chan, path):
    if chan is None:
        return '%s absent' % path
    if chan.get('sha256'):
        return '%s %d bytes written, sha256 %s' % (
            path, chan['bytes_written'], chan['sha256'][:16])
    return '%s %d bytes read, %d written' % (
        path, chan['bytes_read'], chan['bytes_written'])


def _copy_entry(outcome, settled):
    entry = {'server': _where(outcome), 'ran': outcome.ran,
             'used': False, 'error': outcome.error}
    if outcome.ran and outcome.report:
        result = outcome.report.get('result') or {}
        entry['reason'] = result.get('reason')
        # What the copy used (the accounting counts every copy).
        if isinstance(result.get('cpu_user_ms'), int):
            entry['cpu_ms'] = result['cpu_user_ms'] + (
                result.get('cpu_sys_ms') or 0)
        entry['wall_ms'] = result.get('wall_ms')
        entry['max_rss_kb'] = result.get('max_rss_kb')
    if outcome.ran and settled is None and not outcome.error:
        entry['error'] = 'did not settle: %s' % entry.get('reason')
    return entry


def merge_copies(node, copies):
    """The outcome of a replicated node from its copies' outcomes (in copy
    order); it gets ``copies`` (one dict each) and, when settled copies
    disagree, ``disagreement`` (the message)."""
    settled = [_settled(c) for c in copies]
    entries = [_copy_entry(c, s) for c, s in zip(copies, settled)]
    good = [i for i, s in enumerate(settled) if s is not None]
    if not good:
        ran = [c for c in copies if c.ran]
        chosen = ran[0] if ran else copies[0]
        if not ran:
            errors = []
            for copy in copies:
                if copy.error and copy.error not in errors:
                    errors.append(copy.error)
            if len(errors) > 1:
                chosen.error = '; '.join(errors)
        for copy in copies:
            if copy is not chosen:
                chosen.tried.extend(copy.tried)
    else:
        chosen = copies[good[0]]
        first = settled[good[0]]
        for i in good[1:]:
            if settled[i] != first:
                theirs, ours = _difference(first, settled[i])
                chosen.disagreement = (
                    'copies of node %s disagree: %s on %s, %s on %s (the '
                    'servers read different bytes, or one ran wrongly); '
                    'nothing was written' % (
                        json.dumps(node.name), theirs, _where(chosen), ours,
                        _where(copies[i])))
                chosen.error = chosen.disagreement
                break
    entries[copies.index(chosen)]['used'] = chosen.ran
    chosen.copies = entries
    return chosen
