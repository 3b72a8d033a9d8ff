# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Usage records: what a job used, logged and stored for accounting."""
import json

from zerocloud.middleware.report import JobReport
from zerocloud.middleware.usage import (USAGE_FIELDS, job_usage, record_body,
                                        record_path, usage_line)

START = 1796601600.25      # 2026-12-07T00:00:00.25Z


def node(cpu, wall, rss, read, written, ran=True, **extra):
    return dict({'ran': ran, 'cpu_ms': cpu, 'wall_ms': wall,
                 'max_rss_kb': rss, 'channels': [
                     {'bytes_read': read, 'bytes_written': 0},
                     {'bytes_written': written}]}, **extra)


def report(*nodes, status=200, outputs=()):
    return JobReport(status, 'm', list(nodes), {}, outputs=list(outputs))


def test_a_job_s_usage_adds_its_nodes_up():
    usage = job_usage('AUTH_t', 'tx1', report(
        node(10, 20, 900, 5, 7), node(1, 2, 1200, 3, 0),
        node(None, None, None, 0, 0, ran=False),
        outputs=['swift://AUTH_t/c/o']), START, START + 1.5)
    assert usage == {
        'account': 'AUTH_t', 'trans_id': 'tx1',
        'start': '2026-12-07T00:00:00.250000Z', 'wall_ms': 1500,
        'status': 200, 'nodes': 3, 'sandboxes': 2, 'cpu_ms': 11,
        'node_wall_ms': 22, 'max_rss_kb': 1200, 'bytes_read': 8,
        'bytes_written': 7, 'outputs': 1}
    assert list(USAGE_FIELDS) == list(usage)


def test_every_copy_of_a_replicated_node_is_counted():
    copies = [{'ran': True, 'cpu_ms': 10, 'wall_ms': 12, 'max_rss_kb': 5},
              {'ran': True, 'cpu_ms': 11, 'wall_ms': 13, 'max_rss_kb': 6},
              {'ran': False, 'error': 'down'}]
    usage = job_usage('AUTH_t', 'tx', report(
        node(10, 12, 5, 1, 1, copies=copies)), START, START)
    assert (usage['sandboxes'], usage['cpu_ms'], usage['node_wall_ms'],
            usage['max_rss_kb']) == (2, 21, 25, 6)


def test_the_log_line_and_the_stored_record():
    usage = job_usage('AUTH_t x', 'tx/1', report(node(1, 2, 3, 4, 5)),
                      START, START + 0.002)
    line = usage_line(usage)
    assert line.startswith('account=AUTH_t%20x trans_id=tx%2F1 '
                           'start=2026-12-07T00:00:00.250000Z wall_ms=2 ')
    assert line.endswith('bytes_read=4 bytes_written=5 outputs=0')
    assert record_path('AUTH_usage', usage) == (
        '/v1/AUTH_usage/AUTH_t x/2026/12/07/000000.250000-tx-1.json')
    assert json.loads(record_body(usage)) == usage
