# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud plan``: the dry run of a job."""
import json
import os
import subprocess
import sys

import pytest

from zerocloud import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, 'examples', 'jobs')
LISTING = os.path.join(EXAMPLES, 'listing.json')


def example(name):
    return os.path.join(EXAMPLES, name)


def run(capsys, *argv):
    status = cli.main(['plan'] + list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_table(capsys):
    status, out, err = run(capsys, example('wordcount.json'),
                           '--listing', LISTING)
    assert status == 0 and err == ''
    assert out.startswith('plan for account AUTH_test: 5 nodes')
    assert 'map-3     map     swift://AUTH_test/exec/wc_map' in out
    assert '  w  /dev/out/reduce-2  pipe      zvm://reduce-2:/dev/in/map-1' \
        in out


def test_json(capsys):
    status, out, err = run(capsys, example('sort.json'), '--listing',
                           LISTING, '--json', '--account', 'AUTH_bob')
    assert status == 0
    data = json.loads(out)
    assert data['account'] == 'AUTH_bob'
    assert [n['outputs'] for n in data['nodes']] == [
        ['swift://AUTH_bob/data/sorted1.data'],
        ['swift://AUTH_bob/data/sorted2.data'],
        ['swift://AUTH_bob/data/sorted_log_345.data']]


@pytest.mark.parametrize('name', ['sort.json', 'sort_zerocloud.json',
                                  'wordcount.json', 'pipeline.json'])
def test_every_example_plans(capsys, name):
    status, out, err = run(capsys, example(name), '--listing', LISTING)
    assert status == 0, err


def test_no_wildcards_needs_no_listing(capsys):
    status, out, err = run(capsys, example('pipeline.json'))
    assert status == 0
    assert 'grep: argv grep -i \'connection refused\'' in out


def test_wildcards_without_listing(capsys):
    status, out, err = run(capsys, example('sort.json'))
    assert status == 1 and out == ''
    assert err == 'zerocloud: %s: the job has wildcards; give --listing ' \
        'LISTING.json to expand them\n' % example('sort.json')


def test_bad_job_is_one_line(capsys, tmp_path):
    job = tmp_path / 'job.json'
    job.write_text(json.dumps([{'name': 'map', 'exec': {
        'path': 'swift://~/e/p'}, 'devices': [
            {'name': 'stdin', 'path': '/data/x\n'}]}]))
    status, out, err = run(capsys, str(job))
    assert status == 1 and out == ''
    assert err.count('\n') == 1
    assert err.startswith('zerocloud: %s: group "map": device "stdin": path'
                          % job)


def test_no_match_is_reported(capsys, tmp_path):
    listing = tmp_path / 'listing.json'
    listing.write_text('{"data": []}')
    status, out, err = run(capsys, example('sort.json'), '--listing',
                           str(listing))
    assert status == 1
    assert err.endswith('"swift://AUTH_test/data/binary*.data": no object '
                        'matches\n')


def test_not_json(capsys, tmp_path):
    job = tmp_path / 'job.json'
    job.write_text('[{')
    status, out, err = run(capsys, str(job))
    assert status == 1 and 'not valid JSON' in err


@pytest.mark.parametrize('content', ['[1, 2]', '{"data": "x"}', '{'])
def test_bad_listing(capsys, tmp_path, content):
    listing = tmp_path / 'listing.json'
    listing.write_text(content)
    status, out, err = run(capsys, example('sort.json'), '--listing',
                           str(listing))
    assert status == 1 and err.startswith('zerocloud: %s: ' % listing)


def test_missing_files(capsys, tmp_path):
    status, out, err = run(capsys, str(tmp_path / 'nope.json'))
    assert status == 1 and 'No such file' in err
    status, out, err = run(capsys, example('sort.json'), '--listing',
                           str(tmp_path / 'nope.json'))
    assert status == 1 and 'No such file' in err


def test_usage_error():
    with pytest.raises(SystemExit) as caught:
        cli.main(['plan'])
    assert caught.value.code == 2


def test_python_m_entry_point():
    # The documented way to run it from a checkout, in a fresh process.
    proc = subprocess.run(
        [sys.executable, '-m', 'zerocloud.cli', 'plan',
         example('pipeline.json')], cwd=ROOT, capture_output=True,
        text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'summary: argv summary /dev/input' in proc.stdout


def test_doc_sample_matches(capsys):
    with open(os.path.join(ROOT, 'doc', 'job_format.rst')) as fp:
        doc = fp.read()
    command = '$ zerocloud plan examples/jobs/pipeline.json\n'
    sample = doc[doc.index(command) + len(command):]
    sample = sample[:sample.index('    ...\n')]
    status, out, err = run(capsys, example('pipeline.json'))
    assert status == 0
    expected = [line[4:] for line in sample.splitlines()]
    assert out.splitlines()[:len(expected)] == [
        line.rstrip() for line in expected]


@pytest.mark.parametrize('account', ['a/b', '', 'AUTH_x/'])
def test_an_account_with_a_slash_is_bad_usage(capsys, account):
    with pytest.raises(SystemExit) as caught:
        cli.main(['plan', example('pipeline.json'), '--account', account])
    assert caught.value.code == 2
    assert 'is not an account name' in capsys.readouterr().err


def test_dash_reads_the_job_from_stdin(capsys, monkeypatch):
    import io
    with open(example('pipeline.json'), 'rb') as f:
        data = f.read()
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(data)))
    status, out, err = run(capsys, '-')
    assert status == 0, err
    assert 'summary: argv summary /dev/input' in out


def test_a_byte_order_mark_is_skipped(capsys, tmp_path):
    job = tmp_path / 'job.json'
    with open(example('pipeline.json'), 'rb') as f:
        job.write_bytes(b'\xef\xbb\xbf' + f.read())
    status, out, err = run(capsys, str(job))
    assert status == 0, err
    assert 'summary: argv summary /dev/input' in out
