# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""What a job used, for the operator's accounting and billing.

Every job (each job of a chain, each heartbeat job) ends with one
:func:`job_usage` record: the account, the transaction id, when it ran,
its status, how many nodes it had and how many sandboxes ran (a
replicated node's copies count), their CPU and wall-clock milliseconds,
the largest memory, the bytes its programs read and wrote, and the
objects it wrote.  The proxy filter logs it as one ``usage`` line of
``key=value`` pairs (:func:`usage_line`), which log pipelines parse as
they parse Swift's access logs; and, when ``accounting_account`` is set,
stores it as a JSON object under that account, as ZeroCloud's
``zerovm_accounting_enabled`` did: container ``<account>``, object
``YYYY/MM/DD/HHMMSS.ffffff-<trans_id>.json`` (:func:`record_path`), so a
listing with a date prefix gives an account's jobs of a day.
"""
import datetime
import json
import urllib.parse

__all__ = ['job_usage', 'usage_line', 'record_path', 'record_body',
           'USAGE_FIELDS']

#: The fields of a record, in the order :func:`usage_line` writes them.
USAGE_FIELDS = ('account', 'trans_id', 'start', 'wall_ms', 'status',
                'nodes', 'sandboxes', 'cpu_ms', 'node_wall_ms',
                'max_rss_kb', 'bytes_read', 'bytes_written', 'outputs')


def _number(value):
    return value if isinstance(value, int) and not isinstance(
        value, bool) else 0


def job_usage(account, trans_id, report, start, end):
    """The usage record (a dict) of a job whose :class:`~zerocloud.
    middleware.report.JobReport` is ``report``, run from ``start`` to
    ``end`` (epoch seconds)."""
    sandboxes = cpu = wall = rss = read = written = 0
    for node in report.nodes:
        copies = node.get('copies') or [node]
        ran = [c for c in copies if c.get('ran')]
        sandboxes += len(ran)
        cpu += sum(_number(c.get('cpu_ms')) for c in ran)
        wall += sum(_number(c.get('wall_ms')) for c in ran)
        rss = max([rss] + [_number(c.get('max_rss_kb')) for c in ran])
        for chan in node.get('channels') or ():
            read += _number(chan.get('bytes_read'))
            written += _number(chan.get('bytes_written'))
    return {'account': account, 'trans_id': trans_id or '',
            'start': datetime.datetime.fromtimestamp(
                start, datetime.timezone.utc).strftime(
                    '%Y-%m-%dT%H:%M:%S.%fZ'),
            'wall_ms': int(round((end - start) * 1000)),
            'status': report.status, 'nodes': len(report.nodes),
            'sandboxes': sandboxes, 'cpu_ms': cpu, 'node_wall_ms': wall,
            'max_rss_kb': rss, 'bytes_read': read, 'bytes_written': written,
            'outputs': len(report.outputs)}


def usage_line(usage):
    """``key=value`` pairs, values URL-quoted (an account name may hold
    any character but ``/``)."""
    return ' '.join('%s=%s' % (key, urllib.parse.quote(str(usage[key]),
                                                       safe=':.-_'))
                    for key in USAGE_FIELDS)


def record_path(accounting_account, usage):
    """The Swift path (``/v1/...``, not quoted) of a usage record."""
    day, _t, clock = usage['start'].partition('T')
    stamp = clock.rstrip('Z').replace(':', '')
    return '/v1/%s/%s/%s/%s-%s.json' % (
        accounting_account, usage['account'], day.replace('-', '/'), stamp,
        (usage['trans_id'] or 'no-trans-id').replace('/', '-'))


def record_body(usage):
    """The stored record: its JSON, one line."""
    return (json.dumps(usage, sort_keys=True) + '\n').encode()
