# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The proxy filter end to end, built through its real filter_factory, on a
fake Swift backend, a fake ring and fake object servers."""
import configparser
import errno
import io
import hashlib
import json
import os
import tarfile
import time

import eventlet
import eventlet.event
import pytest
from swift.common import swob
from swift.common.registry import get_swift_info

from proxy_fakes import (ACCOUNT, FakeObjectServers, FakeResponse,
                         FakeSwift, answer_tar, authorize, ring_loader)
from zerocloud import config
from zerocloud.config import ProxyConfig
from zerocloud.exceptions import ConfigError
from zerocloud.middleware import proxy
from zerocloud.middleware.dispatch import Spool
from zerocloud.middleware.proxy import filter_factory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
EXEC = '/v1/AUTH_test/exec/prog'


@pytest.fixture
def swift():
    backend = FakeSwift()
    backend.add(EXEC, b'\x7fELF program')
    backend.add('/v1/AUTH_test/data/a.txt', b'alpha')
    backend.add('/v1/AUTH_test/data/b.txt', b'beta')
    backend.add('/v1/AUTH_test/data/c.bin', b'gamma')
    backend.containers['/v1/AUTH_test/out'] = {}
    return backend


@pytest.fixture
def spool_dir(tmp_path):
    return str(tmp_path / 'spool')


def make(swift, servers=None, spool_dir=None, **conf):
    if spool_dir:
        os.makedirs(spool_dir, exist_ok=True)
        conf['temp_dir'] = spool_dir
    servers = servers or FakeObjectServers()
    app = filter_factory({}, **conf)(swift, transport=servers,
                                     ring_loader=ring_loader)
    return app, servers


def job_request(job, user=ACCOUNT, headers=None, method='POST',
                path='/v1/' + ACCOUNT):
    body = json.dumps(job).encode() if not isinstance(job, bytes) else job
    env = {'REQUEST_METHOD': method, 'swift.authorize': authorize,
           'swift.trans_id': 'tx-test'}
    if user:
        env['REMOTE_USER'] = user
    hdrs = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}
    hdrs.update(headers or {})
    return swob.Request.blank(path, environ=env, headers=hdrs, body=body)


def group(name='g', devices=(), **extra):
    item = {'name': name, 'exec': {'path': 'swift://~/exec/prog'},
            'devices': list(devices)}
    item.update(extra)
    return item


def call(app, req):
    resp = req.get_response(app)
    body = resp.body
    return resp, body


# --- recognition ----------------------------------------------------------

def test_requests_without_the_header_pass_through(swift):
    app, servers = make(swift)
    req = swob.Request.blank(EXEC, environ={'REMOTE_USER': ACCOUNT})
    resp, body = call(app, req)
    assert resp.status_int == 200 and body == b'\x7fELF program'
    post = swob.Request.blank('/v1/AUTH_test', method='POST', body=b'[]')
    call(app, post)
    assert swift.calls[-1][:2] == ('POST', '/v1/AUTH_test')
    assert not servers.sent


@pytest.mark.parametrize('method, path', [
    ('PUT', '/v1/AUTH_test/out/s3put'), ('GET', EXEC),
    ('POST', '/v1/AUTH_test')])
def test_other_filters_requests_are_never_jobs(swift, method, path):
    # s3api copies its client's headers onto the Swift requests it makes
    # (swift.source S3); answering those as jobs made s3api fail with 500.
    app, servers = make(swift)
    req = job_request([group()], method=method, path=path)
    req.environ['swift.source'] = 'S3'
    resp, _ = call(app, req)
    assert resp.status_int in (200, 201)
    assert swift.calls[-1][:2] == (method, path)
    assert not servers.sent


def test_other_methods_are_405_with_allow(swift):
    app, _ = make(swift)
    resp, body = call(app, job_request([group()], method='GET'))
    assert resp.status_int == 405
    assert resp.headers['Allow'] == 'POST'
    assert b'POST' in body
    assert not swift.calls


def test_unknown_version_is_501(swift):
    app, _ = make(swift)
    resp, body = call(app, job_request(
        [group()], headers={'X-Zerovm-Execute': '2.0'}))
    assert resp.status_int == 501
    assert b'"2.0"' in body and b'1.0' in body


def test_wrong_content_type_and_deep_path(swift):
    app, _ = make(swift)
    req = job_request([group()])
    del req.headers['Content-Type']
    resp, _ = call(app, req)
    assert resp.status_int == 415
    resp, _ = call(app, job_request([group()], path='/v1/AUTH_test/c/o'))
    assert resp.status_int == 400
    assert not swift.calls


def test_charset_in_content_type_is_fine(swift):
    app, _ = make(swift)
    resp, _ = call(app, job_request(
        [group(devices=[{'name': 'stdout'}])],
        headers={'Content-Type': 'application/json; charset=utf-8'}))
    assert resp.status_int == 200


# --- parse errors ---------------------------------------------------------

def test_too_large_is_413(swift):
    app, _ = make(swift, max_job_bytes='100')
    resp, body = call(app, job_request([group(devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}] * 5)]))
    assert resp.status_int == 413
    assert b'100' in body


def test_not_json_is_422(swift):
    app, _ = make(swift)
    resp, body = call(app, job_request(b'[{"name": '))
    assert resp.status_int == 422
    assert b'not valid JSON' in body


def test_bad_job_is_400_naming_group_and_field(swift):
    app, _ = make(swift)
    resp, body = call(app, job_request([{'name': 'map', 'exec': {}}]))
    assert resp.status_int == 400
    assert body == b'Must specify exec path for group "map"\n'
    resp, body = call(app, job_request([group('map', devices=[
        {'name': 'stdin', 'path': 'nope'}])]))
    assert resp.status_int == 400
    assert b'group "map": device "stdin": path' in body


# --- wildcards, authorization ---------------------------------------------

def test_wildcards_expand_from_paged_listings_as_the_caller(swift):
    swift.page_size = 1
    app, servers = make(swift)
    resp, body = call(app, job_request([group('sort', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*.sorted'}])]))
    assert resp.status_int == 200, body
    listings = [c for c in swift.requests('GET')
                if c[1] == '/v1/AUTH_test/data']
    assert len(listings) == 4          # three pages of one, then empty
    assert all('format=json' in c[2] for c in listings)
    assert [s['spec']['node'] for s in servers.sent] == ['sort-1', 'sort-2']
    assert sorted(p for p in swift.objects if '/out/' in p) == [
        '/v1/AUTH_test/out/a.sorted', '/v1/AUTH_test/out/b.sorted']


def test_a_wildcard_over_a_huge_container_stops_listing_at_the_limit(
        swift):
    swift.page_size = 10
    for i in range(1000):
        swift.add('/v1/AUTH_test/logs/day-%04d.txt' % i, b'x')
        swift.add('/v1/AUTH_test/logs/night-%04d.txt' % i, b'x')
    app, servers = make(swift, max_nodes='25')
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/logs/night-*.txt'}])]))
    assert resp.status_int == 400
    assert b'matches more than the 25 nodes' in body
    listings = [c for c in swift.requests('GET')
                if c[1] == '/v1/AUTH_test/logs']
    # Only names after "night-" are listed, and only three pages of them.
    assert all('prefix=night-' in c[2] for c in listings)
    assert len(listings) == 3
    assert not servers.sent


def test_unlistable_container_is_an_error(swift):
    swift.containers['/v1/AUTH_test/data']['read'] = ''
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'}])],
        user='AUTH_other'))
    assert resp.status_int == 403
    assert b'not allowed to list AUTH_test/data' in body
    assert not servers.sent


def test_unreadable_input_is_403_naming_it_and_nothing_runs(swift):
    swift.containers['/v1/AUTH_test/exec']['read'] = 'AUTH_other'
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://AUTH_test/data/a.txt'}])],
        user='AUTH_other'))
    assert resp.status_int == 403
    assert body == b'not allowed to read swift://AUTH_test/data/a.txt\n'
    assert not servers.sent
    assert not swift.requests('PUT')


def test_unwritable_output_is_403_naming_it(swift):
    for cont in ('exec', 'data', 'out'):
        swift.containers['/v1/AUTH_test/' + cont]['read'] = 'AUTH_other'
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://AUTH_test/data/a.txt'},
        {'name': 'stdout', 'path': 'swift://AUTH_test/out/x'}])],
        user='AUTH_other'))
    assert resp.status_int == 403
    assert body == b'not allowed to write swift://AUTH_test/out/x\n'
    assert not servers.sent


def test_acls_grant_access(swift):
    for cont in ('exec', 'data'):
        swift.containers['/v1/AUTH_test/' + cont]['read'] = 'AUTH_other'
    swift.containers['/v1/AUTH_test/out']['write'] = 'AUTH_other'
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://AUTH_test/data/a.txt'},
        {'name': 'stdout', 'path': 'swift://AUTH_test/out/x'}])],
        user='AUTH_other'))
    assert resp.status_int == 200, body
    assert '/v1/AUTH_test/out/x' in swift.objects


def test_no_credentials_is_401(swift):
    app, servers = make(swift)
    resp, body = call(app, job_request([group()], user=None))
    assert resp.status_int == 401
    assert b'swift://AUTH_test/exec/prog' in body
    assert not servers.sent


def test_missing_exec_is_404_naming_it(swift):
    del swift.objects[EXEC]
    app, servers = make(swift)
    resp, body = call(app, job_request([group()]))
    assert resp.status_int == 404
    assert body == b'object swift://AUTH_test/exec/prog does not exist\n'
    assert not servers.sent


@pytest.mark.parametrize('policy', [0, 1])
def test_missing_local_input_is_404(swift, erasure_coded, policy):
    # Of a replicated container (checked with a HEAD), or of an erasure
    # coded one (fetched by the proxy).
    swift.containers['/v1/AUTH_test/data']['policy'] = policy
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/nope'}])]))
    assert resp.status_int == 404
    assert b'swift://AUTH_test/data/nope' in body
    assert not servers.sent


def test_missing_output_container_is_404(swift):
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdout', 'path': 'swift://~/nocontainer/x'}])]))
    assert resp.status_int == 404
    assert b'swift://AUTH_test/nocontainer/x' in body
    assert not servers.sent


# --- dry run, the node requests ------------------------------------------

def test_dry_run_answers_the_plan(swift):
    app, servers = make(swift)
    resp, body = call(app, job_request([group('sort', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'}])],
        headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200
    plan = json.loads(body)
    assert [n['name'] for n in plan['nodes']] == ['sort-1', 'sort-2']
    assert all(len(n['candidates']) == 2 for n in plan['nodes'])
    assert not servers.sent
    assert not [c for c in swift.requests('GET') if c[1] == EXEC]


def test_node_request_follows_the_protocol(swift, spool_dir):
    app, servers = make(swift, spool_dir=spool_dir, node_cpu='3')
    servers.warm = False
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/b.txt'},
        {'name': 'stdout'}], exec={'path': 'swift://~/exec/prog',
                                   'args': '-n 5', 'env': {'K': 'v'}})]))
    assert resp.status_int == 200, body
    # Without the program first; the server asks for it (428); with it.
    light, sent = servers.sent
    assert 'exec' not in light['members']
    assert light['spec'] == sent['spec']
    assert sent['path'] == '/AUTH_test/data/a.txt'
    assert sent['partition'] is not None
    headers = sent['headers']
    assert headers['X-Backend-Zerocloud-Execute'] == '1'
    assert headers['X-Backend-Storage-Policy-Index'] == '0'
    assert headers['X-Trans-Id'] == 'tx-test'
    assert float(headers['X-Timestamp']) > 0
    spec = sent['spec']
    assert spec['argv'] == ['g', '-n', '5'] and spec['env'] == {'K': 'v'}
    assert spec['limits']['cpu'] == 3
    assert spec['exec']['path'] == 'swift://AUTH_test/exec/prog'
    assert len(spec['exec']['sha256']) == 64
    local, remote = spec['channels'][0], spec['channels'][2]
    assert local['local'] is True and 'member' not in local
    assert remote['alias'] == '/dev/input' and remote['local'] is False
    assert sent['members'] == {'exec': b'\x7fELF program',
                               remote['member']: b'beta'}
    assert os.listdir(spool_dir) == []
    # The server keeps it: the next job sends it no more.
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/b.txt'},
        {'name': 'stdout'}], exec={'path': 'swift://~/exec/prog'})]))
    assert resp.status_int == 200, body
    assert len(servers.sent) == 3
    assert 'exec' not in servers.sent[-1]['members']
    # ... and the proxy, knowing its digest by ETag, did not read it again.
    assert [c[1] for c in swift.requests('GET')
            if c[1].endswith('/exec/prog')] == ['/v1/AUTH_test/exec/prog']


def test_storage_policy_of_the_attach_container(swift):
    swift.containers['/v1/AUTH_test/data']['policy'] = 2
    loaded = []

    def loader(index):
        loaded.append(index)
        return ring_loader(index)
    app = filter_factory({}, swift_dir='/nonexistent')(
        swift, transport=FakeObjectServers(), ring_loader=loader)
    servers = app.transport
    resp, _ = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}])]))
    assert resp.status_int == 200
    assert servers.sent[0]['headers'][
        'X-Backend-Storage-Policy-Index'] == '2'
    assert 2 in loaded


@pytest.fixture
def erasure_coded(monkeypatch):
    """Policy 1 is erasure-coded (policy 0 replicated), as the proxy
    sees them."""
    from swift.common.storage_policy import (ECStoragePolicy, StoragePolicy,
                                             StoragePolicyCollection)
    monkeypatch.setattr(proxy, 'POLICIES', StoragePolicyCollection([
        StoragePolicy(0, 'zero', is_default=True),
        ECStoragePolicy(1, 'ec', ec_type='liberasurecode_rs_vand',
                        ec_ndata=2, ec_nparity=1)]))


def test_erasure_coded_objects_travel_with_the_node(swift, erasure_coded):
    swift.containers['/v1/AUTH_test/data']['policy'] = 1
    swift.add('/v1/AUTH_test/rep/r.txt', b'replicated')
    app, servers = make(swift)
    resp, body = call(app, job_request([
        group('ec', devices=[
            {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
            {'name': 'stdout'}]),
        group('both', devices=[
            {'name': 'stdin', 'path': 'swift://~/data/b.txt'},
            {'name': 'input', 'path': 'swift://~/rep/r.txt'},
            {'name': 'stdout'}])]))
    assert resp.status_int == 200, body
    sent = {s['spec']['node']: s for s in servers.sent}
    ec, both = sent['ec'], sent['both']
    # No server holds the EC object's bytes: the proxy sends them.
    stdin = ec['spec']['channels'][0]
    assert stdin['local'] is False
    assert ec['members'][stdin['member']] == b'alpha'
    assert not ec['path'].startswith('/AUTH_test/data/')
    # Placed by its replicated object, which it reads in place.
    assert both['path'] == '/AUTH_test/rep/r.txt'
    assert both['headers']['X-Backend-Storage-Policy-Index'] == '0'
    stdin, _out, inp = both['spec']['channels']
    assert (stdin['local'], inp['local']) == (False, True)
    assert both['members'][stdin['member']] == b'beta'


def test_erasure_coded_attach_in_the_dry_run_plan(swift, erasure_coded):
    swift.containers['/v1/AUTH_test/data']['policy'] = 1
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'}])],
        headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200, body
    nodes = json.loads(body)['nodes']
    assert [n['attach'] for n in nodes] == [None, None]
    # Spread over the servers, not on the EC object's fragment holders.
    assert len({json.dumps(n['candidates'][0]) for n in nodes}) == 2


# --- objects not stored as their bytes ------------------------------------

def _not_bytes(swift, warm=True, **conf):
    """Servers on which data/a.txt is a large object's manifest."""
    servers = FakeObjectServers(program=lambda spec, members: (0, {
        '/dev/stdout': b''.join(v for k, v in sorted(members.items())
                                if k.startswith('in/'))}), warm=warm)
    servers.not_bytes['swift://AUTH_test/data/a.txt'] = \
        "a static large object's manifest"
    return make(swift, servers, **conf)


def _stdin_job(name='g', path='swift://~/data/a.txt', **extra):
    return [group(name, devices=[{'name': 'stdin', 'path': path},
                                 {'name': 'stdout'}], **extra)]


@pytest.mark.parametrize('warm', [True, False])
def test_an_object_not_stored_as_its_bytes_is_sent(swift, warm):
    # Its server holds a manifest (or a symlink, or ciphertext): the
    # proxy reads the object through the pipeline as the caller, and the
    # node runs on the same server with the bytes sent along.  A cold
    # server then asks for the program too (428).
    app, servers = _not_bytes(swift, warm=warm)
    resp, body = call(app, job_request(_stdin_job()))
    assert resp.status_int == 200, body
    assert body == b'alpha'
    first, second = servers.sent[0], servers.sent[1]
    assert first['spec']['channels'][0]['local'] is True
    stdin = second['spec']['channels'][0]
    assert stdin['local'] is False
    assert second['members'][stdin['member']] == b'alpha'
    assert {s['device'] for s in servers.sent} == {first['device']}
    assert {s['path'] for s in servers.sent} == {'/AUTH_test/data/a.txt'}
    if not warm:
        assert [s['members'].keys() >= {'exec'}
                for s in servers.sent] == [False, False, True]
    else:
        assert len(servers.sent) == 2
    gets = [c for c in swift.requests('GET') if c[1].endswith('/a.txt')]
    assert len(gets) == 1
    assert gets[0][3].get('X-Auth-Token') is None   # the caller's env


def test_copies_of_a_node_read_such_an_object_once(swift):
    app, servers = _not_bytes(swift)
    resp, body = call(app, job_request(_stdin_job(replicate=2),
                                       headers={'Accept':
                                                'application/json'}))
    assert resp.status_int == 200, body
    gets = [c for c in swift.requests('GET') if c[1].endswith('/a.txt')]
    assert len(gets) == 1
    assert len(servers.sent) == 4


def test_one_slow_object_does_not_hold_up_the_others(swift):
    # Both nodes' objects are read through the proxy, in the dispatcher's
    # green threads; a.txt's read ends only once b.txt's has begun.
    original = swift.handle
    b_began = eventlet.event.Event()
    waited = []

    def handle(req, body):
        if req.method == 'GET' and req.path.endswith('/b.txt'):
            b_began.send()
        if req.method == 'GET' and req.path.endswith('/a.txt'):
            with eventlet.Timeout(2, False):
                b_began.wait()
            waited.append(b_began.ready())
        return original(req, body)
    swift.handle = handle
    app, servers = _not_bytes(swift)
    servers.not_bytes['swift://AUTH_test/data/b.txt'] = 'a symlink'
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout'}])]))
    assert resp.status_int == 200, body
    assert body == b'alphabeta'
    assert waited == [True]


def test_objects_stored_as_their_bytes_are_read_in_place(swift):
    app, servers = _not_bytes(swift)
    resp, body = call(app, job_request(_stdin_job(
        path='swift://~/data/b.txt')))
    assert resp.status_int == 200, body
    assert len(servers.sent) == 1
    assert servers.sent[0]['spec']['channels'][0]['local'] is True
    assert not [c for c in swift.requests('GET') if 'data/' in c[1]]


@pytest.mark.parametrize('broken, status, words', [
    (403, 403, 'not allowed to read swift://AUTH_test/data/a.txt'),
    (404, 404, 'object swift://AUTH_test/data/a.txt does not exist'),
    (409, 409, 'cannot be read whole: 409 Conflict (a segment of the '
     'large object is missing'),
    ((200, 9), 409, 'ended after 5 of its 9 bytes'),
    (swob.HTTPConflict(body='Too many levels of symbolic links, maximum '
                       'allowed is 2'), 409, 'cannot be read whole: 409 '
     'Conflict (Too many levels of symbolic links, maximum allowed is 2)'),
    (500, 503, 'could not read swift://AUTH_test/data/a.txt: 500'),
])
def test_an_object_the_proxy_cannot_read_for_a_node(swift, broken, status,
                                                    words):
    swift.broken['/v1/AUTH_test/data/a.txt'] = broken
    app, servers = _not_bytes(swift)
    resp, body = call(app, job_request(_stdin_job(), headers={
        'Accept': 'application/json'}))
    assert resp.status_int == status, body
    report = json.loads(body)
    error = report['nodes'][0]['error']
    assert words in error
    assert error.endswith('; read through the proxy for node "g"')
    assert len(servers.sent) == 1       # never sent without its bytes
    assert resp.headers['X-Nexe-Status'] == 'not-run'


def test_an_object_over_max_fetch_bytes_is_413(swift):
    swift.add('/v1/AUTH_test/data/a.txt', b'x' * 100)
    app, servers = _not_bytes(swift, max_fetch_bytes=50)
    resp, body = call(app, job_request(_stdin_job(), headers={
        'Accept': 'application/json'}))
    assert resp.status_int == 413, body
    report = json.loads(body)
    assert report['message'] == 'object too large: node "g"'
    assert 'larger than the limit of 50 bytes' in \
        report['nodes'][0]['error']


def test_a_truncated_input_is_never_run(swift):
    # Not only the node's own object: any input the proxy fetches.
    swift.add('/v1/AUTH_test/data/big', b'12345')
    swift.broken['/v1/AUTH_test/data/big'] = (200, 50)
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/big'}])]))
    assert resp.status_int == 409, body
    assert b'ended after 5 of its 50 bytes' in body
    assert not servers.sent


# --- objects gone since the listing ---------------------------------------

def _map_job(**extra):
    return [group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*.count'}], **extra)]


def _servers_where_gone(gone):
    servers = FakeObjectServers(lambda spec, members: (0, {
        '/dev/stdout': b'counted'}))
    servers.gone.update(gone)
    return servers


@pytest.mark.parametrize('why, words', [
    ('expired', 'expired (its X-Delete-At has passed; listings show it '
     'until the object expirer removes it)'),
    ('deleted', 'was deleted after the listing matched it')])
def test_a_wildcards_object_gone_since_the_listing_is_skipped(swift, why,
                                                              words):
    app, servers = make(swift, _servers_where_gone(
        {'swift://AUTH_test/data/a.txt': why}))
    resp, body = call(app, job_request(_map_job(), headers={
        'Accept': 'application/json'}))
    assert resp.status_int == 200, body
    report = json.loads(body)
    assert report['message'] == (
        'every node that ran exited 0; skipped: node "g-1" was not run: '
        'its objects had expired or been deleted since the listing')
    skipped, ran = report['nodes']
    assert (skipped['skipped'], skipped['failure'], skipped['ran']) == \
        (why, None, False)
    assert skipped['error'] == \
        'swift://AUTH_test/data/a.txt %s (node "g-1")' % words
    assert ran['ran'] and 'skipped' not in ran
    assert report['outputs'] == ['swift://AUTH_test/out/b.count']
    assert '/v1/AUTH_test/out/a.count' not in swift.objects
    assert resp.headers['X-Nexe-Status'] == 'skipped,ok'
    # Both of its object servers were asked.
    assert len([s for s in servers.sent if s['path'].endswith('a.txt')]) \
        == 2


def test_a_wildcard_whose_objects_are_all_gone_is_404(swift):
    app, _ = make(swift, _servers_where_gone(
        {'swift://AUTH_test/data/a.txt': 'expired',
         'swift://AUTH_test/data/b.txt': 'deleted'}))
    resp, body = call(app, job_request(_map_job(), headers={
        'Accept': 'application/json'}))
    assert resp.status_int == 404, body
    report = json.loads(body)
    assert report['message'] == 'object missing: nodes "g-1", "g-2"'
    assert 'expired (its X-Delete-At' in report['nodes'][0]['error']
    assert not swift.requests('PUT')


@pytest.mark.parametrize('extra', [{}, {'replicate': 2}])
def test_a_named_or_replicated_nodes_gone_object_is_404(swift, extra):
    app, _ = make(swift, _servers_where_gone(
        {'swift://AUTH_test/data/a.txt': 'expired'}))
    job = _map_job(**extra) if extra else [group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'stdout'}])]
    if extra:
        job.append(group('other', devices=[
            {'name': 'stdin', 'path': 'swift://~/data/c.bin'}]))
    resp, body = call(app, job_request(job, headers={
        'Accept': 'application/json'}))
    assert resp.status_int == 404, body
    report = json.loads(body)
    errors = [n['error'] for n in report['nodes'] if n['error']]
    assert any('data/a.txt expired' in e for e in errors), errors


# --- failover -------------------------------------------------------------

def test_failover_503_then_second_candidate(swift):
    tried = []

    def behave(device, spec):
        tried.append(device)
        return 503 if len(tried) == 1 else None
    app, servers = make(swift, FakeObjectServers(behave=behave))
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}])],
        headers={'Accept': 'application/json'}))
    assert resp.status_int == 200, body
    assert len(tried) == 2 and tried[0] != tried[1]
    report = json.loads(body)
    assert report['nodes'][0]['server'].endswith('/' + tried[1])


def test_all_candidates_fail_is_503_naming_the_node(swift):
    def behave(device, spec):
        return OSError('connection refused') if device == 'sdb' else 507
    app, servers = make(swift, FakeObjectServers(behave=behave))
    resp, body = call(app, job_request([group('lonely', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/x'}])]))
    assert resp.status_int == 503
    report = json.loads(body)
    assert 'no object server could run node "lonely"' in \
        report['nodes'][0]['error']
    assert report['nodes'][0]['ran'] is False
    assert len(servers.sent) == 2
    assert not swift.requests('PUT')
    assert resp.headers['X-Nexe-Status'] == 'not-run'


# --- results, commit, answers ---------------------------------------------

def wordcount_job():
    return [group('wc', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*.count',
         'content_type': 'text/plain', 'meta': {'Kind': 'count'}},
        {'name': 'stderr'}])]


def test_success_puts_outputs_as_the_caller(swift, spool_dir):
    def program(spec, members):
        return 0, {'/dev/stdout': spec['node'].encode(),
                   '/dev/stderr': b'fine'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request(wordcount_job()))
    assert resp.status_int == 200
    report = json.loads(body)
    assert report['outputs'] == ['swift://AUTH_test/out/a.count',
                                 'swift://AUTH_test/out/b.count']
    assert swift.objects['/v1/AUTH_test/out/a.count'] == b'wc-1'
    meta = swift.meta['/v1/AUTH_test/out/b.count']
    assert meta['Content-Type'] == 'text/plain'
    assert meta['X-Object-Meta-Kind'] == 'count'
    assert report['nodes'][0]['stderr'] == 'fine'
    assert resp.headers['X-Nexe-System'] == 'wc-1,wc-2'
    assert resp.headers['X-Nexe-Status'] == 'ok,ok'
    assert resp.headers['X-Nexe-Retcode'] == '0,0'
    assert os.listdir(spool_dir) == []


def test_node_failure_is_an_error_with_report_and_no_puts(swift, spool_dir):
    def program(spec, members):
        code = 3 if spec['node'] == 'wc-2' else 0
        return code, {'/dev/stdout': b'x', '/dev/stderr': b'oops'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request(wordcount_job()))
    assert resp.status_int == 424
    report = json.loads(body)
    assert report['ok'] is False and 'wc-2' in report['message']
    assert report['nodes'][1]['exit_code'] == 3
    assert report['outputs'] == []
    assert not swift.requests('PUT')
    assert resp.headers['X-Nexe-Retcode'] == '0,3'
    assert resp.headers['X-Nexe-Status'] == 'ok,exit'
    assert os.listdir(spool_dir) == []


@pytest.mark.parametrize('reason, status', [
    ('timeout', 504), ('cpu', 504), ('invalid-binary', 422),
    ('launcher-error', 500), ('memory', 424), ('policy', 424)])
def test_reason_to_status(swift, reason, status):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (None, {}, reason)))
    resp, body = call(app, job_request([group()]))
    assert resp.status_int == status
    assert json.loads(body)['nodes'][0]['reason'] == reason


def test_stdout_body_concatenated_in_node_order(swift, spool_dir):
    def program(spec, members):
        return 0, {'/dev/stdout': ('<%s>' % spec['node']).encode()}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir, dispatch_concurrency='3')
    job = [group('a', count=3, devices=[{'name': 'stdout'}]),
           group('b', devices=[{'name': 'stdout'}])]
    resp = job_request(job).get_response(app)
    assert resp.status_int == 200
    assert resp.content_type == 'text/plain'
    assert resp.body == b'<a-1><a-2><a-3><b>'
    assert os.listdir(spool_dir) == []
    resp, body = call(app, job_request(
        job, headers={'Accept': 'application/json'}))
    assert resp.content_type == 'application/json'
    assert [n['name'] for n in json.loads(body)['nodes']] == [
        'a-1', 'a-2', 'a-3', 'b']


def test_program_output_cannot_forge_headers(swift):
    evil = 'x\r\nX-Nexe-Status: ok\r\nSet-Cookie: a=b,c'

    def program(spec, members):
        return 1, {'/dev/stderr': evil.encode()}
    app, _ = make(swift, FakeObjectServers(program))
    resp = job_request([group('g', count=2, devices=[
        {'name': 'stderr'}])]).get_response(app)
    assert resp.status_int == 424
    for name, value in resp.headers.items():
        assert '\r' not in value and '\n' not in value
        assert name.lower() != 'set-cookie'
    assert resp.headers['X-Nexe-System'] == 'g-1,g-2'
    assert json.loads(resp.body)['nodes'][0]['stderr'] == evil


def test_object_server_refusal_text_is_escaped_in_headers(swift):
    class Refusing(FakeObjectServers):
        def request(self, server, method, path, headers, body, length):
            return FakeResponse(400, b'bad spec\r\nX-Injected: 1, more')
    app, _ = make(swift, Refusing())
    resp = job_request([group()]).get_response(app)
    assert resp.status_int == 500
    error = resp.headers['X-Nexe-Error']
    assert 'X-Injected' in error and '\\x0d\\x0a' in error
    assert ',' not in error
    assert 'X-Injected' not in resp.headers


def test_missing_output_data_fails_without_puts(swift):
    app, _ = make(swift, FakeObjectServers(lambda spec, members: (0, {})))
    servers = app.transport
    original = servers.request

    def drop_outputs(server, method, path, headers, body, length):
        resp = original(server, method, path, headers, body, length)
        spec = servers.sent[-1]['spec']
        report = {'node': spec['node'], 'server': 'x', 'validation': 'ok',
                  'result': {'reason': 'ok', 'exit_code': 0, 'signal': 0,
                             'message': '', 'cpu_user_ms': 0,
                             'cpu_sys_ms': 0, 'wall_ms': 0,
                             'max_rss_kb': 0, 'seed': 0, 'channels': []}}
        resp.close()
        return FakeResponse(200, answer_tar(report, {}))
    servers.request = drop_outputs
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdout', 'path': 'swift://~/out/x'}])]))
    assert resp.status_int == 500
    assert b'sent no data for swift://AUTH_test/out/x' in body
    assert not swift.requests('PUT')


def test_min_size_checked_before_commit(swift):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})))
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdout', 'path': 'swift://~/out/x', 'min_size': 3}])]))
    assert resp.status_int == 424
    assert b'min_size 3' in body
    assert not swift.requests('PUT')


def test_min_size_of_a_path_less_output(swift, spool_dir):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})),
        spool_dir=spool_dir)
    for size, status in ((3, 424), (2, 200)):
        resp, body = call(app, job_request([group('g', devices=[
            {'name': 'stdout', 'min_size': size},
            {'name': 'output', 'path': 'swift://~/out/x'}])]))
        assert resp.status_int == status, body
        if status == 424:
            assert json.loads(body)['message'] == 'node "g": its ' \
                '/dev/stdout (2 bytes) is smaller than its min_size 3'
            assert not swift.requests('PUT')
        else:
            assert body == b'ab'
        assert os.listdir(spool_dir) == []


def test_failed_commit_is_reported(swift):
    original = swift.handle

    def handle(req, body):
        if req.method == 'PUT':
            # As Swift's container_quotas says it.
            return swob.HTTPRequestEntityTooLarge(
                body='Upload exceeds quota.')
        return original(req, body)
    swift.handle = handle
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})))
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdout', 'path': 'swift://~/out/x'}])]))
    assert resp.status_int == 413
    assert json.loads(body)['message'] == (
        'could not write swift://AUTH_test/out/x: 413 Request Entity Too '
        'Large (Upload exceeds quota.)')


def test_a_refused_writes_html_body_is_one_line():
    from zerocloud.middleware.caller import refusal_reason
    assert refusal_reason(b'<html><h1>Not Found</h1><p>The resource could '
                          b'not be found.</p></html>') == \
        'Not Found The resource could not be found.'
    assert refusal_reason(b'Slow down\r\n\x1b[31m' + b'x' * 300) == \
        'Slow down [31m' + 'x' * 186


def _two_outputs(swift, handle):
    """Run two nodes writing ``out/g-1`` and ``out/g-2`` on a backend
    whose requests ``handle(req, body)`` answers."""
    swift.handle = handle
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})))
    return call(app, job_request([group('g', count=2, devices=[
        {'name': 'stdout', 'path': 'swift://~/out/*'}])]))


def test_half_failed_commit_rolls_back_what_it_wrote(swift):
    original = swift.handle
    puts = []

    def handle(req, body):
        if req.method == 'PUT':
            puts.append(req.path)
            if len(puts) == 2:
                return swob.HTTPServiceUnavailable()
        return original(req, body)
    resp, body = _two_outputs(swift, handle)
    assert resp.status_int == 503
    assert [c[1] for c in swift.requests('DELETE')] == puts[:1]
    assert json.loads(body)['outputs'] == []


def test_a_roll_back_waits_out_the_rate_limit(swift, monkeypatch):
    monkeypatch.setattr(proxy.eventlet, 'sleep', lambda s: None)
    original = swift.handle
    puts, deletes = [], []

    def handle(req, body):
        if req.method == 'PUT':
            puts.append(req.path)
            if len(puts) == 2:
                return swob.Response(status='498 Rate Limited',
                                     body='Slow down')
        if req.method == 'DELETE':
            deletes.append(req.path)
            if len(deletes) < 3:
                return swob.Response(status='498 Rate Limited')
        return original(req, body)
    resp, body = _two_outputs(swift, handle)
    assert resp.status == '498 Rate Limited'
    assert json.loads(body)['message'].endswith(
        ': 498 Rate Limited (Slow down)')
    assert deletes == puts[:1] * 3     # twice 498, then deleted


def test_a_roll_back_says_what_it_could_not_undo(swift):
    # Object versioning, and a caller who may write, not list, versions.
    original = swift.handle
    calls = []

    def handle(req, body):
        calls.append((req.method, req.path_qs))
        if req.method == 'PUT' and req.path.endswith('/g-1'):
            return swob.HTTPCreated(headers={'X-Object-Version-Id': 'v9'})
        if req.method == 'PUT':
            return swob.HTTPRequestEntityTooLarge(body='Upload exceeds '
                                                  'quota.')
        if req.method == 'DELETE':
            return swob.HTTPNoContent()
        if 'versions' in req.params:
            return swob.HTTPForbidden()
        return original(req, body)
    resp, body = _two_outputs(swift, handle)
    assert resp.status_int == 413
    assert json.loads(body)['message'] == (
        'could not write swift://AUTH_test/out/g-2: 413 Request Entity Too '
        'Large (Upload exceeds quota.); the version of '
        'swift://AUTH_test/out/g-1 that the job replaced could not be made '
        'current again (403 Forbidden): it is kept among its versions')
    assert ('DELETE', '/v1/AUTH_test/out/g-1?version-id=v9') in calls


def test_unexpected_error_is_500_and_logged(swift, spool_dir):
    class Broken(FakeObjectServers):
        def request(self, *args):
            raise RuntimeError('bug')
    app, _ = make(swift, Broken(), spool_dir=spool_dir)
    resp, body = call(app, job_request([group()]))
    assert resp.status_int == 500
    assert b'bug' not in body
    assert os.listdir(spool_dir) == []


# --- configuration --------------------------------------------------------

def test_swift_info_has_public_limits_only(swift):
    make(swift, max_nodes='7')
    info = get_swift_info()['zerocloud']
    assert info['max_nodes'] == 7
    assert info['version'] == '1.0'
    assert info['open_version'] == 'open/1.0'
    assert set(info) == {'version', 'max_job_bytes', 'max_nodes',
                         'max_channels', 'system_images', 'max_pipe_bytes',
                         'max_job_wall', 'open_version',
                         'max_chain_length', 'deferred_timeout'}


def test_bad_config_stops_start_up():
    with pytest.raises(ValueError) as caught:
        filter_factory({}, dispatch_concurrency='0')
    assert 'dispatch_concurrency' in str(caught.value)


def _sample_section():
    parser = configparser.ConfigParser(interpolation=None)
    path = os.path.join(ROOT, 'etc', 'proxy-server.conf-sample')
    with open(path) as src:
        text = src.read()
    parser.read_string(text)
    return parser, text


def test_sample_config_matches_the_code():
    parser, text = _sample_section()
    section = parser['filter:zerocloud_proxy']
    assert section['use'] == 'egg:zerocloud#proxy'
    pipeline = parser['pipeline:main']['pipeline'].split()
    # right after auth, so that its subrequests meet quotas, slo, ...
    here = pipeline.index('zerocloud_proxy')
    assert pipeline[here - 1] == 'tempauth'
    for later in ('container-quotas', 'account-quotas', 'slo', 'dlo',
                  'versioned_writes', 'symlink', 'proxy-server'):
        assert pipeline.index(later) > here
    block = text.split('[filter:zerocloud_proxy]')[1].split('\n[')[0]
    commented = dict(line[2:].split(' = ', 1) if ' = ' in line
                     else (line[2:].rstrip(' ='), '')
                     for line in block.splitlines()
                     if line.startswith('# ') and (
                         ' = ' in line or line.endswith(' =')))
    defaults = ProxyConfig()
    expected = {}
    for name, value in vars(defaults).items():
        if name == 'limits':
            for key, limit in vars(value).items():
                expected[key] = limit
        elif name != 'swift_dir':
            expected[name] = value
    assert set(commented) == set(expected)
    parsed = ProxyConfig.from_conf(commented)
    assert parsed == defaults
    assert parsed == ProxyConfig.from_conf({})
    assert defaults.dispatch_concurrency == \
        config.DEFAULT_DISPATCH_CONCURRENCY


def test_docstring_lists_every_option():
    parser, text = _sample_section()
    block = text.split('[filter:zerocloud_proxy]')[1].split('\n[')[0]
    for line in block.splitlines():
        if line.startswith('# ') and ' =' in line:
            assert '    ' + line.strip() in proxy.__doc__, line


def test_wildcard_container_lists_the_account(swift):
    swift.add('/v1/AUTH_test/logs-1/x.log', b'1')
    swift.add('/v1/AUTH_test/logs-2/y.log', b'2')
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/logs-*/*.log'}])],
        headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200, body
    assert [n['attach'] for n in json.loads(body)['nodes']] == [
        'swift://AUTH_test/logs-1/x.log', 'swift://AUTH_test/logs-2/y.log']
    assert ('GET', '/v1/AUTH_test') in [c[:2] for c in swift.calls]


def test_spool_removed_when_a_fetch_fails(swift, spool_dir):
    swift.add('/v1/AUTH_test/data/big', b'x' * 100)
    app, servers = make(swift, spool_dir=spool_dir, max_fetch_bytes='50')
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/big'}])]))
    assert resp.status_int == 413
    assert b'swift://AUTH_test/data/big' in body
    assert os.listdir(spool_dir) == []
    assert not servers.sent


def test_stdout_iterator_closed_early_still_cleans(swift, spool_dir):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x' * 200000})),
        spool_dir=spool_dir)
    req = job_request([group('g', devices=[{'name': 'stdout'}])])
    status, headers, app_iter = req.call_application(app)
    assert status.startswith('200')
    iterator = iter(app_iter)
    next(iterator)
    assert os.listdir(spool_dir)
    app_iter.close()            # what the WSGI server closes
    assert os.listdir(spool_dir) == []


# --- StatsD metrics -------------------------------------------------------

def sent(statsd):
    """{metric name without the prefix: [(value, type)]} received."""
    found = {}
    for name, value, kind in statsd.metrics():
        assert name.startswith(proxy.STATSD_PREFIX + '.'), name
        found.setdefault(name[len(proxy.STATSD_PREFIX) + 1:], []).append(
            (value, kind))
    return found


def test_metrics_of_a_job_that_ran_and_wrote(swift, statsd):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'1'})), **statsd.conf)
    resp, _ = call(app, job_request(wordcount_job()))
    assert resp.status_int == 200
    metrics = sent(statsd)
    assert sorted(metrics) == ['commit.timing', 'jobs.200.timing',
                               'nodes.ran', 'outputs.written']
    assert metrics['nodes.ran'] == [(2, 'c')]
    assert metrics['outputs.written'] == [(2, 'c')]
    assert metrics['jobs.200.timing'][0][1] == 'ms'
    assert metrics['jobs.200.timing'][0][0] >= \
        metrics['commit.timing'][0][0]


def test_metrics_of_refused_and_failed_jobs(swift, statsd):
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (3, {'/dev/stdout': b'x'})), **statsd.conf)
    assert call(app, job_request(b'[{"name": '))[0].status_int == 422
    assert call(app, job_request([group(
        'g', devices=[{'name': 'nope'}])]))[0].status_int == 400
    assert call(app, job_request(wordcount_job()))[0].status_int == 424
    metrics = sent(statsd)
    assert sorted(metrics) == ['jobs.400.timing', 'jobs.422.timing',
                               'jobs.424.timing', 'nodes.ran']
    # Requests that are not jobs are not counted.
    call(app, swob.Request.blank(EXEC, environ={'REMOTE_USER': ACCOUNT}))
    assert sent(statsd) == {}


def test_metrics_of_a_dry_run(swift, statsd):
    app, _ = make(swift, **statsd.conf)
    resp, _ = call(app, job_request([group('sort', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'}])],
        headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200
    assert list(sent(statsd)) == ['dry_runs.200.timing']


def test_metrics_count_failovers_and_nodes_not_run(swift, statsd):
    tried = []

    def behave(device, spec):
        tried.append(device)
        return 503 if len(tried) == 1 else None
    app, _ = make(swift, FakeObjectServers(behave=behave), **statsd.conf)
    call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}])]))
    metrics = sent(statsd)
    assert metrics['nodes.failover'] == [(1, 'c')]
    assert metrics['nodes.ran'] == [(1, 'c')]

    def refuse(device, spec):
        return OSError('connection refused') if device == 'sdb' else 507
    app, _ = make(swift, FakeObjectServers(behave=refuse), **statsd.conf)
    resp, _ = call(app, job_request([group('lonely', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}])]))
    assert resp.status_int == 503
    metrics = sent(statsd)
    assert metrics['nodes.failover'] == [(2, 'c')]
    assert metrics['nodes.not_run'] == [(1, 'c')]
    assert 'nodes.ran' not in metrics and 'jobs.503.timing' in metrics


def test_metrics_of_a_failed_commit(swift, statsd):
    original = swift.handle
    swift.handle = lambda req, body: swob.HTTPRequestEntityTooLarge() \
        if req.method == 'PUT' else original(req, body)
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})), **statsd.conf)
    resp, _ = call(app, job_request([group('g', devices=[
        {'name': 'stdout', 'path': 'swift://~/out/x'}])]))
    assert resp.status_int == 413
    metrics = sent(statsd)
    assert metrics['commit.failed'] == [(1, 'c')]
    assert 'outputs.written' not in metrics
    assert {'commit.timing', 'jobs.413.timing'} <= set(metrics)


def test_a_shared_input_is_spooled_once_whatever_the_node_count(
        swift, spool_dir):
    """Every node gets the non-local input in its request, streamed from
    the one spool file the proxy fetched it into: the spool does not grow
    with the number of nodes."""
    table = os.urandom(300000)
    swift.add('/v1/AUTH_test/data/table', table)
    for i in range(8):
        swift.add('/v1/AUTH_test/many/o%d' % i, b'%d' % i)
    spooled = []

    def program(spec, members):
        spooled.append(sum(
            os.path.getsize(os.path.join(root, name))
            for root, _dirs, names in os.walk(spool_dir) for name in names))
        inputs = [v for k, v in members.items() if k.startswith('in/')]
        assert inputs == [table]
        return 0, {'/dev/stdout': table[:1]}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/many/*'},
        {'name': 'input', 'path': 'swift://~/data/table'},
        {'name': 'stdout'}])]))
    assert resp.status_int == 200, body
    assert len(servers.sent) == 8
    # The table once (and answers of a few bytes), not once per node.
    assert max(spooled) < 2 * len(table)
    assert os.listdir(spool_dir) == []


def full_disk(monkeypatch, label):
    """Spool files with ``label`` land on /dev/full: writing them fails
    with ENOSPC, as on a full disk."""
    real = Spool.new_path

    def new_path(self, wanted='f'):
        return '/dev/full' if wanted == label else real(self, wanted)
    monkeypatch.setattr(Spool, 'new_path', new_path)


def test_no_room_for_answers_is_507_without_retry(swift, spool_dir,
                                                  monkeypatch):
    full_disk(monkeypatch, 'out')
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x' * 1000})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/a'}])]))
    assert resp.status_int == 507
    report = json.loads(body)
    assert report['message'] == 'no room on the proxy: node "g"'
    error = report['nodes'][0]['error']
    assert error.startswith('the proxy has no room for the answer of node '
                            '"g": ') and 'No space left' in error
    assert len(servers.sent) == 1       # not run again elsewhere
    assert not swift.requests('PUT')
    assert os.listdir(spool_dir) == []


def test_no_room_to_fetch_is_507_naming_the_object(swift, spool_dir,
                                                   monkeypatch):
    full_disk(monkeypatch, 'in')
    app, servers = make(swift, spool_dir=spool_dir)
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/b.txt'}])]))
    assert resp.status_int == 507
    # The program comes first.
    assert body.startswith(b'the proxy has no room to fetch '
                           b'swift://AUTH_test/exec/prog: ')
    assert b'No space left on device' in body
    assert not servers.sent
    assert os.listdir(spool_dir) == []


def test_a_job_keeps_at_most_max_job_spool_bytes(swift, spool_dir):
    # The program (12 bytes) and a.txt (5) fit in 100 bytes; two outputs
    # of 60 do not: the second answer fails, and nothing is written.
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x' * 60})),
        spool_dir=spool_dir, max_job_spool_bytes='100')
    resp, body = call(app, job_request([group('g', count=2, devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*'}])]))
    assert resp.status_int == 507, body
    report = json.loads(body)
    assert report['message'].startswith('no room on the proxy: node "g-')
    errors = [n['error'] for n in report['nodes'] if n['error']]
    assert errors == ['the proxy has no room for the answer of node "%s": '
                      'the job would keep more than 100 bytes on the proxy '
                      '(max_job_spool_bytes)' % n['name']
                      for n in report['nodes'] if n['error']]
    assert len(errors) == 1
    assert not swift.requests('PUT')
    assert os.listdir(spool_dir) == []
    # A fetch over the budget is refused naming the object: the program
    # (12 bytes) fits, the non-local input b.txt (4) does not.
    app, servers = make(swift, spool_dir=spool_dir,
                        max_job_spool_bytes='15')
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'input', 'path': 'swift://~/data/b.txt'},
        {'name': 'stdout'}])]))
    assert resp.status_int == 507
    assert body == (b'the proxy has no room to fetch swift://AUTH_test/data'
                    b'/b.txt: the job would keep more than 15 bytes on the '
                    b'proxy (max_job_spool_bytes)\n')
    assert not servers.sent
    assert os.listdir(spool_dir) == []


def test_no_spool_directory_is_507(swift, tmp_path):
    # temp_dir went away after the filter started (it is checked then).
    missing = tmp_path / 'gone'
    missing.mkdir()
    app, _ = make(swift, temp_dir=str(missing))
    missing.rmdir()
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'}])]))
    assert resp.status_int == 507
    assert body == b'the proxy has no room for the job: cannot create a ' \
        b'spool directory: No such file or directory\n'
    # The client is not told the proxy's paths.
    assert str(tmp_path).encode() not in body


def test_a_big_failed_job_keeps_its_headers_within_bounds(swift):
    for i in range(150):
        swift.add('/v1/AUTH_test/many/o%03d' % i, b'x')
    app, _ = make(swift, FakeObjectServers(
        lambda spec, members: (1, {}, 'exit')), nexe_header_bytes='4096')
    resp, body = call(app, job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/many/*'}])]))
    assert resp.status_int == 424
    nexe = {k: v for k, v in resp.headers.items()
            if k.startswith('X-Nexe-') or k.startswith('X-Zerocloud-')}
    assert sum(len(k) + len(v) + 4 for k, v in nexe.items()) <= 4096
    kept = len(nexe['X-Nexe-Status'].split(','))
    assert kept < 150
    assert int(nexe['X-Zerocloud-Nodes-Omitted']) == 150 - kept
    assert len(json.loads(body)['nodes']) == 150


# --- ?heartbeat=on ----------------------------------------------------------

def heartbeat_request(job):
    req = job_request(job)
    req.query_string = 'heartbeat=on'
    return req


def slow(seconds, code=0, finished=None):
    """A program that takes ``seconds`` (None: forever)."""
    def program(spec, members):
        if seconds is None:
            eventlet.event.Event().wait()
        eventlet.sleep(seconds)
        if finished is not None:
            finished.append(spec['node'])
        return code, {'/dev/stdout': b'out'}
    return program


def test_heartbeat_sends_spaces_then_the_report(swift, spool_dir, statsd):
    app, _ = make(swift, FakeObjectServers(slow(0.35)), spool_dir=spool_dir,
                  heartbeat_interval='0.1', **statsd.conf)
    resp, body = call(app, heartbeat_request(wordcount_job()))
    assert resp.status_int == 202
    assert resp.content_type == 'application/json'
    assert body.startswith(b'  ')       # at least two beats, then the report
    report = json.loads(body)
    assert report['status'] == 200 and report['ok']
    assert report['outputs'] == ['swift://AUTH_test/out/a.count',
                                 'swift://AUTH_test/out/b.count']
    assert swift.objects['/v1/AUTH_test/out/a.count'] == b'out'
    assert os.listdir(spool_dir) == []
    metrics = [name for name, _, _ in statsd.metrics()]
    assert 'zerocloud-proxy.jobs.200.timing' in metrics
    assert 'zerocloud-proxy.jobs.202.timing' not in metrics


def test_heartbeat_reports_failures_in_the_body(swift, spool_dir):
    app, _ = make(swift, FakeObjectServers(slow(0.05, code=3)),
                  spool_dir=spool_dir, heartbeat_interval='0.01')
    resp, body = call(app, heartbeat_request(wordcount_job()))
    assert resp.status_int == 202
    report = json.loads(body)
    assert report['status'] == 424 and not report['ok']
    assert report['message'] == 'program failed: nodes "wc-1", "wc-2"'
    assert not swift.requests('PUT')
    # An error found once it has begun (the program is gone) also ends in
    # the body.
    del swift.objects[EXEC]
    resp, body = call(app, heartbeat_request(wordcount_job()))
    assert resp.status_int == 202
    report = json.loads(body)
    assert report['status'] == 404
    assert 'swift://AUTH_test/exec/prog' in report['message']
    assert os.listdir(spool_dir) == []


def test_heartbeat_refusals_before_anything_runs_are_plain(swift):
    app, servers = make(swift)
    resp, body = call(app, heartbeat_request([group('g', devices=[
        {'name': 'nope'}])]))
    assert resp.status_int == 400
    resp, body = call(app, heartbeat_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/a.txt'},
        {'name': 'stdout'}])]))
    assert resp.status_int == 400
    assert b'give stdout a path' in body
    assert not servers.sent


def test_heartbeat_client_gone_stops_the_nodes(swift, spool_dir, statsd):
    finished = []
    app, servers = make(swift, FakeObjectServers(slow(None,
                                                      finished=finished)),
                        spool_dir=spool_dir, heartbeat_interval='0.01',
                        **statsd.conf)
    resp = heartbeat_request(wordcount_job()).get_response(app)
    assert resp.status_int == 202
    beats = iter(resp.app_iter)
    assert next(beats) == b' '
    wait_until(lambda: len(servers.sent) == 2)
    resp.app_iter.close()           # what the server does when it is gone
    # The nodes never end by themselves: the job ends because they were
    # stopped (the spool goes with the job).
    wait_until(lambda: os.listdir(spool_dir) == [])
    assert finished == []
    assert not swift.requests('PUT')
    wait_until(lambda: 'zerocloud-proxy.jobs.499.timing' in [
        name for name, _, _ in statsd.metrics(wait=0.05)])


def test_a_job_whose_client_hung_up_still_logs_its_usage(
        swift, spool_dir, monkeypatch):
    # A user could run sandboxes unbilled by hanging up before the end.
    finished = []
    app, servers = make(swift, FakeObjectServers(slow(None,
                                                      finished=finished)),
                        spool_dir=spool_dir, heartbeat_interval='0.01')
    lines = []
    monkeypatch.setattr(app.logger, 'info',
                        lambda msg, *args: lines.append(msg % args))
    resp = heartbeat_request(wordcount_job()).get_response(app)
    beats = iter(resp.app_iter)
    assert next(beats) == b' '
    wait_until(lambda: len(servers.sent) == 2)
    resp.app_iter.close()
    wait_until(lambda: any(line.startswith('usage ') for line in lines))
    usage, = [line for line in lines if line.startswith('usage ')]
    fields = dict(item.split('=', 1) for item in usage.split()[1:])
    assert (fields['status'], fields['nodes'], fields['sandboxes'],
            fields['cpu_ms']) == ('499', '2', '2', '0')


def wait_until(predicate, limit=5.0):
    with eventlet.Timeout(limit):
        while not predicate():
            eventlet.sleep(0.005)


def test_heartbeat_client_gone_while_committing_lets_the_commit_end(
        swift, spool_dir):
    original = swift.handle

    def slow_puts(req, body):
        if req.method == 'PUT':
            eventlet.sleep(0.05)
        return original(req, body)
    swift.handle = slow_puts
    # One PUT at a time: the second starts only after the client left.
    app, _ = make(swift, FakeObjectServers(slow(0)), spool_dir=spool_dir,
                  heartbeat_interval='0.01', dispatch_concurrency='1')
    resp = heartbeat_request(wordcount_job()).get_response(app)
    beats = iter(resp.app_iter)
    wait_until(lambda: next(beats) == b' ' and swift.requests('PUT'))
    resp.app_iter.close()           # gone while the outputs are written
    # Like a PUT whose client left: every output is written all the same.
    wait_until(lambda: '/v1/AUTH_test/out/b.count' in swift.objects
               and os.listdir(spool_dir) == [])
    assert swift.objects['/v1/AUTH_test/out/a.count'] == b'out'
    assert not swift.requests('DELETE')


# --- #! scripts -------------------------------------------------------------

SCRIPT = b'#!/usr/bin/env python3 -u\nprint("hi")\n'


def test_a_script_exec_runs_its_interpreter(swift, spool_dir):
    swift.add('/v1/AUTH_test/exec/tool.py', SCRIPT)
    app, servers = make(swift, spool_dir=spool_dir)
    job = [group('g', devices=[{'name': 'stdout'}],
                 exec={'path': 'swift://~/exec/tool.py', 'args': 'x'})]
    for _ in range(2):
        resp, body = call(app, job_request(job))
        assert resp.status_int == 200, body
    first, again = servers.sent
    assert first['spec'] == again['spec']
    spec = first['spec']
    assert spec['exec'] == {'path': 'file://python:bin/python3'}
    assert spec['argv'] == ['g', '-u', '/dev/script', 'x']
    image, script = spec['channels'][1:]
    assert image == {'alias': '/dev/python', 'direction': 'r',
                     'kind': 'image', 'image': 'python'}
    assert script['alias'] == '/dev/script' and not script['local']
    assert first['members'] == {script['member']: SCRIPT}
    # Once per job, as any input: the script travels to its node.
    assert len([c for c in swift.requests('GET')
                if c[1] == '/v1/AUTH_test/exec/tool.py']) == 2


def test_a_script_exec_for_an_unknown_interpreter_is_400(swift):
    swift.add('/v1/AUTH_test/exec/tool.sh', b'#!/bin/bash\necho\n')
    app, servers = make(swift)
    resp, body = call(app, job_request([group(
        'g', exec={'path': 'swift://~/exec/tool.sh'})]))
    assert resp.status_int == 400
    assert body.startswith(b'exec swift://AUTH_test/exec/tool.sh: its "#!" '
                           b'line "#!/bin/bash" names no system image')
    assert not servers.sent


def script_request(body, ctype='text/x-python', **kw):
    return job_request(body, headers={'Content-Type': ctype}, **kw)


def test_a_posted_script_runs_alone_and_answers_its_stdout(
        swift, spool_dir):
    def program(spec, members):
        assert list(members.values()) == [SCRIPT]
        return 0, {'/dev/stdout': b'hi\n'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, script_request(SCRIPT))
    assert (resp.status_int, body) == (200, b'hi\n')
    sent, = servers.sent
    assert sent['spec']['exec'] == {'path': 'file://python:bin/python3'}
    assert sent['spec']['argv'] == ['script', '-u', '/dev/script']
    assert [c['alias'] for c in sent['spec']['channels']] == [
        '/dev/stdout', '/dev/stderr', '/dev/python', '/dev/script']
    # The body is the script: nothing was read from Swift.
    assert not swift.requests('GET')
    assert os.listdir(spool_dir) == []


def test_a_posted_script_dry_run(swift):
    app, servers = make(swift)
    resp, body = call(app, job_request(
        SCRIPT, headers={'Content-Type': 'text/plain',
                         'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200
    node, = json.loads(body)['nodes']
    assert node['exec'] == 'file://python:bin/python3'
    assert not servers.sent


def test_a_script_posted_to_an_object_reads_it_as_stdin(swift, spool_dir):
    swift.add('/v1/AUTH_test/data/a.txt', b'words\n')

    def program(spec, members):
        assert list(members.values()) == [SCRIPT]
        return 0, {'/dev/stdout': b'1\n'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, script_request(
        SCRIPT, path='/v1/AUTH_test/data/a.txt'))
    assert (resp.status_int, body) == (200, b'1\n')
    sent, = servers.sent
    stdin = sent['spec']['channels'][0]
    assert stdin['alias'] == '/dev/stdin' and stdin['local']
    assert sent['path'] == '/AUTH_test/data/a.txt'
    assert os.listdir(spool_dir) == []


def test_a_script_posted_to_an_object_needs_read_access(swift):
    swift.add('/v1/AUTH_test/data/a.txt', b'words\n')
    app, servers = make(swift)
    resp, body = call(app, script_request(
        SCRIPT, user='AUTH_other', path='/v1/AUTH_test/data/a.txt'))
    assert resp.status_int == 403
    assert body == b'not allowed to read swift://AUTH_test/data/a.txt\n'
    assert not servers.sent


def test_a_script_posted_to_a_missing_object_is_404(swift):
    swift.add('/v1/AUTH_test/data/a.txt', b'words\n')
    app, servers = make(swift)
    resp, body = call(app, script_request(
        SCRIPT, path='/v1/AUTH_test/data/nope.txt'))
    assert resp.status_int == 404, body
    assert b'swift://AUTH_test/data/nope.txt' in body
    assert not servers.sent


@pytest.mark.parametrize('path, ctype, text', [
    ('/v1/AUTH_test/data/a.txt', 'application/json', b'jobs and '
     b'application archives are POSTed to /v1/<account>; only a #! script '
     b'may be POSTed to an object'),
    ('/v1/AUTH_test/data/a.txt', 'application/x-tar', b'jobs and '),
    ('/v1/AUTH_test/data', 'text/x-python', b'jobs and '),
    ('/v1/AUTH_test/data/', 'text/x-python', b'jobs and '),
    ('/v1/AUTH_test/data/a*.txt', 'text/x-python', b'a script cannot read '
     b'an object whose name holds "*"'),
])
def test_what_cannot_be_posted_to_an_object(swift, path, ctype, text):
    app, servers = make(swift)
    resp, body = call(app, script_request(SCRIPT, ctype=ctype, path=path))
    assert resp.status_int == 400, body
    assert body.startswith(text)
    assert not servers.sent


@pytest.mark.parametrize('body, ctype, status, text', [
    (b'print(1)\n', 'text/plain', 400, b'a script is POSTed with a first '
     b'line naming its interpreter'),
    (b'#!/bin/sh\necho\n', 'application/x-sh', 400, b'the script: its "#!" '
     b'line "#!/bin/sh" names no system image'),
    (b'#!file://ruby:bin/ruby\n', 'text/x-ruby', 400, b'unknown system '
     b'image "ruby"'),
    (SCRIPT, 'application/x-tar', 400, b'the application archive is not '
     b'an uncompressed tar'),
    (SCRIPT, '', 415, b'a job is sent as Content-Type: application/json'),
])
def test_posted_scripts_that_cannot_run(swift, body, ctype, status, text):
    app, servers = make(swift)
    req = job_request(body, headers={'Content-Type': ctype})
    if not ctype:
        del req.headers['Content-Type']
    resp, got = call(app, req)
    assert resp.status_int == status, got
    assert text in got
    assert not servers.sent


@pytest.mark.parametrize('user, status', [(None, 401), ('AUTH_other', 403)])
def test_a_job_touching_no_object_is_for_the_account_s_owners(
        swift, user, status):
    app, servers = make(swift)
    pure = [group('g', devices=[{'name': 'stdout'}],
                  exec={'path': 'file://python:bin/python'})]
    for req in (job_request(pure, user=user),
                job_request(SCRIPT, user=user,
                            headers={'Content-Type': 'text/x-python'})):
        if user is None:
            req.environ.pop('REMOTE_USER', None)
        resp, body = call(app, req)
        assert resp.status_int == status, body
        assert b'not allowed to run a job in AUTH_test that reads and ' \
            b'writes none of its objects' in body
    assert not servers.sent
    # The owner may; so may anyone the objects' ACLs let in (the job then
    # touches an object, authorized on its own).
    resp, body = call(app, job_request(pure))
    assert resp.status_int == 200, body


def test_a_job_of_other_accounts_objects_is_for_the_account_s_owners(swift):
    # A job is counted to the account it is POSTed to (and ~ is that
    # account): objects elsewhere do not make it anyone's to run there.
    swift.add('/v1/AUTH_other/exec/prog', b'\x7fELF program')
    swift.add('/v1/AUTH_other/data/x.txt', b'x')
    app, servers = make(swift)
    job = [group('g', exec={'path': 'swift://AUTH_other/exec/prog'},
                 devices=[{'name': 'stdin',
                           'path': 'swift://AUTH_other/data/x.txt'},
                          {'name': 'stdout'}])]
    for path, status in (('/v1/AUTH_test', 403), ('/v1/AUTH_nobody', 403),
                         ('/v1/AUTH_other', 200)):
        resp, body = call(app, job_request(job, user='AUTH_other',
                                           path=path))
        assert resp.status_int == status, (path, body)
        if status == 403:
            assert b'not allowed to run a job in %s' % path[4:].encode() \
                in body
    assert len({s['spec']['node'] for s in servers.sent}) == 1
    # Reading one object of the account (its ACL allows) is enough.
    swift.containers['/v1/AUTH_test/data']['read'] = 'AUTH_other'
    job[0]['devices'].append({'name': 'input',
                              'path': 'swift://AUTH_test/data/a.txt'})
    resp, body = call(app, job_request(job, user='AUTH_other'))
    assert resp.status_int == 200, body


@pytest.mark.parametrize('headers, method, path', [
    ({}, 'POST', '/v1/AUTH_test'),
    ({'X-Zerovm-Execute': 'open/1.0'}, 'GET', '/v1/AUTH_test/data/a.txt'),
    ({'X-Zerovm-Execute': 'open/1.0'}, 'PUT', '/v1/AUTH_test/data/a.txt'),
    ({'X-Zerovm-Execute': 'api/1.0'}, 'GET', '/v1/AUTH_test/data/x'),
])
def test_a_tempurl_cannot_run_a_job(swift, headers, method, path):
    # tempurl leaves swift.authorize granting the whole account (or
    # container) once a signature for one object checked out.
    app, servers = make(swift)
    req = job_request([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/b.txt'},
        {'name': 'stdout'}])], user='.wsgi.tempurl', headers=headers,
        method=method, path=path)
    req.environ['swift.authorize'] = lambda r: None
    req.environ['swift.authorize_override'] = True
    resp, body = call(app, req)
    assert resp.status_int == 403, body
    assert b'a TempURL' in body
    assert not servers.sent and not swift.requests('GET')


# --- ZeroVM application archives --------------------------------------------

def archive(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


APP_JOB = [{'name': 'app', 'exec': {'path': 'file://image:bin/tool',
                                    'args': '-v'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/data/a.txt'},
                        {'name': 'stdout'}]},
           {'name': 'own', 'exec': {'path': 'file://image:bin/x'},
            'devices': [{'name': 'image', 'path': 'swift://~/data/c.bin'},
                        {'name': 'stdout'}]}]


def test_an_archive_s_system_map_runs_with_the_archive_as_image(
        swift, spool_dir):
    body = archive([('boot/system.map', json.dumps(APP_JOB).encode()),
                    ('bin/tool', b'\x7fELF tool')])
    app, servers = make(swift, spool_dir=spool_dir)
    resp, got = call(app, job_request(
        body, headers={'Content-Type': 'application/x-tar'}))
    assert resp.status_int == 200, got
    first, second = sorted(servers.sent, key=lambda s: s['spec']['node'])
    spec = first['spec']
    assert spec['exec'] == {'path': 'file://image:bin/tool'}
    assert spec['argv'] == ['app', '-v']
    stdin, _, image = spec['channels']
    assert stdin['local'] is True       # placed by its input, not the app
    assert first['path'] == '/AUTH_test/data/a.txt'
    assert image['alias'] == '/dev/image' and image['image'] == 'image'
    assert first['members'] == {image['member']: body}
    # A group that names its own image keeps it.
    own, = [c for c in second['spec']['channels']
            if c['alias'] == '/dev/image']
    assert own['path'] == 'swift://AUTH_test/data/c.bin'
    assert not [c for c in swift.requests('GET') if '.zerocloud' in c[1]]
    assert os.listdir(spool_dir) == []


def test_an_archive_s_file_list_and_device_names_are_zerocloud_s(swift):
    old = [{'name': 'app', 'exec': {'path': 'file://image:bin/tool'},
            'file_list': [{'device': 'stdout'}]},
           {'name': 'app2', 'exec': {'path': 'file://image:bin/tool'},
            'file_list': [{'device': 'image'}, {'device': 'stdout'}]}]
    body = archive([('./boot/system.map', json.dumps(old).encode())])
    app, servers = make(swift)
    resp, got = call(app, job_request(
        body, headers={'Content-Type': 'application/x-ustar'}))
    assert resp.status_int == 200, got
    for sent in servers.sent:
        assert [c['alias'] for c in sent['spec']['channels']] == [
            '/dev/stdout', '/dev/image']
        assert sent['members'] == {'in/1': body}


def test_an_archive_s_cluster_map_comes_before_its_system_map(swift):
    one = [{'name': 'one', 'exec': {'path': 'file://image:bin/tool'},
            'devices': [{'name': 'stdout'}]}]
    two = [dict(one[0], name='cluster')]
    app, servers = make(swift)
    for members, name in (
            ([('boot/system.map', json.dumps(one).encode()),
              ('boot/cluster.map', json.dumps(two).encode())], 'cluster'),
            ([('boot/cluster.map', json.dumps(two).encode())], 'cluster'),
            ([('boot/system.map', json.dumps(one).encode())], 'one')):
        servers.sent[:] = []
        resp, got = call(app, job_request(
            archive(members), headers={'Content-Type': 'application/x-tar'}))
        assert resp.status_int == 200, got
        assert [s['spec']['node'] for s in servers.sent] == [name]
    resp, got = call(app, job_request(
        archive([('boot/cluster.map', b'[')]),
        headers={'Content-Type': 'application/x-tar'}))
    assert resp.status_int == 422
    assert got.startswith(b'boot/cluster.map is not valid JSON')


def _pax_block(records):
    """A PAX header holding ``records`` as they are (not well-formed)."""
    block = bytearray(512)
    block[0:9], block[124:136] = b'PaxHeader', b'%011o\0' % len(records)
    block[156:157], block[257:265] = b'x', b'ustar\x0000'
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\0 ' % sum(block)
    return bytes(block) + records + b'\0' * (-len(records) % 512)


@pytest.mark.parametrize('body, status, text', [
    (b'not a tar' * 100, 400, b'the application archive is not an '
     b'uncompressed tar'),
    # Seconds of the proxy's CPU in Python 3.11.7's tarfile (its hub
    # blocked meanwhile): CVE-2024-6232.
    (_pax_block(b'1' * 60000) + archive([('boot/system.map', b'[]')]), 400,
     b'uncompressed tar: a malformed PAX header'),
    (archive([('bin/tool', b'x')]), 400, b'has no boot/system.map'),
    (archive([('boot/system.map', b'[{')]), 422, b'boot/system.map is not '
     b'valid JSON'),
    (archive([('boot/system.map', b'[{"name": "a", "name": "b"}]')]), 400,
     b'boot/system.map: duplicate key "name"'),
    (archive([('boot/system.map', b'[' * 30000 + b']' * 30000)]), 400,
     b'boot/system.map is nested too deeply'),
    (archive([('boot/system.map', b'x' * 70000)]), 413, b'boot/system.map '
     b'is 70000 bytes'),
    (archive([('boot/system.map', json.dumps([{'name': 'a', 'exec': {
        'path': 'file://image:bin/x'}, 'devices': [{'nmae': 'x'}]}]
    ).encode())]), 400, b'group "a"'),
])
def test_archives_that_cannot_run(swift, body, status, text):
    app, servers = make(swift)
    resp, got = call(app, job_request(
        body, headers={'Content-Type': 'application/x-tar'}))
    assert resp.status_int == status, got
    assert text in got
    assert not servers.sent


def test_an_archive_larger_than_max_archive_bytes_is_413(swift):
    app, servers = make(swift, max_archive_bytes='1000')
    resp, got = call(app, job_request(
        archive([('boot/system.map', b'[]'), ('big', b'x' * 2000)]),
        headers={'Content-Type': 'application/x-tar'}))
    assert resp.status_int == 413
    assert got.startswith(b'application archive is ')
    resp, got = call(app, job_request(
        SCRIPT + b'#' * 1000, headers={'Content-Type': 'text/plain'}))
    assert resp.status_int == 413 and got.startswith(b'script is ')


# --- max_jobs_per_account ---------------------------------------------------

def test_an_account_runs_at_most_max_jobs_per_account_at_once(swift):
    gate = eventlet.event.Event()
    running = []

    def program(spec, members):
        running.append(spec['node'])
        gate.wait()
        return 0, {'/dev/stdout': b'done\n'}
    app, servers = make(swift, FakeObjectServers(program),
                        max_jobs_per_account='2')
    job = [group('g', devices=[{'name': 'stdout'}])]
    first = eventlet.spawn(call, app, job_request(job))
    second = eventlet.spawn(call, app, job_request(job))
    while len(running) < 2:
        eventlet.sleep(0.01)
    resp, body = call(app, job_request(job))
    assert resp.status_int == 429
    assert resp.headers['Retry-After'] == '1'
    assert body == (b'account AUTH_test has 2 jobs running on this proxy, '
                    b'the most it may (max_jobs_per_account); try again '
                    b'when one has ended\n')
    resp, _ = call(app, job_request(
        job, headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200       # a dry run runs nothing
    # Another account is not counted with this one.
    third = eventlet.spawn(call, app, job_request(
        [group('g', devices=[{'name': 'stdout'}],
               exec={'path': 'file://python:bin/python'})],
        user='AUTH_other', path='/v1/AUTH_other'))
    while len(running) < 3:
        eventlet.sleep(0.01)
    gate.send()
    for job_thread in (first, second, third):
        assert job_thread.wait()[0].status_int == 200
    assert not app.running
    resp, _ = call(app, job_request(job))
    assert resp.status_int == 200


def test_heartbeat_jobs_are_refused_before_their_202(swift):
    gate = eventlet.event.Event()

    def program(spec, members):
        gate.wait()
        return 0, {}
    app, servers = make(swift, FakeObjectServers(program),
                        max_jobs_per_account='1')
    job = [group('g', devices=[{'name': 'stdout', 'path':
                                'swift://~/out/x'}])]
    first = eventlet.spawn(call, app, job_request(job))
    while not servers.sent:
        eventlet.sleep(0.01)
    req = job_request(job)
    req.environ['QUERY_STRING'] = 'heartbeat=on'
    resp, body = call(app, req)
    assert resp.status_int == 429
    gate.send()
    assert first.wait()[0].status_int == 200


@pytest.mark.parametrize('value', ['-1', 'x', '1.5'])
def test_max_jobs_per_account_must_be_a_count(swift, value):
    with pytest.raises(ConfigError, match='max_jobs_per_account must be an '
                       'integer >= 0'):
        make(swift, max_jobs_per_account=value)


# --- opening an object (open/1.0) -------------------------------------------

VIEWER = [{'name': 'view', 'exec': {'path': 'swift://~/exec/prog',
                                    'args': '-f {.format=xml} {.lines}'},
           'devices': [{'name': 'stdin', 'path': 'swift://~{.object_path}'},
                       {'name': 'stdout', 'content_type': 'text/html'}]}]


def open_request(path, user=ACCOUNT, method='GET', headers=None):
    env = {'REQUEST_METHOD': method, 'swift.authorize': authorize,
           'swift.trans_id': 'tx-test'}
    if user:
        env['REMOTE_USER'] = user
    return swob.Request.blank(path, environ=env, headers=headers or {})


@pytest.fixture
def opening(swift):
    swift.add('/v1/AUTH_test/docs/a.csv', b'x,y\n', content_type='text/csv')
    swift.add('/v1/AUTH_test/.zvm/text/csv/config',
              json.dumps(VIEWER).encode())

    def program(spec, members):
        return 0, {'/dev/stdout': ' '.join(spec['argv']).encode()}
    return make(swift, FakeObjectServers(program))


@pytest.mark.parametrize('path, headers', [
    ('/open/AUTH_test/docs/a.csv?lines=3', {}),
    ('/v1/AUTH_test/docs/a.csv?lines=3&format=pdf',
     {'X-Zerovm-Execute': 'open/1.0'}),
])
def test_an_object_opens_with_its_type_s_template(opening, path, headers):
    app, servers = opening
    resp, body = call(app, open_request(path, headers=headers))
    assert resp.status_int == 200, body
    fmt = 'pdf' if 'format' in path else 'xml'
    assert body == ('view -f %s 3' % fmt).encode()
    assert resp.headers['Content-Type'] == 'text/html'
    sent, = servers.sent
    assert sent['path'] == '/AUTH_test/docs/a.csv'     # next to the object
    assert sent['spec']['channels'][0]['alias'] == '/dev/stdin'
    assert sent['spec']['channels'][0]['local']


def test_an_executable_object_opens_as_a_program(swift):
    swift.add('/v1/AUTH_test/exec/tool', b'\x7fELF tool',
              content_type='application/x-nexe')
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'a,b\n'})))
    resp, body = call(app, open_request(
        '/open/AUTH_test/exec/tool?args=-n+2&content_type=text/csv'))
    assert (resp.status_int, body) == (200, b'a,b\n')
    assert resp.headers['Content-Type'] == 'text/csv'
    sent, = servers.sent
    assert sent['spec']['argv'] == ['open', '-n', '2']


def test_an_open_dry_run_shows_the_filled_job(opening):
    app, servers = opening
    resp, body = call(app, open_request(
        '/open/AUTH_test/docs/a.csv?lines=9',
        headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200, body
    node, = json.loads(body)['nodes']
    assert node['argv'] == ['view', '-f', 'xml', '9'], node
    assert not servers.sent


@pytest.mark.parametrize('path, user, method, status, text', [
    ('/open/AUTH_test/docs/a.csv?lines=1', ACCOUNT, 'PATCH', 405,
     b'objects are opened and REST endpoints called with GET, HEAD, POST, '
     b'PUT, DELETE, not PATCH'),
    ('/open/AUTH_test/docs', ACCOUNT, 'GET', 400,
     b'GET /open/<account>/<container>/<object> (or X-Zerovm-Execute: '
     b'open/1.0) opens an object; this names none'),
    ('/open/AUTH_test/docs/a*.csv', ACCOUNT, 'GET', 400,
     b'an object whose name holds "*" cannot be opened'),
    ('/open/AUTH_test/docs/nope.csv', ACCOUNT, 'GET', 404,
     b'object swift://AUTH_test/docs/nope.csv does not exist'),
    ('/open/AUTH_test/docs/a.csv?lines=1', 'AUTH_other', 'GET', 403,
     b'not allowed to read swift://AUTH_test/docs/a.csv'),
    ('/open/AUTH_test/docs/a.csv?lines=1', None, 'GET', 401,
     b'not allowed to read swift://AUTH_test/docs/a.csv'),
    ('/open/AUTH_test/docs/a.csv', ACCOUNT, 'GET', 400,
     b'template swift://AUTH_test/.zvm/text/csv/config needs the query to '
     b'give "lines" (it has no default)'),
    ('/open/AUTH_test/docs/a.csv?lines=1&lines=2', ACCOUNT, 'GET', 400,
     b'the query gives "lines" twice'),
    ('/open/AUTH_test/docs/a.csv?lines=%FF', ACCOUNT, 'GET', 400,
     b'the query string is not UTF-8'),
    ('/open/AUTH_test/docs/a.csv?lines=1&object_path=/x/y', ACCOUNT, 'GET',
     400, b'object_path is the object opened, not a query value'),
    ('/open/AUTH_test/data/a.txt', ACCOUNT, 'GET', 404,
     b'the template for application/x-elf objects, '
     b'swift://AUTH_test/.zvm/application/x-elf/config does not exist'),
])
def test_what_cannot_be_opened(opening, path, user, method, status, text):
    app, servers = opening
    resp, body = call(app, open_request(path, user=user, method=method))
    assert resp.status_int == status, body
    assert body.startswith(text), body
    assert not servers.sent


def test_a_template_that_is_not_json_or_too_large(swift):
    swift.add('/v1/AUTH_test/docs/a.csv', b'x', content_type='text/csv')
    swift.add('/v1/AUTH_test/.zvm/text/csv/config', b'{nope')
    swift.add('/v1/AUTH_test/docs/b.md', b'x', content_type='text/markdown')
    swift.add('/v1/AUTH_test/.zvm/text/markdown/config', b' ' * 70000)
    app, servers = make(swift)
    resp, body = call(app, open_request('/open/AUTH_test/docs/a.csv'))
    assert resp.status_int == 422
    assert body.startswith(b'template swift://AUTH_test/.zvm/text/csv/config '
                           b'is not valid JSON')
    resp, body = call(app, open_request('/open/AUTH_test/docs/b.md'))
    assert resp.status_int == 413
    assert body == (b'the template for text/markdown objects, swift://'
                    b'AUTH_test/.zvm/text/markdown/config is larger than '
                    b'the limit of 65536 bytes\n')
    assert not servers.sent


def test_open_paths_of_other_shapes_pass_through(swift):
    app, servers = make(swift)
    for path in ('/openx/AUTH_test/data/a.txt', '/v1/AUTH_test/data/a.txt'):
        resp, body = call(app, open_request(path))
        assert resp.status_int == 404 or body == b'alpha', (path, body)
    assert not servers.sent


# --- message/cgi answers ----------------------------------------------------

CGI_OUT = (b'Status: 404 Not Found\r\nContent-Type: text/html\r\n'
           b'Set-Cookie: s=1\r\nX-Nexe-Status: forged\r\n\r\n<p>no</p>')


def cgi_job(count=1):
    return [group('web', count=count, devices=[
        {'name': 'stdout', 'content_type': 'message/cgi'}])]


def test_a_cgi_stdout_is_the_answer_s_status_and_body(swift, spool_dir):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': CGI_OUT})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request(cgi_job()))
    assert resp.status == '404 Not Found'
    assert body == b'<p>no</p>'
    assert resp.headers['Content-Type'] == 'text/html'
    assert resp.headers['Content-Length'] == str(len(b'<p>no</p>'))
    assert 'Set-Cookie' not in resp.headers
    assert resp.headers['X-Nexe-Status'] == 'ok'      # ours, not forged
    assert os.listdir(spool_dir) == []
    # The report is there for those who ask for it.
    resp, body = call(app, job_request(
        cgi_job(), headers={'Accept': 'application/json'}))
    assert resp.status_int == 200 and json.loads(body)['ok']


@pytest.mark.parametrize('code', [204, 304])
def test_a_bodiless_cgi_status_drops_the_body(swift, spool_dir, code):
    out = b'Status: %d\r\n\r\nHTTP/1.1 200 OK\r\n\r\nforged' % code
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': out})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request(cgi_job()))
    assert resp.status_int == code
    assert body == b''
    assert resp.headers.get('Content-Length') in (None, '0')
    assert os.listdir(spool_dir) == []


def test_a_stdout_that_is_not_a_cgi_answer_is_502(swift, spool_dir):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'hello, no headers'})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request(cgi_job()))
    assert resp.status_int == 502
    assert body == (b"the job's message/cgi stdout is not a CGI answer: no "
                    b"empty line ends its headers in the first 16384 "
                    b"bytes\n")
    assert resp.headers['X-Nexe-Retcode'] == '0'
    assert os.listdir(spool_dir) == []


def test_only_one_node_may_write_a_cgi_answer(swift):
    app, servers = make(swift)
    resp, body = call(app, job_request(cgi_job(count=2)))
    assert resp.status_int == 400
    assert body.startswith(b"a message/cgi stdout must be the job's only "
                           b"path-less stdout (2 nodes declare one)")
    assert not servers.sent


def countdown_job(n, ctype='message/cgi'):
    return [group('step', exec={'path': 'swift://~/exec/prog',
                                'args': str(n)},
                  devices=[{'name': 'stdout', 'content_type': ctype}])]


def countdown(spec, members):
    """A program whose answer is the job with one less, down to 0."""
    n = int(spec['argv'][1])
    if n == 0:
        return 0, {'/dev/stdout': b'Content-Type: text/plain\n\ndone'}
    job = json.dumps(countdown_job(n - 1)).encode()
    return 0, {'/dev/stdout': b'X-Zerovm-Execute: 1.0\r\nContent-Type: '
               b'application/json\r\n\r\n' + job}


def test_a_job_whose_answer_is_a_job_runs_it_next(swift, spool_dir):
    app, servers = make(swift, FakeObjectServers(countdown),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request(countdown_job(3)))
    assert (resp.status_int, body) == (200, b'done')
    assert [s['spec']['argv'][1] for s in servers.sent] == ['3', '2', '1',
                                                            '0']
    assert resp.headers['X-Zerocloud-Chain-Length'] == '4'
    assert float(resp.headers['X-Chain-Total-Time']) >= 0
    assert 'X-Zerovm-Execute' not in resp.headers
    assert os.listdir(spool_dir) == []
    # One job: no chain headers.
    resp, body = call(app, job_request(countdown_job(0)))
    assert body == b'done' and 'X-Zerocloud-Chain-Length' not in resp.headers


def test_nodes_sharing_a_program_head_it_once(swift):
    # Swift's info cache is the request's, whatever filters come before.
    app, servers = make(swift)
    resp, body = call(app, job_request([group('g', count=5)]))
    assert resp.status_int == 200, body
    assert len([c for c in swift.requests('HEAD') if c[1] == EXEC]) == 1
    assert len(servers.sent) == 5


def test_a_chained_job_runs_the_program_the_job_before_wrote(swift):
    new = b'\x7fELF the next program'

    def program(spec, members):
        if spec['argv'][1] == '1':
            job = json.dumps([group('step', exec={
                'path': 'swift://~/exec/prog', 'args': '2'}, devices=[
                    {'name': 'stdout', 'content_type': 'message/cgi'}])])
            return 0, {'/dev/stdout': b'X-Zerovm-Execute: 1.0\r\n'
                       b'Content-Type: application/json\r\n\r\n'
                       + job.encode(), '/dev/output': new}
        return 0, {'/dev/stdout': b'Content-Type: text/plain\n\ndone'}
    app, servers = make(swift, FakeObjectServers(program))
    resp, body = call(app, job_request([group('step', exec={
        'path': 'swift://~/exec/prog', 'args': '1'}, devices=[
            {'name': 'stdout', 'content_type': 'message/cgi'},
            {'name': 'output', 'path': 'swift://~/exec/prog'}])]))
    assert (resp.status_int, body) == (200, b'done')
    first, second = (s['spec']['exec']['sha256'] for s in servers.sent)
    assert second == hashlib.sha256(new).hexdigest() != first


def test_a_chain_runs_at_most_max_chain_length_jobs(swift, spool_dir):
    app, servers = make(swift, FakeObjectServers(countdown),
                        spool_dir=spool_dir, max_chain_length='3')
    resp, body = call(app, job_request(countdown_job(5)))
    assert resp.status_int == 508
    assert body == (b'job 3 of the chain asks to run another: a chain runs '
                    b'at most 3 jobs (max_chain_length); the outputs of the '
                    b'jobs that ran are written\n')
    assert len(servers.sent) == 3
    assert os.listdir(spool_dir) == []


@pytest.mark.parametrize('head, status, text', [
    (b'X-Zerovm-Execute: 2.0\nContent-Type: application/json\n\n[]', 502,
     b"but asks for version '2.0' of X-Zerovm-Execute (only 1.0)"),
    (b'X-Zerovm-Execute: 1.0\nContent-Type: text/plain\n\n[]', 502,
     b'but holds text/plain, not application/json'),
    (b'X-Zerovm-Execute: 1.0\nContent-Type: application/json\n\n{nope',
     422, b'job 2 of the chain: job description is not valid JSON'),
    (b'X-Zerovm-Execute: 1.0\nContent-Type: application/json\n\n'
     b'[{"name": "x", "exec": {"path": "swift://AUTH_other/c/p"}}]', 403,
     b'job 2 of the chain: '),
])
def test_chained_jobs_that_cannot_run(swift, spool_dir, head, status, text):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': head})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request(countdown_job(1)))
    assert resp.status_int == status, body
    assert text in body
    assert len(servers.sent) == 1
    assert os.listdir(spool_dir) == []


def test_a_chained_job_is_bounded_by_max_job_bytes(swift):
    big = b'X-Zerovm-Execute: 1.0\nContent-Type: application/json\n\n' + \
        b' ' * 200 + b'[]'
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': big})), max_job_bytes='150')
    resp, body = call(app, job_request(countdown_job(1)))
    assert resp.status_int == 502
    assert b'but is 202 bytes, more than max_job_bytes (150)' in body


def cgi_output_job(ctype='message/cgi'):
    return [group('wc', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*.count',
         'content_type': ctype, 'meta': {'Kind': 'count', 'Keep': 'me'}}])]


def test_a_cgi_output_object_sets_its_own_headers(swift, spool_dir):
    def program(spec, members):
        return 0, {'/dev/stdout': b'Content-Type: text/csv\r\n'
                   b'X-Object-Meta-Kind: csv\r\nX-Object-Meta-Node: '
                   + spec['node'].encode() + b'\r\nSet-Cookie: x=1\r\n'
                   b'X-Object-Manifest: c/o\r\n\r\na,b\n'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request(cgi_output_job()))
    assert resp.status_int == 200, body
    assert swift.objects['/v1/AUTH_test/out/a.count'] == b'a,b\n'
    meta = swift.meta['/v1/AUTH_test/out/b.count']
    assert meta['Content-Type'] == 'text/csv'
    assert meta['X-Object-Meta-Kind'] == 'csv'     # the program's wins
    assert meta['X-Object-Meta-Keep'] == 'me'
    assert meta['X-Object-Meta-Node'] == 'wc-2'
    assert 'Set-Cookie' not in meta and 'X-Object-Manifest' not in meta
    assert os.listdir(spool_dir) == []


def test_a_message_http_output_object(swift):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'HTTP/1.1 200 OK\n\nx'})))
    resp, body = call(app, job_request(cgi_output_job('message/http')))
    assert resp.status_int == 200, body
    assert swift.objects['/v1/AUTH_test/out/a.count'] == b'x'
    assert swift.meta['/v1/AUTH_test/out/a.count']['Content-Type'] == \
        'application/octet-stream'


def test_a_cgi_output_without_headers_writes_nothing(swift, spool_dir):
    def program(spec, members):
        return 0, {'/dev/stdout': b'Content-Type: text/csv\n\nok'
                   if spec['node'] == 'wc-1' else b'no header block'}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, body = call(app, job_request(cgi_output_job()))
    assert resp.status_int == 502
    report = json.loads(body)
    assert report['message'].startswith(
        'swift://AUTH_test/out/b.count is declared message/cgi but does not '
        'begin with a header block: no empty line ends its headers')
    assert report['outputs'] == []
    assert not [p for p in swift.objects if p.startswith('/v1/AUTH_test/out')]
    assert os.listdir(spool_dir) == []


def test_a_message_http_stdout_begins_with_a_status_line(swift):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'HTTP/1.1 201 Made\r\n'
                                   b'Content-Type: text/plain\r\n\r\nok'})))
    resp, body = call(app, job_request(countdown_job(0, 'message/http')))
    assert (resp.status, body) == ('201 Made', b'ok')


def test_opened_objects_get_cgi_variables(opening):
    app, servers = opening
    resp, body = call(app, open_request(
        '/open/AUTH_test/docs/a.csv?lines=3&x=%20y'))
    assert resp.status_int == 200, body
    env = dict(servers.sent[0]['spec']['env'])
    assert env == {
        'GATEWAY_INTERFACE': 'CGI/1.1', 'SERVER_SOFTWARE': 'zerocloud',
        'REQUEST_METHOD': 'GET',
        'REQUEST_URI': '/open/AUTH_test/docs/a.csv?lines=3&x=%20y',
        'PATH_INFO': '/AUTH_test/docs/a.csv',
        'QUERY_STRING': 'lines=3&x=%20y', 'LOCAL_OBJECT': 'on',
        'LOCAL_PATH_INFO': '/AUTH_test/docs/a.csv',
        'LOCAL_CONTENT_TYPE': 'text/csv', 'LOCAL_CONTENT_LENGTH': '4',
        'LOCAL_HTTP_ETAG': hashlib.md5(b'x,y\n').hexdigest()}


WEB_APP = [{'name': 'web', 'exec': {'path': 'file://image:bin/site',
                                    'args': '{.page=index}'},
            'devices': [{'name': 'stdout', 'content_type': 'message/cgi'}]}]


@pytest.mark.parametrize('name, ctype', [
    ('site.tar', 'application/x-tar'),
    ('site.zapp', 'application/octet-stream'),
])
def test_an_opened_archive_runs_its_system_map(swift, name, ctype):
    body = archive([('boot/system.map', json.dumps(WEB_APP).encode()),
                    ('bin/site', b'\x7fELF site')])
    swift.add('/v1/AUTH_test/apps/' + name, body, content_type=ctype)

    def program(spec, members):
        return 0, {'/dev/stdout': b'Content-Type: text/html\n\n<p>'
                   + spec['argv'][1].encode() + b'</p>'}
    app, servers = make(swift, FakeObjectServers(program))
    resp, got = call(app, open_request(
        '/open/AUTH_test/apps/%s?page=about' % name))
    assert (resp.status_int, got) == (200, b'<p>about</p>')
    assert resp.headers['Content-Type'] == 'text/html'
    sent, = servers.sent
    assert sent['path'] == '/AUTH_test/apps/' + name    # next to the app
    image, = [c for c in sent['spec']['channels']
              if c['alias'] == '/dev/image']
    assert image['path'] == 'swift://AUTH_test/apps/' + name
    assert dict(sent['spec']['env'])['QUERY_STRING'] == 'page=about'


@pytest.mark.parametrize('members, status, text', [
    ([('bin/site', b'x')], 400, b'the application archive has no '
     b'boot/system.map'),
    ([('boot/system.map', b'[{"name": "web", "exec": {"path": '
       b'"file://image:bin/site", "args": "{.page}"}}]')], 400,
     b'boot/system.map of swift://AUTH_test/apps/app.tar needs the query '
     b'to give "page"'),
    ([('boot/system.map', b'nope')], 422,
     b'boot/system.map is not valid JSON'),
])
def test_an_opened_archive_that_cannot_run(swift, members, status, text):
    swift.add('/v1/AUTH_test/apps/app.tar', archive(members),
              content_type='application/x-tar')
    app, servers = make(swift)
    resp, got = call(app, open_request('/open/AUTH_test/apps/app.tar'))
    assert resp.status_int == status, got
    assert got.startswith(text), got
    assert not servers.sent


def test_an_opened_archive_larger_than_max_archive_bytes_is_413(swift):
    swift.add('/v1/AUTH_test/apps/app.tar', b'\0' * 20000,
              content_type='application/x-tar')
    app, servers = make(swift, max_archive_bytes='10000')
    resp, got = call(app, open_request('/open/AUTH_test/apps/app.tar'))
    assert resp.status_int == 413
    assert got == (b'object swift://AUTH_test/apps/app.tar is larger than '
                   b'the limit of 10000 bytes\n')


# --- X-Zerovm-Source: a stored job, the body its stdin ----------------------

STORED = [{'name': 'sort', 'exec': {'path': 'swift://~/exec/prog'},
           'devices': [{'name': 'stdin'}, {'name': 'stdout'}]}]


def source_request(source, body=b'', user=ACCOUNT, headers=None,
                   path='/v1/' + ACCOUNT):
    return job_request(body, user=user, path=path, headers=dict(
        {'X-Zerovm-Source': source, 'Content-Type': 'text/csv'},
        **(headers or {})))


def test_a_stored_job_reads_the_request_body_as_stdin(swift, spool_dir):
    swift.add('/v1/AUTH_test/jobs/sort.json', json.dumps(STORED).encode())

    def program(spec, members):
        return 0, {'/dev/stdout': b''.join(sorted(
            members.values())[0].splitlines(True)[::-1])}
    app, servers = make(swift, FakeObjectServers(program),
                        spool_dir=spool_dir)
    resp, got = call(app, source_request('swift://~/jobs/sort.json',
                                         b'b\na\n'))
    assert (resp.status_int, got) == (200, b'a\nb\n')
    sent, = servers.sent
    stdin = sent['spec']['channels'][0]
    assert stdin['alias'] == '/dev/stdin' and not stdin['local']
    assert sent['members'][stdin['member']] == b'b\na\n'
    assert os.listdir(spool_dir) == []


def test_a_stored_archive_runs_with_the_body_as_stdin(swift):
    job = [{'name': 'app', 'exec': {'path': 'file://image:bin/tool'},
            'file_list': [{'device': 'stdin'}, {'device': 'stdout'}]}]
    swift.add('/v1/AUTH_test/apps/app.zapp', archive(
        [('boot/system.map', json.dumps(job).encode())]))
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://AUTH_test/apps/app.zapp',
                                         b'data'))
    assert resp.status_int == 200, got
    sent, = servers.sent
    by_alias = {c['alias']: c for c in sent['spec']['channels']}
    assert sent['members'][by_alias['/dev/stdin']['member']] == b'data'
    assert by_alias['/dev/image']['path'] == \
        'swift://AUTH_test/apps/app.zapp'


def test_no_rendezvous_socket_is_503_and_leaves_no_spool(
        swift, spool_dir, monkeypatch):
    # Out of fds or ports: the job's spool directory was left behind.
    from zerocloud.middleware import rendezvous

    def no_socket(self):
        raise OSError(24, 'Too many open files')
    monkeypatch.setattr(rendezvous.Rendezvous, 'listen', no_socket)
    app, servers = make(swift, spool_dir=spool_dir)
    resp, body = call(app, job_request([
        group('a', connect=['b']), group('b')]))
    assert resp.status_int == 503
    assert body == b"the proxy cannot listen for the job's rendezvous " \
        b"now: Too many open files\n"
    assert resp.headers['Retry-After']
    assert os.listdir(spool_dir) == [] and not servers.sent


def test_a_stdin_a_pipe_feeds_is_left_to_the_pipe(swift):
    job = [{'name': 'a', 'exec': {'path': 'swift://~/exec/prog'},
            'devices': [{'name': 'stdin'},
                        {'name': 'stdout', 'path': 'zvm://b:stdin'}]},
           {'name': 'b', 'exec': {'path': 'swift://~/exec/prog'},
            'devices': [{'name': 'stdin'}, {'name': 'stdout'}]}]
    swift.add('/v1/AUTH_test/jobs/pipe.json', json.dumps(job).encode())
    app, servers = make(swift)
    resp, got = call(app, source_request(
        'swift://~/jobs/pipe.json', headers={'X-Zerocloud-Dry-Run': '1'}))
    assert resp.status_int == 200, got
    a, b = json.loads(got)['nodes']
    assert a['channels'][0]['endpoint'] == \
        'swift://AUTH_test/.zerocloud/request-body'
    assert b['channels'][0]['kind'] == 'pipe'


@pytest.mark.parametrize('device', ['input', 'script'])
def test_a_stored_job_reads_the_body_through_input_or_script(swift, device):
    job = [{'name': 'app', 'exec': {'path': 'swift://~/exec/prog'},
            'devices': [{'name': device}, {'name': 'stdout'}]}]
    swift.add('/v1/AUTH_test/jobs/app.json', json.dumps(job).encode())
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/jobs/app.json',
                                         b'print(1)'))
    assert resp.status_int == 200, got
    sent, = servers.sent
    chan, = [c for c in sent['spec']['channels']
             if c['alias'] == '/dev/' + device]
    assert sent['members'][chan['member']] == b'print(1)'


def test_a_stored_script_runs_with_the_body_as_stdin(swift):
    swift.add('/v1/AUTH_test/apps/upper', b'#!/usr/bin/env python3\n'
              b'import sys; print(sys.stdin.read().upper())\n',
              content_type='text/x-python')
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/apps/upper', b'abc'))
    assert resp.status_int == 200, got
    sent, = servers.sent
    by_alias = {c['alias']: c for c in sent['spec']['channels']}
    assert sent['spec']['exec']['path'] == 'file://python:bin/python3'
    assert sent['members'][by_alias['/dev/stdin']['member']] == b'abc'
    assert by_alias['/dev/script']['path'] == 'swift://AUTH_test/apps/upper'


def test_a_stored_program_runs_with_the_body_as_stdin(swift):
    swift.add('/v1/AUTH_test/apps/tool', b'\x7fELF' + b'\0' * 100,
              content_type='application/x-nexe')
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/apps/tool', b'abc'))
    assert resp.status_int == 200, got
    sent, = servers.sent
    by_alias = {c['alias']: c for c in sent['spec']['channels']}
    assert sent['spec']['exec']['path'] == 'swift://AUTH_test/apps/tool'
    assert sent['members'][by_alias['/dev/stdin']['member']] == b'abc'


@pytest.mark.parametrize('size', [100, 200000])
def test_a_program_stored_without_its_type_is_named_as_such(swift, size):
    # swift upload stores a program as application/octet-stream: it was
    # "too large" (or "not JSON") as a job description.
    swift.add('/v1/AUTH_test/apps/tool', b'\x7fELF' + b'\0' * size,
              content_type='application/octet-stream')
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/apps/tool', b'abc'))
    assert resp.status_int == 415, got
    assert got == b'swift://AUTH_test/apps/tool is a program stored as ' \
        b'application/octet-stream; store it as application/x-nexe to ' \
        b'run it as one\n'
    assert not servers.sent


def test_a_large_stored_job_is_still_too_large(swift):
    swift.add('/v1/AUTH_test/jobs/big.json', b' ' * 200000 + b'[]')
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/jobs/big.json'))
    assert resp.status_int == 413, got
    assert got.startswith(b'job description swift://AUTH_test/jobs/big.json'
                          b' is larger than the limit of ')


def test_a_stored_job_reads_the_body_through_one_device(swift):
    job = [{'name': 'app', 'exec': {'path': 'swift://~/exec/prog'},
            'devices': [{'name': 'stdin'}, {'name': 'script'},
                        {'name': 'stdout'}]}]
    swift.add('/v1/AUTH_test/jobs/app.json', json.dumps(job).encode())
    app, servers = make(swift)
    resp, got = call(app, source_request('swift://~/jobs/app.json', b'x'))
    assert resp.status_int == 400
    assert got == b'group "app": devices "stdin", "script" have no path: ' \
        b'only one device of a group reads the request body\n'
    assert not servers.sent


@pytest.mark.parametrize('source, user, status, text', [
    ('jobs/sort.json', ACCOUNT, 412, b'X-Zerovm-Source must be swift://'),
    ('swift://~/jobs/*.json', ACCOUNT, 412, b'X-Zerovm-Source must be '
     b'swift://account/container/object, one object'),
    ('zvm://a:stdin', ACCOUNT, 412, b'X-Zerovm-Source must be swift://'),
    ('swift://~/jobs/nope.json', ACCOUNT, 404, b'object swift://AUTH_test/'
     b'jobs/nope.json does not exist'),
    ('swift://AUTH_test/jobs/sort.json', 'AUTH_other', 403, b'not allowed '
     b'to read swift://AUTH_test/jobs/sort.json'),
    ('swift://~/jobs/bad.json', ACCOUNT, 422, b'job description is not '
     b'valid JSON'),
])
def test_stored_jobs_that_cannot_run(swift, source, user, status, text):
    swift.add('/v1/AUTH_test/jobs/sort.json', json.dumps(STORED).encode())
    swift.add('/v1/AUTH_test/jobs/bad.json', b'{nope')
    app, servers = make(swift)
    resp, got = call(app, source_request(source, user=user))
    assert resp.status_int == status, got
    assert got.startswith(text), got
    assert not servers.sent


def test_a_stored_job_s_body_is_bounded(swift):
    swift.add('/v1/AUTH_test/jobs/sort.json', json.dumps(STORED).encode())
    app, servers = make(swift, max_archive_bytes='100')
    resp, got = call(app, source_request('swift://~/jobs/sort.json',
                                         b'x' * 101))
    assert resp.status_int == 413
    assert got == b'request body is 101 bytes, more than the limit of 100\n'
    resp, got = call(app, source_request('swift://~/jobs/sort.json',
                                         path='/v1/AUTH_test/c/o'))
    assert resp.status_int == 400
    assert not servers.sent


POSTER = [{'name': 'form', 'exec': {'path': 'swift://~/exec/prog'},
           'devices': [{'name': 'stdin'},
                       {'name': 'input', 'path': 'swift://~{.object_path}'},
                       {'name': 'stdout', 'content_type': 'message/cgi'}]}]


@pytest.mark.parametrize('method', ['POST', 'PUT', 'DELETE', 'HEAD', 'GET'])
def test_an_object_opens_with_other_methods_too(swift, method):
    swift.add('/v1/AUTH_test/docs/f.form', b'form', content_type='text/form')
    swift.add('/v1/AUTH_test/.zvm/text/form/config',
              json.dumps(POSTER).encode())
    seen = []

    def program(spec, members):
        seen.append((dict(spec['env']), sorted(members.values())))
        return 0, {'/dev/stdout': b'Status: 201 Created\n\nthanks'}
    app, servers = make(swift, FakeObjectServers(program))
    req = open_request('/open/AUTH_test/docs/f.form', method=method)
    if method in ('POST', 'PUT'):
        req.body = b'name=joe'
        req.headers['Content-Type'] = 'application/x-www-form-urlencoded'
    resp, got = call(app, req)
    assert resp.status_int == 201
    assert got == (b'' if method == 'HEAD' else b'thanks')
    (env, members), = seen
    assert env['REQUEST_METHOD'] == method
    if method in ('POST', 'PUT'):
        assert (env['CONTENT_TYPE'], env['CONTENT_LENGTH']) == (
            'application/x-www-form-urlencoded', '8')
        assert members == [b'name=joe']      # its stdin; input is local
    else:
        assert 'CONTENT_LENGTH' not in env and members == [b'']


def test_an_opened_body_is_bounded(swift):
    swift.add('/v1/AUTH_test/exec/tool', b'\x7fELF tool',
              content_type='application/x-nexe')
    app, servers = make(swift, max_archive_bytes='10')
    req = open_request('/open/AUTH_test/exec/tool', method='POST')
    req.body = b'x' * 11
    resp, got = call(app, req)
    assert resp.status_int == 413
    assert got == b'request body is 11 bytes, more than the limit of 10\n'
    assert not servers.sent


def test_a_stdout_body_iterated_as_swift_middlewares_do_leaves_no_spool(
        swift, spool_dir):
    # proxy-logging iterates iter(app_iter) and closes that iterator, not
    # the app_iter: the spool must go with the iterator too.
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x' * 300000})),
        spool_dir=spool_dir)
    for read_all in (True, False):
        req = job_request([group('g', devices=[{'name': 'stdout'}])])
        got = app(req.environ, lambda status, headers, exc_info=None: None)
        iterator = iter(got)
        assert next(iterator)
        assert os.listdir(spool_dir) != []
        if read_all:
            for _chunk in iterator:
                pass
        else:
            iterator.close()        # a client gone half-way
        assert os.listdir(spool_dir) == []


# --- REST endpoints (/api/) -------------------------------------------------

@pytest.fixture
def endpoint(swift):
    job = [{'name': 'svc', 'exec': {'path': 'file://image:bin/svc',
                                    'args': '{.verbose=-q}'},
            'devices': [{'name': 'stdin'},
                        {'name': 'stdout', 'content_type': 'message/cgi'}]}]
    swift.add('/v1/AUTH_test/apps/svc.zapp', archive(
        [('boot/system.map', json.dumps(job).encode())]))
    swift.add('/v1/AUTH_test/svc/.keep', b'',
              meta={'Rest-Endpoint': 'swift://~/apps/svc.zapp'})
    seen = []

    def program(spec, members):
        seen.append(spec)
        return 0, {'/dev/stdout': b'Content-Type: application/json\n\n[]'}
    app, servers = make(swift, FakeObjectServers(program))
    return app, servers, seen


@pytest.mark.parametrize('path, headers', [
    ('/api/AUTH_test/svc/users/7?verbose=-v', {}),
    ('/v1/AUTH_test/svc/users/7?verbose=-v',
     {'X-Zerovm-Execute': 'api/1.0'}),
])
def test_a_container_s_rest_endpoint_runs_its_application(endpoint, path,
                                                          headers):
    app, servers, seen = endpoint
    req = open_request(path, method='POST', headers=headers)
    req.body = b'{"name": "joe"}'
    req.headers['Content-Type'] = 'application/json'
    resp, got = call(app, req)
    assert (resp.status_int, got) == (200, b'[]'), got
    assert resp.headers['Content-Type'] == 'application/json'
    spec, = seen
    assert spec['argv'] == ['svc', '-v']
    env = dict(spec['env'])
    assert env['PATH_INFO'] == '/AUTH_test/svc/users/7'
    assert env['REQUEST_METHOD'] == 'POST'
    assert env['CONTENT_LENGTH'] == '15'
    assert 'LOCAL_OBJECT' not in env
    sent, = servers.sent
    stdin = sent['spec']['channels'][0]
    assert sent['members'][stdin['member']] == b'{"name": "joe"}'


@pytest.mark.parametrize('path, user, meta, status, text', [
    ('/api/AUTH_test', ACCOUNT, None, 400, b'GET /api/<account>/<container>'
     b'[/<path>] (or X-Zerovm-Execute: api/1.0) calls a container\'s REST '
     b'endpoint; this names no container'),
    ('/api/AUTH_test/nope/x', ACCOUNT, None, 404, b'container of input '
     b'swift://AUTH_test/nope/x does not exist'),
    ('/api/AUTH_test/svc/x', 'AUTH_other', None, 403, b'not allowed to read '
     b'swift://AUTH_test/svc/x'),
    ('/api/AUTH_test/svc/x', None, None, 401, b'not allowed to read'),
    ('/api/AUTH_test/svc/a*', ACCOUNT, None, 400, b'a REST endpoint path '
     b'cannot hold "*"'),
    ('/api/AUTH_test/svc/x', ACCOUNT, None, 405, b'objects are opened and '
     b'REST endpoints called with'),
    ('/api/AUTH_test/svc/x', ACCOUNT, {}, 404, b'swift://AUTH_test/svc has '
     b'no REST endpoint (its X-Container-Meta-Rest-Endpoint names the '
     b'application)'),
    ('/api/AUTH_test/svc/x', ACCOUNT, {'Rest-Endpoint': 'apps/svc.zapp'},
     502, b'X-Container-Meta-Rest-Endpoint of swift://AUTH_test/svc must '
     b'be swift://'),
    ('/api/AUTH_test/svc/x', ACCOUNT, {'Rest-Endpoint': 'swift://~/a/*'},
     502, b'X-Container-Meta-Rest-Endpoint of swift://AUTH_test/svc must '
     b'be swift://account/container/object, one object'),
    ('/api/AUTH_test/svc/x', ACCOUNT, {'Rest-Endpoint': 'swift://~/a/no'},
     404, b'object swift://AUTH_test/a/no does not exist'),
    ('/api/AUTH_test/svc/x', ACCOUNT, {'Rest-Endpoint':
                                       'swift://AUTH_other/a/b'}, 403,
     b'not allowed to read swift://AUTH_other/a/b'),
])
def test_rest_endpoints_that_cannot_run(endpoint, swift, path, user, meta,
                                        status, text):
    app, servers, seen = endpoint
    swift.add('/v1/AUTH_test/a/b', b'x')
    swift.add('/v1/AUTH_other/a/b', b'x')
    if meta is not None:
        swift.containers['/v1/AUTH_test/svc']['meta'] = meta
    resp, got = call(app, open_request(
        path, user=user, method='PATCH' if status == 405 else 'GET'))
    assert resp.status_int == status, got
    assert got.startswith(text), got
    assert not servers.sent


def test_a_rest_endpoint_may_be_a_job_description_or_a_program(swift):
    swift.add('/v1/AUTH_test/svc/.keep', b'', meta={
        'Rest-Endpoint': 'swift://~/apps/job.json'})
    swift.add('/v1/AUTH_test/apps/job.json', json.dumps([{
        'name': 'j', 'exec': {'path': 'swift://~/exec/prog',
                              'args': '{.n=1} {.object_path}'},
        'devices': [{'name': 'stdout'}]}]).encode(),
        content_type='application/json')
    swift.add('/v1/AUTH_test/bin/.keep', b'', meta={
        'Rest-Endpoint': 'swift://~/apps/tool'})
    swift.add('/v1/AUTH_test/apps/tool', b'\x7fELF tool',
              content_type='application/x-nexe')
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': ' '.join(
            spec['argv']).encode()})))
    resp, got = call(app, open_request('/api/AUTH_test/svc/a/b?n=5'))
    assert (resp.status_int, got) == (200, b'j 5 /svc/a/b')
    resp, got = call(app, open_request('/api/AUTH_test/bin/x?args=-z'))
    assert (resp.status_int, got) == (200, b'open -z')


# --- request bodies in spool files ------------------------------------------

class _Chunked(io.BytesIO):
    """A body without Content-Length (chunked transfer)."""


def _stored(swift):
    swift.add('/v1/AUTH_test/jobs/sort.json', json.dumps(STORED).encode())
    return 'swift://~/jobs/sort.json'


@pytest.mark.parametrize('case', [
    'script', 'script-refused', 'archive', 'archive-refused', 'source',
    'source-dry-run', 'source-heartbeat', 'source-too-large',
    'open-post', 'open-refused'])
def test_request_bodies_go_to_the_spool_and_leave_nothing(
        swift, spool_dir, case):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ok'})),
        spool_dir=spool_dir, max_archive_bytes='100000')
    swift.add('/v1/AUTH_test/exec/tool', b'\x7fELF tool',
              content_type='application/x-nexe')
    status = 200
    if case.startswith('script'):
        req = script_request(SCRIPT if case == 'script' else b'no line')
        status = 200 if case == 'script' else 400
    elif case.startswith('archive'):
        body = archive([('boot/system.map', json.dumps(APP_JOB).encode()),
                        ('bin/tool', b'\x7fELF tool')])
        req = job_request(body if case == 'archive' else body[:600],
                          headers={'Content-Type': 'application/x-tar'})
        status = 200 if case == 'archive' else 400
    elif case.startswith('source'):
        headers = {}
        if case == 'source-dry-run':
            headers['X-Zerocloud-Dry-Run'] = '1'
        req = source_request(_stored(swift), b'b\na\n', headers=headers)
        if case == 'source-heartbeat':
            req = source_request(_stored(swift), b'b\na\n')
            req.environ['QUERY_STRING'] = 'heartbeat=on'
            STORED_OUT = [dict(STORED[0], devices=[
                {'name': 'stdin'}, {'name': 'stdout',
                                    'path': 'swift://~/out/sorted'}])]
            swift.add('/v1/AUTH_test/jobs/sort.json',
                      json.dumps(STORED_OUT).encode())
            status = 202
        if case == 'source-too-large':
            req.environ['wsgi.input'] = _Chunked(b'x' * 100001)
            req.environ.pop('CONTENT_LENGTH', None)
            status = 413
    else:
        req = open_request('/open/AUTH_test/exec/tool' if case == 'open-post'
                           else '/open/AUTH_test/exec/nope', method='POST')
        req.body = b'form data'
        status = 200 if case == 'open-post' else 404
    resp, got = call(app, req)
    assert resp.status_int == status, got
    if case == 'source-heartbeat':
        assert json.loads(got)['ok']
    wait_until(lambda: os.listdir(spool_dir) == [])


# --- CORS for opened objects and REST endpoints ---------------------------

ORIGIN = 'https://app.example'


@pytest.fixture
def cors_opening(opening, swift):
    swift.containers['/v1/AUTH_test/docs']['meta'] = {
        'Access-Control-Allow-Origin': 'https://other.example ' + ORIGIN,
        'Access-Control-Max-Age': '600',
        'Access-Control-Expose-Headers': 'X-Object-Meta-Color'}
    return opening


@pytest.mark.parametrize('path, headers', [
    ('/open/AUTH_test/docs/a.csv?lines=2', {}),
    ('/v1/AUTH_test/docs/a.csv?lines=2', {'X-Zerovm-Execute': 'open/1.0'}),
])
def test_an_allowed_origin_may_read_what_it_opened(cors_opening, path,
                                                   headers):
    app, servers = cors_opening
    resp, body = call(app, open_request(path, headers=dict(
        headers, Origin=ORIGIN)))
    assert resp.status_int == 200, body
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
    exposed = resp.headers['Access-Control-Expose-Headers'].split(', ')
    assert 'x-nexe-status' in exposed and 'x-object-meta-color' in exposed
    assert 'x-zerovm-execute' not in exposed
    # Errors too: a page can read why.
    resp, body = call(app, open_request('/open/AUTH_test/docs/none.csv',
                                        headers={'Origin': ORIGIN}))
    assert resp.status_int == 404
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN


def test_other_origins_and_containers_get_no_cors_headers(cors_opening,
                                                          swift):
    app, servers = cors_opening
    resp, body = call(app, open_request('/open/AUTH_test/docs/a.csv?lines=2',
                                        headers={'Origin': 'https://evil'}))
    assert resp.status_int == 200
    assert 'Access-Control-Allow-Origin' not in resp.headers
    resp, body = call(app, open_request('/open/AUTH_test/docs/a.csv?lines=2'))
    assert 'Access-Control-Allow-Origin' not in resp.headers
    # Any origin, when the container says *.
    swift.containers['/v1/AUTH_test/docs']['meta'] = {
        'Access-Control-Allow-Origin': '*'}
    app, servers = make(swift, servers)
    resp, body = call(app, open_request('/open/AUTH_test/docs/a.csv?lines=2',
                                        headers={'Origin': 'https://evil'}))
    assert resp.headers['Access-Control-Allow-Origin'] == 'https://evil'


def preflight(path, origin=ORIGIN, method='POST', headers='x-custom'):
    hdrs = {'Access-Control-Request-Method': method,
            'Access-Control-Request-Headers': headers}
    if origin:
        hdrs['Origin'] = origin
    return open_request(path, method='OPTIONS', headers=hdrs)


def test_a_preflight_from_an_allowed_origin(cors_opening):
    app, servers = cors_opening
    for path in ('/open/AUTH_test/docs/a.csv', '/api/AUTH_test/docs/x/y'):
        resp, body = call(app, preflight(path))
        assert resp.status_int == 200, body
        assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
        assert resp.headers['Access-Control-Allow-Methods'] == \
            'GET, HEAD, POST, PUT, DELETE'
        assert resp.headers['Access-Control-Allow-Headers'] == 'x-custom'
        assert resp.headers['Access-Control-Max-Age'] == '600'
    assert not servers.sent


@pytest.mark.parametrize('origin, method', [
    ('https://evil', 'POST'), (ORIGIN, 'PATCH')])
def test_a_preflight_that_is_refused(cors_opening, origin, method):
    app, servers = cors_opening
    resp, body = call(app, preflight('/api/AUTH_test/docs/x', origin,
                                     method))
    assert resp.status_int == 401
    assert 'Access-Control-Allow-Origin' not in resp.headers


def test_a_plain_options_says_the_methods(cors_opening):
    app, servers = cors_opening
    resp, body = call(app, preflight('/open/AUTH_test/docs/a.csv', None))
    assert resp.status_int == 200
    assert resp.headers['Allow'] == 'GET, HEAD, POST, PUT, DELETE, OPTIONS'


# --- usage records ---------------------------------------------------------

def test_every_job_logs_its_usage(swift, monkeypatch):
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'12345'})))
    lines = []
    monkeypatch.setattr(app.logger, 'info',
                        lambda msg, *args: lines.append(msg % args))
    resp, body = call(app, job_request([group(count=2, devices=[
        {'name': 'stdout'}])]))
    assert resp.status_int == 200
    usage, = [line for line in lines if line.startswith('usage ')]
    fields = dict(item.split('=', 1) for item in usage.split()[1:])
    assert fields['account'] == 'AUTH_test'
    assert fields['trans_id'] == 'tx-test'
    assert (fields['status'], fields['nodes'], fields['sandboxes'],
            fields['bytes_written'], fields['outputs']) == (
                '200', '2', '2', '10', '0')


def test_usage_is_stored_under_the_accounting_account(swift):
    import eventlet
    swift.containers['/v1/AUTH_usage/AUTH_test'] = {}
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (3, {'/dev/stdout': b'x'})),
        accounting_account='AUTH_usage')
    resp, body = call(app, job_request([group(devices=[{'name': 'stdout'}])]))
    assert resp.status_int == 424
    for _ in range(50):
        stored = [p for p in swift.objects if p.startswith('/v1/AUTH_usage/')]
        if stored:
            break
        eventlet.sleep(0.01)
    path, = stored
    assert path.startswith('/v1/AUTH_usage/AUTH_test/20')
    assert path.endswith('-tx-test.json')
    record = json.loads(swift.objects[path])
    assert (record['status'], record['nodes'], record['sandboxes']) == (
        424, 1, 1)
    assert swift.meta[path]['Content-Type'] == 'application/json'


# --- deferred jobs ---------------------------------------------------------

RESULT = '/v1/AUTH_test/.zvm-deferred/job-tx-test'


def stored(swift, path, wait=5.0):
    import eventlet
    for _ in range(int(wait / 0.01)):
        if path in swift.objects:
            return swift.objects[path]
        eventlet.sleep(0.01)
    raise AssertionError('%s never stored' % path)


def test_a_deferred_job_answers_at_once_and_stores_its_answer(
        swift, spool_dir):
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {}
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'late'})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request(
        [group(devices=[{'name': 'stdout'}])],
        headers={'X-Zerovm-Deferred': 'always'}))
    assert resp.status_int == 202
    assert body == b'swift://AUTH_test/.zvm-deferred/job-tx-test\n'
    assert resp.headers['Location'] == 'http://localhost' + RESULT
    assert stored(swift, RESULT) == b'late'
    head = json.loads(stored(swift, RESULT + '.headers'))
    assert head['status'] == '200 OK'
    assert head['headers']['X-Nexe-Status'] == 'ok'
    assert swift.meta[RESULT]['X-Object-Meta-Zerocloud-Status'] == '200'
    assert 'X-Delete-After' not in swift.meta[RESULT]
    assert os.listdir(spool_dir) == []


def test_a_deferred_failure_stores_the_report(swift):
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {}
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (3, {'/dev/stdout': b'x'})),
        deferred_expire_after='86400')
    resp, body = call(app, job_request(
        [group(devices=[{'name': 'stdout'}])],
        headers={'X-Zerovm-Deferred': 'always'}))
    assert resp.status_int == 202
    report = json.loads(stored(swift, RESULT))
    assert report['status'] == 424
    assert json.loads(stored(swift, RESULT + '.headers'))['status'] == \
        '424 Failed Dependency'
    # Both kept a day, as the operator said.
    for path in (RESULT, RESULT + '.headers'):
        assert swift.meta[path]['X-Delete-After'] == '86400'


def test_auto_answers_a_quick_job_as_usual_and_defers_a_slow_one(swift):
    import eventlet
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {}

    def program(spec, members):
        eventlet.sleep(float(spec['argv'][1]))
        return 0, {'/dev/stdout': b'done'}
    app, servers = make(swift, FakeObjectServers(program),
                        deferred_timeout='0.3')

    def job(seconds):
        return job_request([group(exec={'path': 'swift://~/exec/prog',
                                        'args': seconds},
                                  devices=[{'name': 'stdout'}])],
                           headers={'X-Zerovm-Deferred': 'auto'})
    resp, body = call(app, job('0'))
    assert (resp.status_int, body) == (200, b'done')
    assert RESULT not in swift.objects
    resp, body = call(app, job('1'))
    assert resp.status_int == 202
    assert stored(swift, RESULT) == b'done'


@pytest.mark.parametrize('headers, query, text', [
    ({'X-Zerovm-Deferred': 'later'}, '', b'X-Zerovm-Deferred must be '
     b'always, auto or never, not "later"'),
    ({'X-Zerovm-Deferred': 'always'}, '?heartbeat=on', b'heartbeat=on and '
     b'X-Zerovm-Deferred are two ways to run a long job: give one'),
])
def test_deferred_jobs_that_are_refused(swift, headers, query, text):
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {}
    app, servers = make(swift)
    resp, body = call(app, job_request(
        [group(devices=[{'name': 'stdout', 'path': 'swift://~/out/o'}])],
        headers=headers, path='/v1/AUTH_test' + query))
    assert resp.status_int == 400
    assert body == text + b'\n'
    assert not servers.sent


def test_a_deferred_answer_needs_write_access(swift):
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {'write': ''}
    swift.containers['/v1/AUTH_test/exec']['read'] = 'AUTH_other'
    app, servers = make(swift)
    resp, body = call(app, job_request(
        [group(devices=[{'name': 'stdout'}])], user='AUTH_other',
        headers={'X-Zerovm-Deferred': 'always'}))
    assert resp.status_int == 403
    assert b'.zvm-deferred/job-tx-test' in body
    assert not servers.sent


# --- programs validated on upload -------------------------------------------

def upload(path, body, headers):
    env = {'REQUEST_METHOD': 'PUT', 'swift.authorize': authorize,
           'REMOTE_USER': ACCOUNT}
    return swob.Request.blank(path, environ=env, headers=headers, body=body)


@pytest.mark.parametrize('headers', [
    {'X-Zerovm-Validate': 'yes'},
    {'Content-Type': 'application/x-nexe'}])
def test_an_invalid_program_is_stored_and_said_invalid(swift, spool_dir,
                                                       headers):
    app, servers = make(swift, spool_dir=spool_dir)
    resp, body = call(app, upload('/v1/AUTH_test/exec/bad', b'not an elf',
                                  headers))
    assert resp.status_int == 201
    assert swift.objects['/v1/AUTH_test/exec/bad'] == b'not an elf'
    assert resp.headers['X-Zerovm-Valid'] == 'false'
    assert 'ELF' in resp.headers['X-Zerovm-Validation-Error']
    assert os.listdir(spool_dir) == []


def test_uploads_without_a_verdict(swift, spool_dir):
    app, servers = make(swift, spool_dir=spool_dir, max_fetch_bytes='4')
    for path, body, headers in (
            ('/v1/AUTH_test/exec/s', b'#!/bin/sh\n', {'X-Zerovm-Validate': 1}),
            ('/v1/AUTH_test/exec/big', b'x' * 5, {'X-Zerovm-Validate': 1}),
            ('/v1/AUTH_test/exec/plain', b'x', {}),
            # A server-side copy: no bytes pass through the proxy filter.
            ('/v1/AUTH_test/exec/copy', b'', {'X-Zerovm-Validate': 1,
                                              'X-Copy-From': 'exec/s'}),
            # Large objects' manifests.
            ('/v1/AUTH_test/exec/dlo', b'', {'X-Zerovm-Validate': 1,
                                             'X-Object-Manifest': 'seg/p'}),
            ('/v1/AUTH_test/exec/slo?multipart-manifest=put', b'[]',
             {'X-Zerovm-Validate': 1})):
        resp, got = call(app, upload(path, body, headers))
        assert resp.status_int == 201, path
        assert 'X-Zerovm-Valid' not in resp.headers, path
        assert swift.objects[path.split('?')[0]] == body
    assert os.listdir(spool_dir) == []


def test_a_usage_record_that_cannot_be_stored_is_counted(swift, monkeypatch):
    import eventlet
    # No container for the account under AUTH_usage, and this Swift cannot
    # make one: the job is answered all the same.
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'x'})),
        accounting_account='AUTH_usage')
    counted = []
    monkeypatch.setattr(app.logger, 'increment', counted.append)
    resp, body = call(app, job_request([group(devices=[{'name': 'stdout'}])]))
    assert (resp.status_int, body) == (200, b'x')
    for _ in range(100):
        if counted:
            break
        eventlet.sleep(0.01)
    assert counted == ['usage.failed']
    assert not [p for p in swift.objects if p.startswith('/v1/AUTH_usage')]


def deferred_with_refused_puts(swift, spool_dir, monkeypatch, refused,
                               answer):
    """A deferred job (stdout "late") whose PUTs to a path that
    ``refused(path)`` accepts Swift answers with ``answer``."""
    swift.containers['/v1/AUTH_test/.zvm-deferred'] = {}
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'late'})),
        spool_dir=spool_dir)
    real = swift.handle

    def refusing(req, body):
        if req.method == 'PUT' and refused(req.path):
            return answer()
        return real(req, body)
    monkeypatch.setattr(swift, 'handle', refusing)
    return app, job_request([group(devices=[{'name': 'stdout'}])],
                            headers={'X-Zerovm-Deferred': 'always'})


def test_a_deferred_answer_that_cannot_be_stored_is_counted(
        swift, spool_dir, monkeypatch):
    import eventlet
    # The container goes away while the job runs (quota, deletion...).
    app, req = deferred_with_refused_puts(
        swift, spool_dir, monkeypatch,
        lambda path: '/.zvm-deferred/' in path, swob.HTTPForbidden)
    counted = []
    monkeypatch.setattr(app.logger, 'increment', counted.append)
    resp, body = call(app, req)
    assert resp.status_int == 202
    for _ in range(200):
        if counted:
            break
        eventlet.sleep(0.01)
    assert counted == ['deferred.failed']
    assert RESULT not in swift.objects
    # Its spool (the streamed stdout) went all the same.
    for _ in range(100):
        if not os.listdir(spool_dir):
            break
        eventlet.sleep(0.01)
    assert os.listdir(spool_dir) == []


def test_a_deferred_answer_refused_by_swift_is_said_in_its_headers(
        swift, spool_dir, monkeypatch):
    # The .headers object is what clients poll: it must not say 200 for an
    # answer that is not there.
    app, req = deferred_with_refused_puts(
        swift, spool_dir, monkeypatch, lambda path: path == RESULT,
        swob.HTTPRequestEntityTooLarge)
    resp, body = call(app, req)
    assert resp.status_int == 202
    head = json.loads(stored(swift, RESULT + '.headers'))
    assert head == {
        'status': '413 Request Entity Too Large', 'answer_stored': False,
        'headers': {'X-Zerocloud-Job-Status': '200 OK'},
        'message': 'the job ended 200 OK, but its answer could not be '
        'stored: 413 Request Entity Too Large'}
    assert RESULT not in swift.objects


def test_a_restarted_proxy_removes_the_spools_a_killed_one_left(
        swift, spool_dir):
    import subprocess
    from zerocloud import owner
    child = subprocess.Popen(['true'])
    child.wait()
    dead = '%d-1-%s' % (child.pid, owner.tag().rsplit('-', 1)[1])
    os.makedirs(spool_dir)
    left = ['zerocloud-job-%s-abc' % dead, 'zerocloud-upload-%s-def' % dead]
    os.mkdir(os.path.join(spool_dir, left[0]))
    with open(os.path.join(spool_dir, left[1]), 'wb') as f:
        f.write(b'half a program')
    mine = 'zerocloud-job-%s-ghi' % owner.tag()
    os.mkdir(os.path.join(spool_dir, mine))
    make(swift, spool_dir=spool_dir)
    assert os.listdir(spool_dir) == [mine]


# --- the commit journal: a proxy killed mid-commit --------------------------

def test_outputs_carry_their_commit_s_id_and_its_journal_goes(
        swift, spool_dir):
    from zerocloud.middleware.journal import COMMIT_HEADER
    swift.add('/v1/AUTH_test/data/a.txt', b'x')
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request([group('g', count=2, devices=[
        {'name': 'stdout', 'path': 'swift://~/out/*'}])]))
    assert resp.status_int == 200, body
    outs = ('/v1/AUTH_test/out/g-1', '/v1/AUTH_test/out/g-2')
    ids = {swift.meta[p][COMMIT_HEADER] for p in outs}
    assert len(ids) == 1 and len(ids.pop()) == 32
    assert os.listdir(spool_dir) == []


def test_no_room_for_the_journal_writes_nothing(swift, spool_dir,
                                                monkeypatch):
    def full(directory, outputs):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(proxy, 'Journal', full)
    app, servers = make(swift, FakeObjectServers(
        lambda spec, members: (0, {'/dev/stdout': b'ab'})),
        spool_dir=spool_dir)
    resp, body = call(app, job_request([group('g', count=2, devices=[
        {'name': 'stdout', 'path': 'swift://~/out/*'}])]))
    assert resp.status_int == 507
    assert json.loads(body)['message'] == (
        'no room on the proxy for the commit journal of the outputs (No '
        'space left on device): nothing was written')
    assert not swift.requests('PUT')


def test_a_stopped_proxy_s_half_commit_is_rolled_back(swift, spool_dir):
    from zerocloud.middleware.journal import COMMIT_HEADER, JOURNAL_PREFIX
    cid = 'cd' * 16
    os.makedirs(spool_dir)
    journal = os.path.join(spool_dir, '%s%s.json' % (JOURNAL_PREFIX, cid))
    with open(journal, 'w') as f:
        json.dump({'id': cid, 'outputs': [
            ['AUTH_test', 'out', 'written'], ['AUTH_test', 'out', 'since'],
            ['AUTH_test', 'out', 'never']]}, f)
    swift.add('/v1/AUTH_test/out/written', b'half')
    swift.meta['/v1/AUTH_test/out/written'] = {COMMIT_HEADER: cid}
    # Written by somebody else after the proxy died: not the job's.
    swift.add('/v1/AUTH_test/out/since', b'new')
    swift.meta['/v1/AUTH_test/out/since'] = {COMMIT_HEADER: 'ef' * 16}
    swift.add('/v1/AUTH_test/data/keep', b'k')
    app, _ = make(swift, spool_dir=spool_dir)
    resp, _ = call(app, swob.Request.blank('/v1/AUTH_test/data/keep'))
    assert resp.status_int == 200
    wait_until(lambda: not os.path.exists(journal))
    assert '/v1/AUTH_test/out/written' not in swift.objects
    assert swift.objects['/v1/AUTH_test/out/since'] == b'new'
    assert [c[1] for c in swift.requests('DELETE')] == [
        '/v1/AUTH_test/out/written']
    # Done once per process.
    call(app, swob.Request.blank('/v1/AUTH_test/data/keep'))
    assert len(swift.requests('HEAD')) == 3


def test_a_roll_back_swift_refuses_now_is_tried_again(
        swift, spool_dir, monkeypatch):
    from zerocloud.middleware.journal import COMMIT_HEADER, JOURNAL_PREFIX
    monkeypatch.setattr(proxy, 'ROLL_BACK_PATIENCE', 0)
    cid = 'cd' * 16
    os.makedirs(spool_dir)
    journal = os.path.join(spool_dir, '%s%s.json' % (JOURNAL_PREFIX, cid))
    with open(journal, 'w') as f:
        json.dump({'id': cid, 'outputs': [['AUTH_test', 'out', 'w']]}, f)
    swift.add('/v1/AUTH_test/out/w', b'half')
    swift.meta['/v1/AUTH_test/out/w'] = {COMMIT_HEADER: cid}
    original = swift.handle
    busy = [True]

    def handle(req, body):
        if req.method == 'DELETE' and busy[0]:
            return swob.HTTPServiceUnavailable()
        return original(req, body)
    swift.handle = handle
    app, _ = make(swift, spool_dir=spool_dir)
    call(app, swob.Request.blank('/v1/AUTH_test/out/w', method='HEAD'))
    wait_until(lambda: not app._recovering)
    assert os.path.exists(journal) and app._recover_at > time.monotonic()
    busy[0] = False
    app._recover_at = 0
    call(app, swob.Request.blank('/v1/AUTH_test/out/w', method='HEAD'))
    wait_until(lambda: not os.path.exists(journal))
    assert '/v1/AUTH_test/out/w' not in swift.objects


class _Stalling(io.BytesIO):
    """A request body that stops coming: eventlet's input raises the
    socket's timeout once client_timeout passes."""

    def read(self, size=-1):
        raise TimeoutError('timed out')


@pytest.mark.parametrize('headers', [{}, {'X-Zerovm-Source':
                                          'swift://~/jobs/sort.json'}])
def test_a_body_that_stops_arriving_is_408(swift, spool_dir, headers):
    # Was 500 "internal error running the job", and a traceback.
    swift.add('/v1/AUTH_test/jobs/sort.json', json.dumps(STORED).encode())
    app, servers = make(swift, spool_dir=spool_dir)
    req = job_request(b'[{"name": ', headers=headers)
    req.environ['wsgi.input'] = _Stalling()
    req.content_length = 500
    resp, body = call(app, req)
    assert resp.status_int == 408
    assert body.endswith(b' stopped arriving: nothing came for '
                         b'client_timeout seconds\n')
    assert not servers.sent and os.listdir(spool_dir) == []
