# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud submit`` and ``zerocloud result`` against fake answers:
what they print, where, and their exit status."""
import pytest

from zerocloud import cli, client


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
