# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Fakes for the proxy filter's tests: a Swift backend that records calls,
a tempauth-like authorize, an object ring and object servers."""
import hashlib
import io
import json
import tarfile
import zlib

from swift.common import swob

from zerocloud.middleware.dispatch import GONE_HEADER, NOT_LOCAL_HEADER

ACCOUNT = 'AUTH_test'
DEVICES = [{'id': i, 'ip': '10.0.0.%d' % (i + 1), 'port': 6200,
            'device': 'sd' + 'bcd'[i], 'weight': 1} for i in range(3)]


class FakeSwift:
    """A WSGI app standing for the proxy server behind the filter.

    ``objects``: {'/v1/a/c/o': bytes}; ``containers``: {'/v1/a/c': {'read':
    acl, 'write': acl, 'policy': idx}}.  Listings come from the objects,
    ``page_size`` entries per page.  Requests not pre-authorized go through
    ``swift.authorize`` with the container ACL, like the proxy server.
    """

    def __init__(self, page_size=1000):
        self.objects = {}
        self.meta = {}
        self.types = {}
        self.containers = {}
        self.calls = []
        self.page_size = page_size
        # path -> status a GET answers instead of the object's bytes, or
        # (status, declared length): a 200 cut short, as Swift's large
        # objects whose segment went away.
        self.broken = {}

    def add(self, path, data=b'', content_type=None, **container):
        account_container = '/'.join(path.split('/', 4)[:4])
        self.containers.setdefault(account_container, {}).update(container)
        self.objects[path] = data
        if content_type:
            self.types[path] = content_type

    def __call__(self, env, start_response):
        req = swob.Request(env)
        body = req.environ['wsgi.input'].read()
        self.calls.append((req.method, req.path, req.query_string or '',
                           dict(req.headers)))
        resp = self.handle(req, body)
        return resp(env, start_response)

    def handle(self, req, body):
        version, account, container, obj = req.split_path(2, 4, True)
        cont_path = '/v1/%s/%s' % (account, container)
        info = self.containers.get(cont_path)
        authorize = req.environ.get('swift.authorize')
        if authorize and not req.environ.get('swift.authorize_override') \
                and container:
            req.acl = (info or {}).get(
                'read' if req.method in ('GET', 'HEAD') else 'write')
            denied = authorize(req)
            if denied is not None:
                return denied
        if not container:
            if req.method == 'HEAD':
                return swob.HTTPNoContent()
            names = sorted(c.split('/')[3] for c in self.containers
                           if c.split('/')[2] == account)
            return self.listing(req, [{'name': n} for n in names])
        if info is None:
            return swob.HTTPNotFound()
        if not obj:
            if req.method == 'HEAD':
                return swob.HTTPNoContent(headers=dict({
                    'X-Container-Read': info.get('read', ''),
                    'X-Container-Write': info.get('write', ''),
                    'X-Backend-Storage-Policy-Index': str(
                        info.get('policy', 0))}, **{
                    'X-Container-Meta-' + k: v
                    for k, v in info.get('meta', {}).items()}))
            prefix = cont_path + '/'
            names = sorted(p[len(prefix):] for p in self.objects
                           if p.startswith(prefix))
            return self.listing(req, [{'name': n, 'bytes': 1}
                                      for n in names])
        path = req.path
        if req.method == 'PUT':
            self.objects[path] = body
            self.meta[path] = dict(req.headers)
            return swob.HTTPCreated()
        if path not in self.objects:
            return swob.HTTPNotFound()
        if req.method == 'DELETE':
            del self.objects[path]
            self.meta.pop(path, None)
            return swob.HTTPNoContent()
        broken = self.broken.get(path) if req.method == 'GET' else None
        if isinstance(broken, int):
            return swob.Response(status=broken)
        if isinstance(broken, swob.Response):
            return broken
        if broken is not None:
            resp = swob.Response(status=broken[0],
                                 app_iter=[self.objects[path]])
            resp.content_length = broken[1]
            return resp
        return swob.Response(body=self.objects[path], headers=dict({
            k: v for k, v in self.meta.get(path, {}).items()
            if k.lower().startswith('x-object-sysmeta-')}, **{
            'Content-Type': self.types.get(path, 'application/x-elf'),
            'ETag': hashlib.md5(self.objects[path]).hexdigest()}))

    def listing(self, req, entries):
        marker = req.params.get('marker', '')
        prefix = req.params.get('prefix', '')
        entries = [e for e in entries if e['name'] > marker
                   and e['name'].startswith(prefix)]
        page = entries[:self.page_size]
        if not page:
            return swob.HTTPNoContent()
        return swob.Response(body=json.dumps(page),
                             content_type='application/json')

    def requests(self, method=None):
        return [c for c in self.calls if method is None or c[0] == method]


def authorize(req):
    """tempauth in miniature: REMOTE_USER is the account owned, or a user
    name the container ACL may list."""
    user = req.environ.get('REMOTE_USER')
    if not user:
        return swob.HTTPUnauthorized()
    account = req.split_path(2, 4, True)[1]
    if user == account:
        return None
    if req.acl and user in [a.strip() for a in req.acl.split(',')]:
        return None
    return swob.HTTPForbidden()


class FakeRing:
    """An object ring of three devices, two replicas."""

    replica_count = 2
    devs = DEVICES

    def get_nodes(self, account, container, obj):
        part = zlib.crc32(('%s/%s/%s' % (account, container, obj))
                          .encode()) % 8
        first = part % 3
        return part, [DEVICES[first], DEVICES[(first + 1) % 3]]

    def get_more_nodes(self, part):
        return iter(())


def ring_loader(index):
    return FakeRing()


class FakeResponse:
    def __init__(self, status, body=b'', headers=None):
        self.status = status
        self._body = io.BytesIO(body)
        self._headers = headers or {}
        self.closed = False

    def getheader(self, name, default=None):
        return self._headers.get(name, default)

    def read(self, size=-1):
        return self._body.read(size)

    def close(self):
        self.closed = True


def run_result(exit_code=0, reason=None, channels=(), message='',
               signal=0):
    reason = reason or ('ok' if exit_code == 0 else 'exit')
    return {'reason': reason, 'exit_code': exit_code, 'signal': signal,
            'message': message, 'cpu_user_ms': 3, 'cpu_sys_ms': 1,
            'wall_ms': 7, 'max_rss_kb': 900, 'seed': 0,
            'channels': list(channels), 'launcher_status': 0}


def answer_tar(report, outputs):
    """An object server's 200 answer: report.json then out/<n>."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, data in [('report.json', json.dumps(report).encode())] + [
                ('out/%d' % n, d) for n, d in sorted(outputs.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_request(body):
    """(spec, {member: bytes}) of an execution request body."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(body), mode='r') as tar:
        for member in tar:
            members[member.name] = tar.extractfile(member).read()
    return json.loads(members.pop('spec.json')), members


class FakeObjectServers:
    """The transport: records every request; ``behave(device, spec)``
    may return a status or raise OSError for that server; otherwise the
    node "runs" ``program(spec, members) -> (exit_code, {alias: bytes})``
    and the answer carries those bytes and a report."""

    def __init__(self, program=None, behave=None, warm=True):
        self.program = program or (lambda spec, members: (0, {}))
        self.behave = behave or (lambda device, spec: None)
        self.sent = []
        # swift:// url -> what its data file is when that is not the
        # object's bytes (a large object's manifest, a symlink): a node
        # reading it in place is answered 409.
        self.not_bytes = {}
        # swift:// url -> 'expired' or 'deleted': gone from every server.
        self.gone = {}
        # Servers keep programs by sha256; warm ones have every program
        # already, cold ones answer 428 until it is sent.
        self.warm = warm
        self.cached = set()     # (device, sha256)

    def request(self, server, method, path, headers, body, length):
        data = body.read(length)
        assert len(data) == length
        spec, members = read_request(data)
        self.sent.append({'device': server.device, 'partition':
                          server.partition, 'path': path,
                          'headers': headers, 'spec': spec,
                          'members': members, 'method': method})
        status = self.behave(server.device, spec)
        if isinstance(status, BaseException):
            raise status
        if status is not None:
            return FakeResponse(status, b'busy')
        for chan in spec['channels']:
            if chan.get('local') and chan['path'] in self.gone:
                return FakeResponse(404, b'', {
                    GONE_HEADER: self.gone[chan['path']]})
            if chan.get('local') and chan['path'] in self.not_bytes:
                what = self.not_bytes[chan['path']]
                return FakeResponse(409, b'not its bytes', {
                    NOT_LOCAL_HEADER: what})
        key = (server.device, spec['exec'].get('sha256'))
        if 'exec' in members:
            self.cached.add(key)
        elif not self.warm and key not in self.cached:
            return FakeResponse(428, b'send the program')
        result = self.program(spec, members)
        exit_code, written = result[0], result[1]
        reason = result[2] if len(result) > 2 else None
        outputs, chans = {}, []
        for index, chan in enumerate(spec['channels']):
            data = written.get(chan['alias'], b'')
            chans.append({'path': chan['alias'], 'mode': chan['direction'],
                          'bytes_read': 0, 'bytes_written': len(data),
                          'reads': 0, 'writes': 1 if data else 0,
                          'sha256': (hashlib.sha256(data).hexdigest()
                                     if chan['direction'] == 'w' else None)})
            if chan['direction'] == 'w' and chan['kind'] in ('object',
                                                             'response'):
                outputs[index] = data
        report = {'node': spec['node'], 'server': server.device,
                  'validation': 'ok',
                  'result': run_result(exit_code, reason, chans)}
        return FakeResponse(200, answer_tar(report, outputs))
