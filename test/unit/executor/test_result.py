# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""zvm_status.h and zerocloud.executor.result must say the same thing."""
import os
import re

from zerocloud.executor import result

HEADER = os.path.join(os.path.dirname(result.__file__), os.pardir, 'native',
                      'zvm_status.h')


def _defines(kind):
    with open(HEADER) as f:
        text = f.read()
    if kind == 'STATUS':
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^#define ZVM_STATUS_(\w+) (\d+)$', text, re.M)}
    return [(m.group(1), m.group(2)) for m in re.finditer(
        r'^#define ZVM_REASON_(\w+) "([a-z-]+)"', text, re.M)]


def test_statuses_agree():
    header = _defines('STATUS')
    assert header == {s.name: s.value for s in result.LauncherStatus}
    assert len(header) >= 6


def test_reasons_agree_in_order():
    header = _defines('REASON')
    assert [v for _, v in header] == list(result.REASONS)
    assert [n for n, _ in header] == [r.name for r in result.Reason]


def test_report_round_trip():
    report = {
        'reason': 'exit', 'exit_code': 3, 'signal': 0, 'message': '',
        'cpu_user_ms': 1, 'cpu_sys_ms': 2, 'wall_ms': 3, 'max_rss_kb': 4,
        'seed': 9, 'channels': [
            {'path': '/dev/stdout', 'mode': 'w', 'bytes_read': 0,
             'bytes_written': 5, 'reads': 0, 'writes': 1, 'sha256': 'ab'}]}
    r = result.RunResult.from_report(report)
    assert r.reason is result.Reason.EXIT
    assert r.shell_status == 3
    assert r.channel('/dev/stdout').bytes_written == 5
    d = r.deterministic()
    assert 'wall_ms' not in d and d['seed'] == 9
    assert r.to_dict()['channels'][0]['sha256'] == 'ab'


def test_to_dict_is_asdict():
    # to_dict is written out by hand (no deep copies): it must stay what
    # dataclasses.asdict gives, field for field and in order.
    import dataclasses
    chan = result.ChannelReport('/dev/stdin', 'r', 1, 2, 3, 4, 'ab')
    run = result.RunResult(result.Reason.EXIT, 3, 0, 'm', 1, 2, 3, 4, 5,
                           (chan, chan), result.LauncherStatus.LAUNCHER)
    assert chan.to_dict() == dataclasses.asdict(chan)
    assert list(chan.to_dict()) == [
        f.name for f in dataclasses.fields(result.ChannelReport)]
    want = dataclasses.asdict(run)
    want.update(reason='exit', launcher_status=70,
                channels=[dataclasses.asdict(chan)] * 2)
    assert run.to_dict() == want
    assert list(run.to_dict()) == list(want)
