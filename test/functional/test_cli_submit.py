# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud submit`` against the real cluster: what it prints, where,
and its exit status, for jobs that work, fail and are refused."""
import json

import pytest
import swiftclient

from zerocloud import cli

from .conftest import USERS
from .workspace import workspace

TEXTS = {'a.txt': b'one two two\n', 'b.txt': b'three\n'}


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    return workspace(auth, programs, TEXTS, ('wordcount', 'grep'))


@pytest.fixture
def credentials(cluster, monkeypatch):
    """The swift CLI's variables, as a user of the cluster would set them."""
    for name in ('OS_STORAGE_URL', 'OS_AUTH_TOKEN'):
        monkeypatch.delenv(name, raising=False)
    user, key = USERS['tester'][:2]
    monkeypatch.setenv('ST_AUTH', cluster.auth_url)
    monkeypatch.setenv('ST_USER', user)
    monkeypatch.setenv('ST_KEY', key)


def submit(tmp_path, capfd, job, *options):
    path = tmp_path / 'job.json'
    path.write_text(job if isinstance(job, str) else json.dumps(job))
    code = cli.main(['submit'] + list(options) + [str(path)])
    out, err = capfd.readouterr()
    return code, out, err


def wordcount(env, stdout_path=True):
    stdout = {'name': 'stdout'}
    if stdout_path:
        stdout['path'] = 'swift://~/%s/*.count' % env['out']
    return [{'name': 'wc',
             'exec': {'path': 'swift://~/%s/wordcount' % env['exec']},
             'devices': [{'name': 'stdin',
                          'path': 'swift://~/%s/*.txt' % env['data']},
                         stdout]}]


def grep_without_pattern(env, output='g.out'):
    """A job whose grep fails: usage on stderr, exit status 2."""
    return [{'name': 'g',
             'exec': {'path': 'swift://~/%s/grep' % env['exec']},
             'devices': [{'name': 'stdin',
                          'path': 'swift://~/%s/a.txt' % env['data']},
                         {'name': 'stdout',
                          'path': 'swift://~/%s/%s' % (env['out'], output)},
                         {'name': 'stderr'}]}]


def outputs(env):
    _, listing = swiftclient.get_container(env['url'], env['token'],
                                           env['out'])
    return sorted(o['name'] for o in listing)


def test_a_job_prints_its_node_table(env, credentials, tmp_path, capfd):
    code, out, err = submit(tmp_path, capfd, wordcount(env))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:4] == ['NODE', 'SERVER', 'STATUS', 'REASON']
    assert [r.split()[0] for r in rows] == ['wc-1', 'wc-2']
    assert all(r.split()[2:4] == ['0', 'ok'] for r in rows)
    assert err == ''
    assert outputs(env) == ['a.count', 'b.count']


def test_a_path_less_stdout_is_printed(env, credentials, tmp_path, capfd):
    code, out, err = submit(tmp_path, capfd, wordcount(env, False))
    assert code == 0, err
    assert out == '2 two\n1 one\n1 three\n'


def test_json_and_dry_run(env, credentials, tmp_path, capfd):
    code, out, _ = submit(tmp_path, capfd, wordcount(env, False), '--json')
    assert code == 0
    report = json.loads(out)
    assert report['ok'] is True and len(report['nodes']) == 2
    code, out, _ = submit(tmp_path, capfd, wordcount(env), '--dry-run')
    assert code == 0
    plan = json.loads(out)
    assert [n['name'] for n in plan['nodes']] == ['wc-1', 'wc-2']


def test_a_failed_job_says_why_and_exits_1(env, credentials, tmp_path,
                                           capfd):
    before = outputs(env)
    code, out, err = submit(tmp_path, capfd, grep_without_pattern(env))
    assert code == 1
    assert out.splitlines()[1].split()[2:4] == ['2', 'exit']
    assert err.splitlines() == [
        'zerocloud: job failed: 424 Failed Dependency',
        'program failed: node "g"',
        'node g: exit code 2',
        '  stderr: usage: grep [-i] [-v] [--] PATTERN']
    assert outputs(env) == before


def test_refused_jobs_and_bad_credentials(env, credentials, cluster,
                                          tmp_path, capfd, monkeypatch):
    code, out, err = submit(tmp_path, capfd, '[{"name": ')
    assert code == 1
    # The reason on stderr, as --help says; nothing on stdout.
    assert out == ''
    assert err.splitlines()[0] == 'zerocloud: job failed: 422 ' \
        'Unprocessable Entity'
    assert 'not valid JSON' in err.splitlines()[1]
    # Flags instead of the environment; a wrong key is refused.
    monkeypatch.delenv('ST_KEY')
    code, out, err = submit(tmp_path, capfd, wordcount(env, False),
                            '-A', cluster.auth_url, '-U', 'test:tester',
                            '-K', 'testing')
    assert code == 0 and out == '2 two\n1 one\n1 three\n'
    code, out, err = submit(tmp_path, capfd, wordcount(env, False),
                            '-A', cluster.auth_url, '-U', 'test:tester',
                            '-K', 'wrong')
    assert code == 1 and out == ''
    assert err == ('zerocloud: authentication failed: 401 Unauthorized '
                   '(check -U/-K or ST_USER/ST_KEY)\n')


def test_heartbeat_gives_the_same_table_and_status(env, credentials,
                                                   tmp_path, capfd):
    code, out, err = submit(tmp_path, capfd, wordcount(env), '--heartbeat')
    assert code == 0, err
    assert [r.split()[0] for r in out.splitlines()[1:]] == ['wc-1', 'wc-2']
    code, out, err = submit(tmp_path, capfd,
                            grep_without_pattern(env, 'hb.out'),
                            '--heartbeat')
    assert code == 1
    assert err.splitlines()[:2] == [
        'zerocloud: job failed: 424 Failed Dependency',
        'program failed: node "g"']
    assert 'hb.out' not in outputs(env)
    # A refusal before anything runs is a plain answer.
    code, out, err = submit(tmp_path, capfd, wordcount(env, False),
                            '--heartbeat')
    assert code == 1
    assert 'give stdout a path' in err and out == ''
    assert 'job failed: 400' in err


def test_explicit_credentials_win_over_the_environment(
        env, cluster, tmp_path, capfd, monkeypatch):
    for name in ('ST_AUTH', 'ST_USER', 'ST_KEY'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('OS_STORAGE_URL', env['url'])
    monkeypatch.setenv('OS_AUTH_TOKEN', 'AUTH_tk_stale')
    flags = ['-A', cluster.auth_url, '-U', 'test:tester', '-K', 'testing']
    code, out, err = submit(tmp_path, capfd, wordcount(env, False), *flags)
    assert (code, out, err) == (0, '2 two\n1 one\n1 three\n', '')
    # A storage URL given with them is where the job goes.
    elsewhere = 'http://127.0.0.1:9/v1/AUTH_test'
    code, out, err = submit(tmp_path, capfd, wordcount(env, False), *flags,
                            '--os-storage-url', elsewhere)
    assert code == 1 and err.startswith('zerocloud: cannot reach %s'
                                        % elsewhere)
