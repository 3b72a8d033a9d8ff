# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Opening an object with a GET (open/1.0) on the real cluster: the
template of its content type in the account's ``.zvm`` container, the
object itself when it is a program, its ``boot/system.map`` when it is an
application archive; CGI variables and ``message/cgi`` answers."""
import http.client
import json
import os
import urllib.parse
import urllib.request
import uuid

import pytest
import swiftclient

from zerocloud import client

from .leaks import assert_nothing_left, assert_spools_back, proxy_spools
from .workspace import tar_of, workspace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LOG = b'GET /a 200\nGET /b 500\nPOST /c 500\nGET /d 200\n'
#: A content type only this module registers a template for.
LOG_TYPE = 'text/x-zc-open-%s' % uuid.uuid4().hex[:8]


#: Objects whose template answers with a CGI program.
CGI_TYPE = 'text/x-zc-page-%s' % uuid.uuid4().hex[:8]


def _cgi_template(env):
    return [{'name': 'page',
             'exec': {'path': 'swift://~/%s/cgi' % env['exec']},
             'devices': [{'name': 'stdin', 'path': 'swift://~{.object_path}'},
                         {'name': 'stdout', 'content_type': 'message/cgi'}]}]


def _template(env):
    return [{'name': 'grep',
             'exec': {'path': 'swift://~/%s/grep' % env['exec'],
                      'args': '{.flags=-i} "{.pattern}"'},
             'devices': [{'name': 'stdin', 'path': 'swift://~{.object_path}'},
                         {'name': 'stdout', 'content_type': 'text/plain'}]}]


@pytest.fixture(scope='module')
def env(cluster, auth, programs):
    env = workspace(auth, programs, {}, ('grep', 'hello', 'cgi'))
    url, token = env['url'], env['token']
    swiftclient.put_object(url, token, env['data'], 'web log.txt', LOG,
                           content_type=LOG_TYPE)
    swiftclient.put_container(url, token, '.zvm')
    swiftclient.put_object(url, token, '.zvm', LOG_TYPE + '/config',
                           json.dumps(_template(env)))
    swiftclient.put_object(url, token, '.zvm', CGI_TYPE + '/config',
                           json.dumps(_cgi_template(env)))
    swiftclient.put_object(url, token, env['data'], 'page', b'12345',
                           content_type=CGI_TYPE)
    with open(env['built']['hello'], 'rb') as f:
        swiftclient.put_object(url, token, env['exec'], 'hello.nexe', f,
                               content_type='application/x-nexe')
    return env


def _get(env, path, token=None, headers=None, version='open',
         method='GET', body=None):
    """GET (or ``method``) ``path`` under the account with the ``open``
    (or ``v1``) version; the status, headers and body."""
    url = urllib.parse.urlsplit(env['url'])
    account = url.path.split('/')[2]
    conn = http.client.HTTPConnection(url.netloc, timeout=60)
    hdrs = dict(headers or {})
    if token:
        hdrs['X-Auth-Token'] = token
    try:
        conn.request(method, '/%s/%s/%s' % (version, account, path),
                     body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _log_path(env, query=''):
    return '%s/%s%s' % (env['data'], urllib.parse.quote('web log.txt'),
                        query)


def test_an_object_opens_with_its_type_s_template(env):
    status, headers, body = _get(env, _log_path(env, '?pattern=%20500'),
                                 env['token'])
    assert (status, body) == (200, b'GET /b 500\nPOST /c 500\n')
    assert headers['Content-Type'] == 'text/plain'
    status, _, body = _get(env, _log_path(env, '?pattern=get&flags=-iv'),
                           env['token'])
    assert (status, body) == (200, b'POST /c 500\n')


def test_the_header_opens_it_too(env):
    status, _, body = _get(env, _log_path(env, '?pattern=/d'), env['token'],
                           {'X-Zerovm-Execute': 'open/1.0'}, version='v1')
    assert (status, body) == (200, b'GET /d 200\n')
    status, _, body = _get(env, _log_path(env, '?pattern=/d'), env['token'],
                           {'X-Zerovm-Execute': 'open/1.0',
                            'Accept': 'application/json'}, version='v1')
    assert status == 200
    node, = json.loads(body)['nodes']
    assert node['name'] == 'grep' and node['reason'] == 'ok'


def test_a_program_object_opens_as_itself(env):
    status, headers, body = _get(
        env, '%s/hello.nexe?content_type=text/x-greeting' % env['exec'],
        env['token'])
    assert (status, body) == (200, b'hello\n')
    assert headers['Content-Type'] == 'text/x-greeting'


def test_what_cannot_be_opened_is_named(env):
    token = env['token']
    status, _, body = _get(env, _log_path(env), token)
    assert status == 400 and b'needs the query to give "pattern"' in body
    status, _, body = _get(env, '%s/grep' % env['exec'], token)
    assert status == 404
    assert body == (b'the template for application/octet-stream objects, '
                    b'swift://AUTH_test/.zvm/application/octet-stream/config '
                    b'does not exist\n')
    status, _, body = _get(env, '%s/nope' % env['data'], token)
    assert (status, body) == (404, b'object swift://AUTH_test/%s/nope does '
                              b'not exist\n' % env['data'].encode())
    status, _, body = _get(env, _log_path(env, '?pattern=x'), 'bad-token')
    assert status == 401


def test_anonymous_clients_open_what_is_public(env, auth):
    url, token = env['url'], env['token']
    query = '?pattern=POST'
    status, _, body = _get(env, _log_path(env, query))
    assert status == 401, body          # nothing is public yet
    for container in (env['data'], env['exec'], '.zvm'):
        swiftclient.post_container(url, token, container,
                                   {'X-Container-Read': '.r:*'})
    try:
        status, _, body = _get(env, _log_path(env, query))
        assert (status, body) == (200, b'POST /c 500\n')
        # Another account's user is as anonymous here.
        status, _, body = _get(env, _log_path(env, query),
                               auth('tester2')[1])
        assert (status, body) == (200, b'POST /c 500\n')
    finally:
        for container in (env['data'], env['exec'], '.zvm'):
            swiftclient.post_container(url, token, container,
                                       {'X-Container-Read': ''})
    status, _, body = _get(env, _log_path(env, query))
    assert status == 401


def test_pages_of_allowed_origins_may_read_what_they_open(env):
    origin = 'https://app.example'
    swiftclient.post_container(env['url'], env['token'], env['data'], {
        'X-Container-Meta-Access-Control-Allow-Origin': origin,
        'X-Container-Meta-Access-Control-Max-Age': '60'})
    try:
        status, headers, body = _get(
            env, _log_path(env, '?pattern=/d'), env['token'],
            {'Origin': origin})
        assert (status, body) == (200, b'GET /d 200\n')
        assert headers['Access-Control-Allow-Origin'] == origin
        assert 'x-nexe-status' in \
            headers['Access-Control-Expose-Headers'].split(', ')
        status, headers, _ = _get(env, _log_path(env, '?pattern=/d'),
                                  env['token'], {'Origin': 'https://evil'})
        assert status == 200
        assert 'Access-Control-Allow-Origin' not in headers
        # The browser's preflight, before a POST with a token.
        status, headers, _ = _get(env, _log_path(env), method='OPTIONS',
                                  headers={
                                      'Origin': origin,
                                      'Access-Control-Request-Method': 'POST',
                                      'Access-Control-Request-Headers':
                                      'x-auth-token'})
        assert status == 200
        assert headers['Access-Control-Allow-Headers'] == 'x-auth-token'
        assert headers['Access-Control-Max-Age'] == '60'
        status, _, _ = _get(env, _log_path(env), method='OPTIONS',
                            headers={'Origin': 'https://evil',
                                     'Access-Control-Request-Method': 'GET'})
        assert status == 401
    finally:
        swiftclient.post_container(env['url'], env['token'], env['data'], {
            'X-Container-Meta-Access-Control-Allow-Origin': '',
            'X-Container-Meta-Access-Control-Max-Age': ''})


def test_info_says_objects_open(cluster):
    with urllib.request.urlopen(cluster.proxy_url + '/info',
                                timeout=30) as resp:
        info = json.loads(resp.read())
    assert info['zerocloud']['open_version'] == 'open/1.0'


def test_a_program_answers_as_cgi_with_the_request_s_variables(env):
    data = env['data']
    status, headers, body = _get(env, data + '/page?a=1&b=%20x',
                                 env['token'])
    assert status == 200, body
    assert headers['Content-Type'] == 'text/plain'
    assert headers['Cache-Control'] == 'no-store'
    etag = swiftclient.head_object(env['url'], env['token'], data,
                                   'page')['etag']
    assert body.decode().splitlines() == [
        'GATEWAY_INTERFACE=CGI/1.1', 'SERVER_SOFTWARE=zerocloud',
        'REQUEST_METHOD=GET',
        'REQUEST_URI=/open/AUTH_test/%s/page?a=1&b=%%20x' % data,
        'PATH_INFO=/AUTH_test/%s/page' % data, 'QUERY_STRING=a=1&b=%20x',
        'LOCAL_OBJECT=on', 'LOCAL_PATH_INFO=/AUTH_test/%s/page' % data,
        'LOCAL_CONTENT_TYPE=' + CGI_TYPE, 'LOCAL_CONTENT_LENGTH=5',
        'LOCAL_HTTP_ETAG=' + etag, 'stdin 5']
    status, headers, body = _get(env, data + '/page?missing', env['token'])
    assert (status, body) == (404, b'<p>nothing here</p>\n')
    assert headers['Content-Type'] == 'text/html'
    assert headers['X-Nexe-Retcode'] == '0'     # the job itself succeeded
    status, headers, body = _get(env, data + '/page?cookie', env['token'])
    assert status == 200
    assert 'Set-Cookie' not in headers
    assert headers['X-Nexe-Status'] == 'ok'


def test_a_bodiless_cgi_status_ends_the_answer_at_its_headers(env):
    # A 204's body would be read as the answer to the connection's next
    # request: here, a forged one instead of /info's.
    url = urllib.parse.urlsplit(env['url'])
    account = url.path.split('/')[2]
    conn = http.client.HTTPConnection(url.netloc, timeout=60)
    try:
        conn.request('GET', '/open/%s/%s/page?nocontent' % (
            account, env['data']), headers={'X-Auth-Token': env['token']})
        resp = conn.getresponse()
        assert resp.status == 204
        assert resp.read() == b''
        assert resp.headers.get('Content-Length') in (None, '0')
        conn.request('GET', '/info')
        resp = conn.getresponse()
        assert resp.status == 200
        assert 'Set-Cookie' not in resp.headers
        assert 'swift' in json.loads(resp.read())
    finally:
        conn.close()


def test_an_application_archive_opens_as_a_web_app(env):
    with open(env['built']['cgi'], 'rb') as f:
        program = f.read()
    job = [{'name': 'site', 'exec': {'path': 'file://image:bin/site'},
            'devices': [{'name': 'stdout', 'content_type': 'message/cgi'}]}]
    swiftclient.put_object(env['url'], env['token'], env['exec'],
                           'site.zapp', tar_of([
                               ('boot/system.map', json.dumps(job).encode()),
                               ('bin/site', program)]))
    path = '%s/site.zapp' % env['exec']
    status, headers, body = _get(env, path + '?missing', env['token'])
    assert (status, body) == (404, b'<p>nothing here</p>\n')
    status, headers, body = _get(env, path + '?hello', env['token'])
    assert status == 200, body
    lines = body.decode().splitlines()
    assert 'QUERY_STRING=hello' in lines and 'stdin 0' in lines
    assert 'PATH_INFO=/AUTH_test/%s' % path in lines
    assert headers['X-Nexe-System'] == 'site'


def test_a_form_posted_to_an_opened_object_is_its_stdin(env):
    form_type = 'text/x-zc-form-%s' % uuid.uuid4().hex[:8]
    template = [{'name': 'form',
                 'exec': {'path': 'swift://~/%s/cgi' % env['exec']},
                 'devices': [{'name': 'stdin'},
                             {'name': 'stdout',
                              'content_type': 'message/cgi'}]}]
    url, token = env['url'], env['token']
    swiftclient.put_object(url, token, '.zvm', form_type + '/config',
                           json.dumps(template))
    swiftclient.put_object(url, token, env['data'], 'signup', b'',
                           content_type=form_type)
    path = '%s/signup' % env['data']
    status, _, body = _get(env, path, token, method='POST',
                           body=b'name=joe&age=7', headers={
                               'Content-Type':
                                   'application/x-www-form-urlencoded'})
    assert status == 200, body
    lines = body.decode().splitlines()
    assert 'REQUEST_METHOD=POST' in lines and 'stdin 14' in lines
    status, _, body = _get(env, path, token)
    assert status == 200 and 'stdin 0' in body.decode().splitlines()
    status, headers, body = _get(env, path, token, method='HEAD')
    assert (status, body) == (200, b'')
    assert headers['Content-Type'] == 'text/plain'


def test_a_broken_cgi_answer_is_502_and_nothing_is_left(env, cluster):
    before = proxy_spools()
    status, headers, body = _get(env, env['data'] + '/page?broken',
                                 env['token'])
    assert status == 502
    assert body == (b"the job's message/cgi stdout is not a CGI answer: no "
                    b"empty line ends its headers in the first 16384 "
                    b"bytes\n")
    assert headers['X-Nexe-Retcode'] == '0'
    for query in ('missing', 'a=1'):
        assert _get(env, env['data'] + '/page?' + query,
                    env['token'])[0] in (200, 404)
    # A job's streamed stdout body, as any: each once left its spool
    # behind (Swift's middlewares close the iterator, not the body).
    job = [{'name': 'g', 'exec': {'path': 'swift://~/%s/grep' % env['exec'],
                                  'args': 'GET'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/web log.txt'
                         % env['data']}, {'name': 'stdout'}]}]
    answer = client.submit(env['url'], env['token'], job)
    assert (answer.status, answer.body.count(b'GET')) == (200, 3)
    assert_nothing_left(cluster)
    assert_spools_back(before)


def test_a_container_s_rest_endpoint_answers_every_path_under_it(env):
    url, token = env['url'], env['token']
    with open(env['built']['cgi'], 'rb') as f:
        program = f.read()
    job = [{'name': 'api', 'exec': {'path': 'file://image:bin/api'},
            'devices': [{'name': 'stdin'},
                        {'name': 'stdout', 'content_type': 'message/cgi'}]}]
    swiftclient.put_object(url, token, env['exec'], 'api.zapp', tar_of([
        ('boot/system.map', json.dumps(job).encode()), ('bin/api', program)]))
    service = env['data'] + '-api'
    swiftclient.put_container(url, token, service, headers={
        'X-Container-Meta-Rest-Endpoint': 'swift://~/%s/api.zapp'
        % env['exec']})
    status, _, body = _get(env, service + '/users/7?x=1', token,
                           method='PUT', body=b'{"name": "joe"}',
                           version='api')
    assert status == 200, body
    lines = body.decode().splitlines()
    assert 'REQUEST_METHOD=PUT' in lines and 'stdin 15' in lines
    assert 'PATH_INFO=/AUTH_test/%s/users/7' % service in lines
    assert 'LOCAL_OBJECT=(unset)' in lines
    status, _, body = _get(env, service + '/users?missing', token,
                           version='api')
    assert status == 404, body
    swiftclient.post_container(url, token, service, {
        'X-Container-Meta-Rest-Endpoint': ''})
    status, _, body = _get(env, service + '/users', token, version='api')
    assert status == 404
    assert body.endswith(b'has no REST endpoint (its X-Container-Meta-Rest-'
                         b'Endpoint names the application)\n')


def test_the_documented_word_page_opens_as_written(cluster, auth, programs):
    """examples/wordpage.c with examples/jobs/wordpage.json verbatim as the
    template of text/x-word-counts objects, as doc/user_guide.rst shows."""
    url, token = auth('tester')
    for container in ('exec', '.zvm', 'counts'):
        swiftclient.put_container(url, token, container)
    with open(programs.build('wordpage'), 'rb') as f:
        swiftclient.put_object(url, token, 'exec', 'wordpage', f)
    with open(os.path.join(ROOT, 'examples', 'jobs', 'wordpage.json')) as f:
        swiftclient.put_object(url, token, '.zvm',
                               'text/x-word-counts/config', f.read())
    swiftclient.put_object(url, token, 'counts', 'page-test.txt',
                           b'the 56\n<and> 18\ndata 9\n',
                           content_type='text/x-word-counts')
    env = {'url': url}
    status, headers, body = _get(env, 'counts/page-test.txt?top=2', token)
    assert status == 200, body
    assert headers['Content-Type'] == 'text/html; charset=utf-8'
    assert body.endswith(b'<tr><td>the</td><td>56</td></tr>\n'
                         b'<tr><td>&lt;and&gt;</td><td>18</td></tr>\n'
                         b'</table>\n')
    status, _, body = _get(env, 'counts/page-test.txt?word=at', token)
    assert b'<td>data</td>' in body and b'<td>the</td>' not in body
    status, headers, body = _get(env, 'counts/page-test.txt?top=0', token)
    assert status == 400 and headers['Content-Type'] == 'text/plain'
