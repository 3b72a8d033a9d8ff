# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import json

import pytest

from proxy_fakes import run_result
from zerocloud.job import parse_job
from zerocloud.middleware.dispatch import NodeOutcome
from zerocloud.middleware.plan import Server
from zerocloud.middleware.planner import expand
from zerocloud.middleware.report import (MAX_HEADER_VALUE, NEXE_HEADERS,
                                         OMITTED_HEADER, build_report,
                                         header_value)

SERVER = Server('10.0.0.1', 6200, 'sdb')


def plan_of(count=2, stdout=True):
    devices = [{'name': 'stderr'}]
    if stdout:
        devices.append({'name': 'stdout'})
    return expand(parse_job(json.dumps([{
        'name': 'n', 'count': count, 'exec': {'path': 'swift://~/e/x'},
        'devices': devices}]), 'AUTH_t'))


def ran(node, tmp_path, exit_code=0, reason=None, stdout=b'', stderr=b'',
        validation='ok'):
    outputs = {}
    for index, chan in enumerate(node.channels):
        data = {'/dev/stdout': stdout, '/dev/stderr': stderr}.get(chan.alias)
        if data is not None:
            path = tmp_path / ('%s-%d' % (node.name, index))
            path.write_bytes(data)
            outputs[index] = str(path)
    chans = [{'path': '/dev/stdout', 'mode': 'w', 'bytes_read': 0,
              'bytes_written': len(stdout), 'reads': 0, 'writes': 1,
              'sha256': 'ab' * 32}]
    return NodeOutcome(node, SERVER, True, {
        'validation': validation,
        'result': run_result(exit_code, reason, chans)}, outputs)


def test_all_ok(tmp_path):
    plan = plan_of()
    report = build_report(plan, [ran(n, tmp_path, stdout=n.name.encode())
                                 for n in plan.nodes], 10)
    assert report.ok and report.status == 200
    assert report.headers['X-Nexe-System'] == 'n-1,n-2'
    assert report.headers['X-Nexe-Status'] == 'ok,ok'
    assert report.headers['X-Nexe-Retcode'] == '0,0'
    assert report.headers['X-Nexe-Etag'] == ','.join(['ab' * 32] * 2)
    assert report.headers['X-Nexe-Validation'] == 'ok,ok'
    assert report.headers['X-Nexe-Cdr-Line'] == \
        '7 4 900 0 0 1 3,7 4 900 0 0 1 3'
    assert report.headers['X-Nexe-Error'] == '-,-'
    assert set(report.headers) == set(NEXE_HEADERS)
    assert [open(p, 'rb').read() for p in report.stdout] == [b'n-1', b'n-2']
    node = report.to_dict()['nodes'][0]
    assert node['server'] == '10.0.0.1:6200/sdb'
    assert node['cpu_ms'] == 4 and node['wall_ms'] == 7
    assert node['max_rss_kb'] == 900 and node['exit_code'] == 0
    stdout, = [c for c in node['channels'] if c['alias'] == '/dev/stdout']
    assert stdout['bytes_written'] == 3 and stdout['kind'] == 'response'


def test_no_stdout_declared_means_no_stdout_body(tmp_path):
    plan = plan_of(stdout=False)
    report = build_report(plan, [ran(n, tmp_path) for n in plan.nodes], 10)
    assert report.stdout is None


@pytest.mark.parametrize('outcomes, status, message', [
    ([('exit', 1), ('ok', 0)], 424, 'program failed: node "n-1"'),
    ([('timeout', None), ('exit', 1)], 504, 'out of time: node "n-1"'),
    ([('cpu', None), ('ok', 0)], 504, 'out of time: node "n-1"'),
    ([('invalid-binary', None), ('timeout', None)], 422,
     'invalid program: node "n-1"'),
    ([('launcher-error', None), ('invalid-binary', None)], 500,
     'server error: node "n-1"'),
    ([('signal', None), ('memory', None)], 424,
     'program failed: nodes "n-1", "n-2"'),
    ([('output-limit', None), ('policy', None)], 424,
     'program failed: nodes "n-1", "n-2"'),
])
def test_status_precedence(tmp_path, outcomes, status, message):
    plan = plan_of()
    report = build_report(plan, [
        ran(n, tmp_path, code, reason)
        for n, (reason, code) in zip(plan.nodes, outcomes)], 10)
    assert report.status == status
    assert report.message == message
    assert not report.ok


def test_unavailable_wins(tmp_path):
    plan = plan_of()
    outcomes = [ran(plan.nodes[0], tmp_path, None, 'launcher-error'),
                NodeOutcome(plan.nodes[1], error='no object server')]
    report = build_report(plan, outcomes, 10)
    assert report.status == 503
    assert report.headers['X-Nexe-Status'] == 'launcher-error,not-run'
    assert report.headers['X-Nexe-Retcode'] == '-,-'
    assert report.headers['X-Nexe-Error'] == '-,no object server'
    assert report.message == 'no object server could run: node "n-2"'


def test_no_room_on_the_proxy_is_507(tmp_path):
    plan = plan_of()
    outcomes = [ran(plan.nodes[0], tmp_path, 1, 'exit'),
                NodeOutcome(plan.nodes[1], SERVER, False, status=507,
                            error='the proxy has no room for the answer')]
    report = build_report(plan, outcomes, 10)
    assert report.status == 507
    assert report.message == 'no room on the proxy: node "n-2"'
    assert report.headers['X-Nexe-Status'] == 'exit,not-run'


def test_validator_refusal_is_422(tmp_path):
    plan = plan_of(count=1)
    outcome = NodeOutcome(plan.nodes[0], SERVER, False, status=422,
                          error='object server answered 422: rdtsc')
    report = build_report(plan, [outcome], 10)
    assert report.status == 422
    assert report.headers['X-Nexe-Validation'] == 'invalid'


def test_unreadable_report_is_a_server_error(tmp_path):
    plan = plan_of(count=1)
    outcome = NodeOutcome(plan.nodes[0], SERVER, True, {'result': 'junk'})
    report = build_report(plan, [outcome], 10)
    assert report.status == 500
    assert 'unreadable node report' in report.nodes[0]['error']


def test_stderr_is_capped(tmp_path):
    plan = plan_of(count=1)
    report = build_report(plan, [ran(plan.nodes[0], tmp_path, 1,
                                     stderr=b'0123456789abc\xff')], 10)
    assert report.nodes[0]['stderr'] == '0123456789...'
    assert json.loads(report.to_json())['nodes'][0]['stderr'] == \
        '0123456789...'


@pytest.mark.parametrize('text', [
    'a\r\nX-Evil: 1', 'a,b', 'a\nb', '\x00\x7f', '\u2028', 'caf\xe9',
    '\\x2c', 'x' * 1000, '\U0001f600' * 300])
def test_header_value_is_safe(text):
    value = header_value(text)
    assert len(value) <= MAX_HEADER_VALUE
    assert all(0x20 <= ord(c) < 0x7f for c in value)
    assert ',' not in value


def test_header_value_escapes():
    assert header_value('a,b\\') == 'a\\x2cb\\x5c'
    assert header_value('') == '-'
    assert header_value('ok') == 'ok'


def test_forged_messages_stay_in_their_node(tmp_path):
    plan = plan_of()
    outcomes = [NodeOutcome(plan.nodes[0], error='x,ok,ok\r\nX-A: b'),
                ran(plan.nodes[1], tmp_path)]
    report = build_report(plan, outcomes, 10)
    assert len(report.headers['X-Nexe-Error'].split(',')) == 2
    assert report.headers['X-Nexe-Status'] == 'not-run,ok'


def test_an_object_on_none_of_its_servers_is_404(tmp_path):
    plan = plan_of()
    outcomes = [ran(plan.nodes[0], tmp_path),
                NodeOutcome(plan.nodes[1], status=404,
                            error='swift://AUTH_t/c/o is on none of its '
                                  'object servers')]
    report = build_report(plan, outcomes, 10)
    assert report.status == 404
    assert report.nodes[1]['failure'] == 'missing'


def _with_message(outcome, message):
    outcome.report['result']['message'] = message
    return outcome


def test_output_error_on_disk_is_500_on_a_pipe_424(tmp_path):
    job = parse_job(json.dumps([
        {'name': 'a', 'exec': {'path': 'swift://~/e/x'},
         'devices': [{'name': 'stdout'}], 'connect': ['b']},
        {'name': 'b', 'exec': {'path': 'swift://~/e/x'},
         'devices': [{'name': 'stdout'}]}]), 'AUTH_t')
    plan = expand(job)
    a, b = plan.nodes
    disk = build_report(plan, [
        _with_message(ran(a, tmp_path, 0, 'output-error'),
                      '/dev/stdout: write failed: ENOSPC'),
        ran(b, tmp_path)], 10)
    assert disk.status == 500
    assert disk.nodes[0]['failure'] == 'server-error'
    pipe = build_report(plan, [
        _with_message(ran(a, tmp_path, 0, 'output-error'),
                      '/dev/out/b: write failed: EPIPE'),
        ran(b, tmp_path)], 10)
    assert pipe.status == 424
    assert pipe.nodes[0]['failure'] == 'pipe'


def test_unread_pipe_bytes_fail_the_reader(tmp_path):
    plan = plan_of()
    reader = ran(plan.nodes[1], tmp_path)
    reader.report['unread'] = [{'alias': '/dev/in/n-1', 'peer': 'n-1',
                                'sent': 100, 'read': 40}]
    report = build_report(plan, [ran(plan.nodes[0], tmp_path), reader], 10)
    assert report.status == 424
    assert report.nodes[1]['failure'] == 'pipe'
    assert '60 of the 100 bytes of /dev/in/n-1' in report.nodes[1]['error']
    # A pipe whose writer had not ended when the reader's wait did.
    reader.report['unread'] = [{'alias': '/dev/in/n-1', 'peer': 'n-1',
                                'sent': 0, 'read': 0}]
    report = build_report(plan, [ran(plan.nodes[0], tmp_path), reader], 10)
    assert report.status == 424
    assert report.nodes[1]['error'] == 'ended before /dev/in/n-1 from ' \
        'node "n-1" did'


@pytest.mark.parametrize('gang_status', [503, 504])
def test_aborted_nodes_take_the_gangs_status(tmp_path, gang_status):
    plan = plan_of()
    outcomes = [ran(n, tmp_path, None, 'aborted') for n in plan.nodes]
    report = build_report(plan, outcomes, 10,
                          (None, gang_status, 'the job ran too long'))
    assert report.status == gang_status
    assert report.message == 'the job ran too long'


def test_a_failed_node_names_the_gang_cause_too(tmp_path):
    plan = plan_of()
    outcomes = [ran(plan.nodes[0], tmp_path, 3),
                ran(plan.nodes[1], tmp_path, None, 'aborted')]
    report = build_report(plan, outcomes, 10,
                          ('n-1', 424, 'node "n-1" failed: exit 3'))
    assert report.status == 424
    assert report.message.startswith('program failed: node "n-1"')
    assert 'connected nodes stopped: node "n-1" failed' in report.message
    assert report.nodes[1]['failure'] == 'aborted'


def test_headers_fit_their_budget_for_the_same_first_nodes(tmp_path):
    plan = plan_of(count=300)
    outcomes = [NodeOutcome(n, error='no object server could run node %s: '
                            'tried %s' % (n.name, 'x' * 200))
                for n in plan.nodes]
    report = build_report(plan, outcomes, 10, header_bytes=12288)
    sent = sum(len(k) + len(v) + 4 for k, v in report.headers.items())
    assert sent <= 12288
    counts = {len(report.headers[name].split(',')) for name in NEXE_HEADERS}
    kept, = counts                              # the same nodes in each
    assert 10 < kept < 300
    assert report.headers[OMITTED_HEADER] == str(300 - kept)
    assert report.headers['X-Nexe-System'].split(',') == \
        [n.name for n in plan.nodes[:kept]]
    assert len(report.to_dict()['nodes']) == 300  # the report has them all
    # Without a budget, or with room for all, nothing is left out.
    for budget in (None, 10 ** 7):
        report = build_report(plan, outcomes, 10, header_bytes=budget)
        assert OMITTED_HEADER not in report.headers
        assert len(report.headers['X-Nexe-Error'].split(',')) == 300


def test_colocated_nodes_share_a_hash(tmp_path):
    import dataclasses
    plan = expand(parse_job(json.dumps([
        {'name': 'a', 'count': 3, 'location': 'L',
         'exec': {'path': 'swift://~/e/x'}},
        {'name': 'b', 'exec': {'path': 'swift://~/e/x'}}]), 'AUTH_t'))
    other = Server('10.0.0.2', 6200, 'sdc')
    outcomes = [ran(n, tmp_path) for n in plan.nodes]
    outcomes[2] = dataclasses.replace(outcomes[2], server=other)
    report = build_report(plan, outcomes, 10)
    together = report.headers['X-Nexe-Colocated'].split(',')[0]
    assert report.headers['X-Nexe-Colocated'] == '%s,%s,0,0' % (together,
                                                                together)
    assert len(together) == 32 and together != '0'
    assert [n.get('colocated', 'absent') for n in report.nodes] == [
        together, together, None, 'absent']
    # Without a location, no header.
    plain = build_report(plan_of(), [ran(n, tmp_path)
                                     for n in plan_of().nodes], 10)
    assert 'X-Nexe-Colocated' not in plain.headers


def test_colocated_header_counts_in_the_header_budget(tmp_path):
    plan = expand(parse_job(json.dumps([
        {'name': 'a', 'count': 50, 'location': 'L',
         'exec': {'path': 'swift://~/e/x'}}]), 'AUTH_t'))
    report = build_report(plan, [ran(n, tmp_path) for n in plan.nodes], 10,
                          header_bytes=2000)
    kept = int(50 - int(report.headers[OMITTED_HEADER]))
    assert len(report.headers['X-Nexe-Colocated'].split(',')) == kept
    assert sum(len(k) + len(v) + 4 for k, v in report.headers.items()) \
        <= 2000
