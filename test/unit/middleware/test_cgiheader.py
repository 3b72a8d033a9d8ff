# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""A message/cgi stdout's header block."""
import pytest

from zerocloud.middleware.cgiheader import (HEAD_LIMIT, CGIError, is_cgi,
                                            parse_head)


def test_status_headers_and_body_offset():
    data = (b'Status: 404 Not Found\r\nContent-Type: text/html\r\n'
            b'Cache-Control: no-cache\r\n\r\n<p>gone</p>')
    status, headers, dropped, at = parse_head(data)
    assert status == (404, 'Not Found')
    assert headers == [('Content-Type', 'text/html'),
                       ('Cache-Control', 'no-cache')]
    assert dropped == [] and data[at:] == b'<p>gone</p>'


@pytest.mark.parametrize('data, status, ctype, body', [
    (b'Content-Type: text/plain\n\nhi', (200, None), 'text/plain', b'hi'),
    (b'Location: /v1/a/c/o\n\n', (302, None), 'application/octet-stream',
     b''),
    (b'Status: 201\n\n', (201, None), 'application/octet-stream', b''),
    (b'\nbody only', (200, None), 'application/octet-stream', b'body only'),
    (b'\r\nbody\n\nmore', (200, None), 'application/octet-stream',
     b'body\n\nmore'),
    (b'content-type:text/csv\n\na,b\n\n', (200, None), 'text/csv',
     b'a,b\n\n'),
])
def test_defaults_and_line_ends(data, status, ctype, body):
    got, headers, _, at = parse_head(data)
    assert got == status
    assert dict((k.lower(), v) for k, v in headers)['content-type'] == ctype
    assert data[at:] == body


def test_headers_a_program_may_not_set_are_dropped():
    data = (b'Set-Cookie: session=stolen\nX-Nexe-Status: forged\n'
            b'Connection: close\nContent-Length: 3\nX-Auth-Token: t\n'
            b'Content-Type: text/plain\n\nok\n')
    _, headers, dropped, _ = parse_head(data)
    assert headers == [('Content-Type', 'text/plain')]
    assert dropped == ['Set-Cookie', 'X-Nexe-Status', 'Connection',
                       'Content-Length', 'X-Auth-Token']


#: Marks a case of the table below as message/http.
NPH = b'<nph>'


@pytest.mark.parametrize('data, text', [
    (b'', 'no empty line ends its headers'),
    (b'Content-Type: text/plain\nno end', 'no empty line ends its headers'),
    (b'X-Long: ' + b'x' * HEAD_LIMIT + b'\n\n', 'in the first 16384 bytes'),
    (b'just text\n\n', "'just text' is not a \"Name: value\" header line"),
    (b'Bad Name: x\n\n', 'is not a "Name: value" header line'),
    (b'Status: 200 OK\nStatus: 404\n\n', 'header Status is given twice'),
    (b'Status: 700 Odd\n\n', "Status '700 Odd' is not a 2xx-5xx code"),
    (b'Status: 101\n\n', 'is not a 2xx-5xx code'),
    (b'Status: OK\n\n', 'is not a 2xx-5xx code'),
    (b'Content-Type: text/\x01plain\n\n', 'holds a control character'),
    (b'Content-Type: caf\xc3\xa9\n\n', 'a header line is not ASCII'),
    # message/http: a status line first.
    (NPH + b'Status: 200 OK\n\n', "'Status: 200 OK' is not an HTTP/1.x "
     "status line"),
    (NPH + b'HTTP/2 200 OK\n\n', 'is not an HTTP/1.x status line'),
    (NPH + b'HTTP/1.1 99 Odd\n\n', 'is not an HTTP/1.x status line'),
    (NPH + b'\n', "'' is not an HTTP/1.x status line"),
    (NPH + b'HTTP/1.1 200 OK\nStatus: 201\n\n',
     'header Status is given twice'),
])
def test_what_is_not_a_cgi_answer(data, text):
    nph = data.startswith(NPH)
    with pytest.raises(CGIError) as err:
        parse_head(data[len(NPH):] if nph else data, nph=nph)
    assert text in str(err.value)


def test_is_cgi():
    assert is_cgi('message/cgi') and is_cgi('Message/CGI; x=1')
    assert not is_cgi('text/plain') and not is_cgi(None)


def test_message_http_begins_with_a_status_line():
    data = b'HTTP/1.0 404 Gone away\r\nContent-Type: text/x\r\n\r\nbody'
    status, headers, dropped, at = parse_head(data, nph=True)
    assert status == (404, 'Gone away')
    assert headers == [('Content-Type', 'text/x')]
    assert data[at:] == b'body'
    assert parse_head(b'HTTP/1.1 200\n\n', nph=True)[0] == (200, None)
    assert is_cgi('message/http')


def test_the_chain_header_is_kept_for_the_proxy():
    _, headers, dropped, _ = parse_head(
        b'X-Zerovm-Execute: 1.0\nContent-Type: application/json\n\n[]')
    assert headers == [('X-Zerovm-Execute', '1.0'),
                       ('Content-Type', 'application/json')]
    assert dropped == []
