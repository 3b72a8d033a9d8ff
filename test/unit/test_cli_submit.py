# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud submit`` and ``zerocloud result`` against fake answers:
what they print, where, and their exit status."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from zerocloud import cli, client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def zerocloud(*argv, **kwargs):
    """``python -m zerocloud.cli ARGV...`` from this checkout."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    for name in ('OS_STORAGE_URL', 'OS_AUTH_TOKEN', 'ST_AUTH', 'ST_USER',
                 'ST_KEY'):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, '-m', 'zerocloud.cli'] +
                            list(argv), cwd=ROOT, env=env, **kwargs)


@pytest.fixture
def holding():
    """A server that reads a request and never answers: its URL and an
    Event set once the request came."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(8)
    came = threading.Event()

    def serve():
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            came.set()
            while conn.recv(65536):     # until the client goes
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield 'http://127.0.0.1:%d/v1/AUTH_t' % sock.getsockname()[1], came
    sock.close()


@pytest.fixture
def answering(monkeypatch, tmp_path):
    """``answering(answer)``: ``zerocloud submit`` of a job file gets
    ``answer``; returns the job file's path."""
    monkeypatch.setattr(client, 'authenticate',
                        lambda *a: ('http://p/v1/AUTH_t', 't'))
    job = tmp_path / 'job.json'
    job.write_text('[]')

    def answer_with(answer):
        monkeypatch.setattr(client, 'submit', lambda *a, **k: answer)
        return str(job)
    return answer_with


def test_a_refusal_escapes_terminal_controls(answering, capfd):
    job = answering(client.Answer(400, 'Bad Request', {}, b'bad \x1b]0;x\x07'
                                  b'\n\tname\n'))
    assert cli.main(['submit', job]) == 1
    assert capfd.readouterr().err == (
        'zerocloud: job failed: 400 Bad Request\nbad \\x1b]0;x\\x07\n\tname\n')


def test_a_stdout_body_is_printed_byte_for_byte(answering, capfdbinary):
    body = bytes(range(256))
    job = answering(client.Answer(200, 'OK', {'content-type': 'text/plain'},
                                  body))
    assert cli.main(['submit', job]) == 0
    assert capfdbinary.readouterr().out == body


def test_a_deferred_answer_is_printed_byte_for_byte(monkeypatch,
                                                    capfdbinary):
    monkeypatch.setattr(client, 'authenticate', lambda *a: ('u', 't'))
    monkeypatch.setattr(client, 'deferred_answer', lambda *a, **k: (
        client.Answer(200, 'OK', {'content-type': 'text/plain'}, b'\0no eol')))
    assert cli.main(['result', 'swift://AUTH_t/.zvm-deferred/job-1']) == 0
    assert capfdbinary.readouterr().out == b'\0no eol'


def test_a_401_says_the_token_may_have_expired(answering, capfd):
    job = answering(client.Answer(401, 'Unauthorized', {
        'content-type': 'text/html'}, b'<html><h1>Unauthorized</h1></html>'))
    assert cli.main(['submit', job]) == 1
    out, err = capfd.readouterr()
    assert out == '' and '<html>' not in err
    assert err.splitlines() == [
        'zerocloud: job failed: 401 Unauthorized',
        'zerocloud: the token may have expired: authenticate again '
        '(-A/-U/-K or ST_AUTH/ST_USER/ST_KEY, without OS_AUTH_TOKEN)']


def test_a_silent_cluster_ends_after_timeout_seconds(holding, tmp_path,
                                                     capfd):
    url, _ = holding
    job = tmp_path / 'job.json'
    job.write_text('[]')
    assert cli.main(['submit', str(job), '--os-storage-url', url,
                     '--os-auth-token', 't', '--timeout', '0.5']) == 1
    assert capfd.readouterr().err == (
        'zerocloud: no answer from %s within 0.5 s (--timeout)\n' % url)


@pytest.mark.parametrize('value', ['0', '-1', 'soon'])
def test_a_timeout_is_a_positive_number_of_seconds(value):
    with pytest.raises(SystemExit) as caught:
        cli.main(['submit', 'job.json', '--timeout', value])
    assert caught.value.code == 2


def test_ctrl_c_while_waiting_exits_130_quietly(holding, tmp_path):
    url, came = holding
    job = tmp_path / 'job.json'
    job.write_text('[]')
    proc = zerocloud('submit', str(job), '--os-storage-url', url,
                     '--os-auth-token', 't', stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    try:
        assert came.wait(30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert (out, err) == (b'', b'')


def test_result_streams_a_stdout_body(monkeypatch, capfdbinary):
    def deferred_answer(url, token, job_url, wait, stream_to, timeout):
        stream_to.write(b'streamed')
        return client.Answer(200, 'OK', {'content-type': 'text/plain'},
                             b'', streamed=8)
    monkeypatch.setattr(client, 'authenticate', lambda *a: ('u', 't'))
    monkeypatch.setattr(client, 'deferred_answer', deferred_answer)
    assert cli.main(['result', 'swift://AUTH_t/.zvm-deferred/job-1']) == 0
    assert capfdbinary.readouterr().out == b'streamed'


def full_stdout(monkeypatch):
    """Put standard output on /dev/full: every write (or flush) fails.
    (In the test itself: pytest's capture sets sys.stdout when it
    starts.)"""
    import io
    monkeypatch.setattr(sys, 'stdout',
                        io.TextIOWrapper(open('/dev/full', 'wb')))


@pytest.mark.parametrize('answer', [
    client.Answer(200, 'OK', {'content-type': 'text/plain'}, b'body'),
    client.Answer(200, 'OK', {'content-type': 'application/json'},
                  b'{"nodes": [{"name": "a"}]}')])
def test_a_full_disk_is_one_line(answering, monkeypatch, capfd, answer):
    job = answering(answer)
    full_stdout(monkeypatch)
    assert cli.main(['submit', job]) == 1
    assert capfd.readouterr().err == (
        'zerocloud: cannot write to standard output: No space left on '
        'device\n')


def test_a_full_disk_while_streaming_is_one_line(monkeypatch, tmp_path,
                                                 capfd):
    def submit(url, token, body, stream_to, **kw):
        stream_to.write(b'x' * 100000)
        return client.Answer(200, 'OK', {}, b'', streamed=100000)
    monkeypatch.setattr(client, 'authenticate', lambda *a: ('u', 't'))
    monkeypatch.setattr(client, 'submit', submit)
    job = tmp_path / 'job.json'
    job.write_text('[]')
    full_stdout(monkeypatch)
    assert cli.main(['submit', str(job)]) == 1
    assert capfd.readouterr().err == (
        'zerocloud: cannot write to standard output: No space left on '
        'device\n')


@pytest.mark.parametrize('argv', [
    ['plan', os.path.join(ROOT, 'examples', 'jobs', 'pipeline.json')],
    ['validate', sys.executable], ['validate', '--json', sys.executable]])
def test_plan_and_validate_on_a_full_disk(argv):
    with open('/dev/full', 'wb') as full:
        proc = zerocloud(*argv, stdout=full, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == (b'zerocloud: cannot write to standard output: No space '
                   b'left on device\n')


def test_a_closed_stdout_is_one_line(answering, monkeypatch, capfd):
    job = answering(client.Answer(200, 'OK', {}, b'x'))
    submitted = []
    monkeypatch.setattr(client, 'submit', lambda *a, **k: submitted.append(a))
    monkeypatch.setattr(sys, 'stdout', None)
    for argv in (['submit', job], ['plan', job]):
        assert cli.main(argv) == 1
        assert capfd.readouterr().err == (
            'zerocloud: standard output is closed (>/dev/null discards it)\n')
    assert submitted == []


@pytest.fixture
def sent(monkeypatch):
    """The bodies ``zerocloud submit`` POSTs (every answer: 200, empty)."""
    bodies = []

    def submit(url, token, body, **kw):
        bodies.append(body)
        return client.Answer(200, 'OK', {'content-type': 'text/plain'}, b'')
    monkeypatch.setattr(client, 'authenticate', lambda *a: ('u', 't'))
    monkeypatch.setattr(client, 'submit', submit)
    return bodies


def stdin(monkeypatch, data):
    import io
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(data)))


def test_submit_dash_reads_the_job_from_stdin(sent, monkeypatch):
    stdin(monkeypatch, b'[{"name": "x"}]')
    assert cli.main(['submit', '-']) == 0
    assert sent == [b'[{"name": "x"}]']


def test_a_job_s_byte_order_mark_is_not_sent(sent, monkeypatch, tmp_path):
    job = tmp_path / 'job.json'
    job.write_bytes(b'\xef\xbb\xbf[{"name": "x"}]')
    stdin(monkeypatch, b'\xef\xbb\xbf[]')
    assert cli.main(['submit', str(job)]) == 0
    assert cli.main(['submit', '-']) == 0
    # Data for a stored job is sent as it is.
    assert cli.main(['submit', '--source', 'swift://~/a/b', str(job)]) == 0
    assert sent == [b'[{"name": "x"}]', b'[]',
                    b'\xef\xbb\xbf[{"name": "x"}]']


def _cut_short():
    """A server answering one POST with 7 of 100 bytes of a stdout body:
    its URL."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)

    def serve():
        with sock:
            conn, _ = sock.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain'
                             b'\r\nContent-Length: 100\r\n\r\npartial')
    threading.Thread(target=serve, daemon=True).start()
    return 'http://127.0.0.1:%d/v1/AUTH_t' % sock.getsockname()[1]


@pytest.mark.parametrize('together', [True, False])
def test_a_broken_answer_is_reported_on_a_line_of_its_own(
        tmp_path, together):
    url = _cut_short()
    job = tmp_path / 'job.json'
    job.write_text('[]')
    proc = zerocloud('submit', str(job), '--os-storage-url', url,
                     '--os-auth-token', 't', stdout=subprocess.PIPE,
                     stderr=(subprocess.STDOUT if together
                             else subprocess.PIPE))
    out, err = proc.communicate(timeout=60)
    message = (b'zerocloud: the answer from %s broke off after 7 of its '
               b'100 bytes\n' % url.encode())
    assert proc.returncode == 1
    if together:
        assert out == b'partial\n' + message
    else:
        assert (out, err) == (b'partial', message)


def test_skipped_nodes_are_named_in_the_table_and_on_stderr(answering,
                                                            capfd):
    report = {'status': 200, 'ok': True, 'message': 'every node that ran '
              'exited 0; skipped: node "wc-2" was not run: ...',
              'nodes': [{'name': 'wc-1', 'reason': 'ok', 'exit_code': 0},
                        {'name': 'wc-2', 'reason': None, 'ran': False,
                         'skipped': 'expired'}]}
    job = answering(client.Answer(200, 'OK', {
        'content-type': 'application/json'}, json.dumps(report).encode()))
    assert cli.main(['submit', job]) == 0
    out, err = capfd.readouterr()
    assert 'wc-2  -       -       skipped (expired)' in out
    assert err == 'zerocloud: 1 node skipped: its object had expired or ' \
        'been deleted since the listing\n'


def test_skipped_nodes_of_a_stdout_answer_are_counted(answering, capfd):
    job = answering(client.Answer(200, 'OK', {
        'content-type': 'text/plain',
        'x-nexe-status': 'ok,skipped,skipped'}, b'counts\n'))
    assert cli.main(['submit', job]) == 0
    out, err = capfd.readouterr()
    assert out == 'counts\n'
    assert err.startswith('zerocloud: 2 nodes skipped: their objects')
