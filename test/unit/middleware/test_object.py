# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The object filter through its real filter_factory, with a fake executor.

The object lives in a real Swift device directory (written with Swift's
DiskFile writer); programs are validated by the real validator; only the
sandbox run is faked (the real one is test/unit/executor/test_sandbox.py
and test/functional/test_object_filter.py).
"""
import configparser
import dataclasses
import errno
import gc
import hashlib
import io
import json
import os
import re
import tarfile
import threading
import time

import eventlet
import pytest
from swift.common import swob
from swift.common.utils import Timestamp
from swift.obj.diskfile import DiskFileRouter
from swift.common.storage_policy import POLICIES

from zerocloud import config
from zerocloud.exceptions import SandboxError
from zerocloud.executor.base import Executor, NodeResult
from zerocloud.executor.cache import ExecCache
from zerocloud.executor.result import Reason, RunResult
from zerocloud.middleware import object as objfilter
from zerocloud.middleware.dispatch import GONE_HEADER, NOT_LOCAL_HEADER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
PATH = '/sda/7/AUTH_test/books/alice.txt'
DATA = b'the quick brown fox jumps over the lazy dog\n' * 100


@pytest.fixture(autouse=True)
def hash_conf(monkeypatch):
    from swift.common import utils
    monkeypatch.setattr(utils, 'HASH_PATH_PREFIX', b'unit')
    monkeypatch.setattr(utils, 'HASH_PATH_SUFFIX', b'unit')


@pytest.fixture
def devices(tmp_path):
    path = tmp_path / 'srv'
    (path / 'sda').mkdir(parents=True)
    return str(path)


def put_object(devices, data=DATA, path=PATH, metadata=None):
    from swift.common.utils import get_logger
    _, dev, part, acct, cont, obj = path.split('/', 5)
    router = DiskFileRouter({'devices': devices, 'mount_check': 'false'},
                            get_logger({}))
    df = router[POLICIES[0]].get_diskfile(dev, part, acct, cont, obj,
                                          policy=POLICIES[0])
    ts = Timestamp.now()
    with df.create() as writer:
        writer.write(data)
        writer.put({'X-Timestamp': ts.internal, 'ETag':
                    hashlib.md5(data).hexdigest(),
                    'Content-Length': str(len(data)),
                    'Content-Type': 'text/plain', 'name': '/%s/%s/%s' % (
                        acct, cont, obj), **(metadata or {})})
        writer.commit(ts)


def run_result(**kw):
    values = dict(reason=Reason.OK, exit_code=0, signal=0, message='',
                  cpu_user_ms=1, cpu_sys_ms=0, wall_ms=2, max_rss_kb=100,
                  seed=0, channels=())
    values.update(kw)
    return RunResult(**values)


class FakeExecutor(Executor):
    """Writes every input it was given, concatenated, to every output."""

    def __init__(self, gate=None, error=None):
        self.jobs = []
        self.seen_inputs = []
        self.gate = gate
        self.error = error
        self.result = run_result()

    def run(self, job, cancel=None):
        self.jobs.append(job)
        if self.gate is not None:
            self.gate.wait(10)
        if self.error:
            raise self.error
        data = b''
        for index in sorted(job.inputs):
            fd = job.inputs[index]
            chunks = []
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            data += b''.join(chunks)
        self.seen_inputs.append(data)
        outputs = {}
        for index, channel in enumerate(job.spec.channels):
            if not channel.readable:
                path = os.path.join(job.workdir, 'out-%d' % index)
                with open(path, 'wb') as f:
                    f.write(channel.alias.encode() + b':' + data)
                outputs[index] = path
        return NodeResult(self.result, outputs)


def spec(**kw):
    value = {'version': 1, 'node': 'wc-1', 'account': 'AUTH_test',
             'argv': ['wc'], 'env': {}, 'seed': 0, 'limits': {},
             'exec': {'path': 'swift://AUTH_test/exec/wc'},
             'channels': [
                 {'alias': '/dev/stdin', 'direction': 'r',
                  'kind': 'object', 'local': True},
                 {'alias': '/dev/in/extra', 'direction': 'r',
                  'kind': 'object', 'local': False, 'member': 'in/1'},
                 {'alias': '/dev/stdout', 'direction': 'w',
                  'kind': 'response'},
                 {'alias': '/dev/stderr', 'direction': 'w',
                  'kind': 'response'}]}
    value.update(kw)
    return value


def make_tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = time.time()    # a float: PAX headers
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def request_body(program, spec_value=None, extra=b'more input\n',
                 members=None):
    if members is None:
        members = [('spec.json', json.dumps(spec_value or spec()).encode()),
                   ('exec', program), ('in/1', extra)]
    return make_tar(members)


def app_and_filter(devices, executor=None, **conf):
    calls = []

    def app(env, start_response):
        calls.append(env)
        start_response('202 Accepted', [('X-App', 'yes')])
        return [b'from the object server']
    conf.setdefault('log_name', 'test')
    factory = objfilter.filter_factory(
        {'devices': devices, 'mount_check': 'false'}, **conf)
    filt = factory(app, executor=executor or FakeExecutor())
    return filt, calls


def post(filt, body, path=PATH, headers=None):
    hdrs = {objfilter.EXECUTE_HEADER: '1', 'X-Trans-Id': 'tx123',
            'Content-Type': 'application/x-tar'}
    hdrs.update(headers or {})
    req = swob.Request.blank(path, environ={'REQUEST_METHOD': 'POST'},
                             headers=hdrs, body=body)
    return req.get_response(filt)


def tmp_entries(devices):
    tmp = os.path.join(devices, 'sda', 'tmp')
    return os.listdir(tmp) if os.path.isdir(tmp) else []


def fd_count(baseline=False):
    if baseline:
        # Earlier tests' garbage (a socket kept by a stored exception's
        # traceback) may be collected, its fd closed, at any moment:
        # not during the request counted.
        gc.collect()
    return len(os.listdir('/proc/self/fd'))


@pytest.fixture(scope='module')
def program(programs):
    with open(programs.build('hello'), 'rb') as f:
        return f.read()


# --- what is not ours -----------------------------------------------------

@pytest.mark.parametrize('method', ['GET', 'PUT', 'POST', 'HEAD', 'DELETE'])
def test_other_requests_pass_through_untouched(devices, method):
    filt, calls = app_and_filter(devices)
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': method},
                             headers={'X-Timestamp': '1'}, body=b'x')
    resp = req.get_response(filt)
    assert resp.status_int == 202
    assert resp.headers['X-App'] == 'yes'
    assert len(calls) == 1 and calls[0]['wsgi.input'].read() == b'x'
    assert not filt.executor.jobs


def test_client_execution_without_backend_header_is_forbidden(devices):
    filt, calls = app_and_filter(devices)
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': 'POST'},
                             headers={'X-Zerovm-Execute': '1.0'}, body=b'x')
    resp = req.get_response(filt)
    assert resp.status_int == 403
    assert not calls


def test_backend_header_with_another_method_is_refused(devices):
    filt, calls = app_and_filter(devices)
    req = swob.Request.blank(PATH, headers={objfilter.EXECUTE_HEADER: '1'})
    assert req.get_response(filt).status_int == 405
    assert not calls


# --- a run ----------------------------------------------------------------

def test_runs_on_the_local_object_and_answers_a_tar(devices, program):
    put_object(devices)
    filt, calls = app_and_filter(devices, max_timeout='5')
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(program))
    assert resp.status_int == 200, resp.body
    assert resp.content_type == 'application/x-tar'
    body = resp.body
    assert len(body) == int(resp.headers['Content-Length'])
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        names = t.getnames()
        members = {n: t.extractfile(n).read() for n in names}
    assert names == ['report.json', 'out/2', 'out/3']
    report = json.loads(members['report.json'])
    assert report['node'] == 'wc-1'
    assert report['validation'] == 'ok'
    assert report['server'].endswith('/sda')
    assert report['result']['reason'] == 'ok'
    assert members['out/2'] == b'/dev/stdout:' + DATA + b'more input\n'
    assert members['out/3'].startswith(b'/dev/stderr:')
    assert not calls
    job = filt.executor.jobs[0]
    assert job.spec.argv == ('wc',)
    assert job.limits.timeout == 5
    assert job.limits.cpu == config.DEFAULT_MAX_CPU
    assert job.limits.memory == 256 * 1024 * 1024
    assert tmp_entries(devices) == []
    assert fd_count() == fds


def test_limits_are_lowered_to_the_configured_maxima(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices, max_memory=str(64 << 20),
                             max_cpu='3', max_output_bytes='1000')
    limits = {'memory': 1 << 30, 'cpu': 100, 'timeout': 2.5,
              'max_output': 500}
    resp = post(filt, request_body(program, spec(limits=limits)))
    assert resp.status_int == 200, resp.body
    job = filt.executor.jobs[0]
    assert (job.limits.memory, job.limits.cpu, job.limits.timeout,
            job.limits.max_output) == (64 << 20, 3, 2.5, 500)


def test_no_local_channel_needs_no_local_object(devices, program):
    filt, _ = app_and_filter(devices)
    value = spec()
    value['channels'] = value['channels'][1:]
    resp = post(filt, request_body(program, value))
    assert resp.status_int == 200, resp.body
    assert filt.executor.seen_inputs == [b'more input\n']


# --- refusals -------------------------------------------------------------

def test_missing_local_object_is_404(devices, program):
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program))
    assert resp.status_int == 404
    assert not filt.executor.jobs
    assert tmp_entries(devices) == []


@pytest.mark.parametrize('metadata, what', [
    ({'X-Static-Large-Object': 'True'}, "a static large object's manifest"),
    ({'X-Object-Manifest': 'segments/alice-'},
     "a dynamic large object's manifest"),
    ({'X-Object-Sysmeta-Symlink-Target': 'books/bob.txt'}, 'a symlink'),
    ({'X-Object-Sysmeta-Crypto-Body-Meta': '{"iv": "x"}'}, 'encrypted'),
])
def test_an_object_not_stored_as_its_bytes_is_409(devices, program,
                                                  metadata, what):
    # Its data file is not what a GET gives: the proxy must send the
    # bytes instead (doc/internals.rst).
    put_object(devices, metadata=metadata)
    filt, _ = app_and_filter(devices)
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(program))
    assert resp.status_int == 409
    assert resp.headers[NOT_LOCAL_HEADER] == what
    assert resp.body.decode() == \
        'zerocloud: the object here is %s, not its bytes' % what
    assert not filt.executor.jobs
    assert tmp_entries(devices) == []
    assert fd_count() == fds


@pytest.mark.parametrize('metadata', [
    {'X-Static-Large-Object': 'False'}, {'X-Object-Meta-Manifest': 'x'},
    {'X-Object-Sysmeta-Slo-Etag': 'abc'}])
def test_objects_stored_as_their_bytes_run_in_place(devices, program,
                                                    metadata):
    put_object(devices, metadata=metadata)
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program))
    assert resp.status_int == 200, resp.body


def test_an_expired_object_is_404_saying_so(devices, program):
    put_object(devices, metadata={'X-Delete-At': str(int(time.time()) - 5)})
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program))
    assert resp.status_int == 404
    assert resp.headers[GONE_HEADER] == 'expired'
    assert not filt.executor.jobs


def test_a_deleted_object_is_404_saying_so(devices, program):
    from swift.common.utils import get_logger
    put_object(devices)
    _, dev, part, acct, cont, obj = PATH.split('/', 5)
    router = DiskFileRouter({'devices': devices, 'mount_check': 'false'},
                            get_logger({}))
    router[POLICIES[0]].get_diskfile(dev, part, acct, cont, obj,
                                     policy=POLICIES[0]).delete(
        Timestamp.now())
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program))
    assert resp.status_int == 404
    assert resp.headers[GONE_HEADER] == 'deleted'


def test_a_never_stored_object_is_a_plain_404(devices, program):
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program))
    assert resp.status_int == 404
    assert GONE_HEADER not in resp.headers


def test_missing_device_is_507(devices, program):
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(program),
                path='/sdz/7/AUTH_test/books/alice.txt')
    assert resp.status_int == 507


def test_invalid_program_is_422_with_the_validators_message(devices):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(b'#!/bin/sh\necho hi\n'))
    assert resp.status_int == 422
    assert b'ELF' in resp.body
    assert not filt.executor.jobs
    assert tmp_entries(devices) == []
    assert fd_count() == fds


@pytest.mark.parametrize('members, message', [
    ([('exec', b'x'), ('spec.json', b'{}')], b'first member'),
    ([('spec.json', b'not json')], b'JSON'),
    ([('spec.json', json.dumps(spec()).encode()), ('exec', b'x')],
     b'missing tar members: in/1'),
    ([('spec.json', json.dumps(spec()).encode()), ('exec', b'x'),
      ('in/1', b'x'), ('etc/passwd', b'x')], b'unexpected'),
    ([('spec.json', json.dumps(spec()).encode()), ('exec', b'x'),
      ('exec', b'y')], b'twice'),
    ([('spec.json', json.dumps(spec(version=2)).encode())], b'version'),
])
def test_bad_request_bodies_are_400(devices, members, message):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(None, members=members))
    assert resp.status_int == 400, resp.body
    assert message in resp.body
    assert tmp_entries(devices) == []
    assert fd_count() == fds


def test_a_program_is_sent_once_then_run_from_the_cache(devices, program,
                                                        monkeypatch):
    import hashlib
    put_object(devices)
    filt, _ = app_and_filter(devices, max_timeout='5')
    digest = hashlib.sha256(program).hexdigest()
    value = spec(exec={'path': 'swift://AUTH_test/exec/wc',
                       'sha256': digest})
    light = [('spec.json', json.dumps(value).encode()), ('in/1', b'x')]
    # Not cached yet: 428 asks for the program.
    resp = post(filt, request_body(None, members=light))
    assert resp.status_int == 428, resp.body
    assert digest.encode() in resp.body
    assert tmp_entries(devices) == []
    # Sent once, validated, run and kept ...
    resp = post(filt, request_body(program, spec_value=value))
    assert resp.status_int == 200, resp.body
    assert resp.body    # the answer, read to its end and closed
    cache = os.path.join(devices, 'sda', 'zerocloud-exec')
    assert os.listdir(cache) == [digest]
    # ... so the next request runs without it, and without hashing it
    # again: the exec cache holds validated programs by their digest.
    calls = []
    real = objfilter.validator.validate_cached
    monkeypatch.setattr(objfilter.validator, 'validate_cached',
                        lambda path: calls.append(path) or real(path))
    resp = post(filt, request_body(None, members=light))
    assert resp.status_int == 200, resp.body
    assert b'/dev/stdout:' in resp.body
    assert calls == []
    assert tmp_entries(devices) == []
    # A program sent in the request is always validated.
    resp = post(filt, request_body(program, spec_value=value))
    assert resp.status_int == 200, resp.body
    assert len(calls) == 1


def test_a_program_that_cannot_be_kept_still_runs(devices, program,
                                                  monkeypatch):
    """Keeping a program is an optimization: a full device (or any OSError
    from the cache) costs a 428 next time, not the node."""
    put_object(devices)
    filt, _ = app_and_filter(devices, max_timeout='5')
    digest = hashlib.sha256(program).hexdigest()
    value = spec(exec={'path': 'swift://AUTH_test/exec/wc',
                       'sha256': digest})

    def full(self, sha256, src):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(ExecCache, 'put', full)
    resp = post(filt, request_body(program, spec_value=value))
    assert resp.status_int == 200, resp.body
    assert b'/dev/stdout:' in resp.body
    assert tmp_entries(devices) == []
    light = [('spec.json', json.dumps(value).encode()), ('in/1', b'x')]
    resp = post(filt, request_body(None, members=light))
    assert resp.status_int == 428, resp.body


def test_no_digest_no_cache(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices, max_timeout='5')
    resp = post(filt, request_body(None, members=[
        ('spec.json', json.dumps(spec()).encode()), ('in/1', b'x')]))
    assert resp.status_int == 428
    assert b'no exec.sha256' in resp.body


PY_CHANNEL = {'alias': '/dev/python', 'direction': 'r', 'kind': 'image',
              'image': 'python'}


def image_tar(members):
    return make_tar(members)


@pytest.fixture
def images_dir(tmp_path, program):
    path = tmp_path / 'images'
    path.mkdir()
    (path / 'python.tar').write_bytes(image_tar([
        ('bin/python', program), ('lib/os.py', b'# os')]))
    return str(path)


def image_spec(exec_path='file://python:bin/python', channels=None):
    value = spec(exec={'path': exec_path})
    value['channels'] = channels if channels is not None else [
        PY_CHANNEL, {'alias': '/dev/stdout', 'direction': 'w',
                     'kind': 'response'}]
    return value


def test_a_system_image_that_is_not_installed_is_501(devices, images_dir):
    for conf in ({}, {'system_images_dir': images_dir}):
        filt, _ = app_and_filter(devices, **conf)
        resp = post(filt, request_body(None, members=[
            ('spec.json', json.dumps(image_spec(
                'file://lua:bin/lua', [dict(PY_CHANNEL, image='lua',
                                            alias='/dev/lua')])).encode())]))
        assert resp.status_int == 501, resp.body
        assert resp.body == b'system image "lua" is not installed on this ' \
            b'object server'
        assert not filt.executor.jobs
    assert tmp_entries(devices) == []


def test_a_program_of_a_system_image_runs_with_the_image(
        devices, program, images_dir):
    filt, _ = app_and_filter(devices, system_images_dir=images_dir)
    fds = fd_count(baseline=True)
    body = request_body(None, members=[
        ('spec.json', json.dumps(image_spec()).encode())])
    for _ in range(3):
        resp = post(filt, body)
        assert resp.status_int == 200, resp.body
        assert resp.body    # the answer sent: the work directory goes
    first, second, third = filt.executor.jobs
    for job in (first, second, third):
        assert job.spec.exec_sha256 == hashlib.sha256(program).hexdigest()
        assert [e.path for e in job.images[0].entries] == [
            '/bin', '/bin/python', '/lib', '/lib/os.py']
    # The tar itself was the image channel's input (the fake executor
    # read it whole), and the program was copied out once, then linked
    # from the exec cache.
    assert filt.executor.seen_inputs[0] == (
        open(os.path.join(images_dir, 'python.tar'), 'rb').read())
    assert len(filt._image_execs) == 1
    cache = ExecCache(os.path.join(devices, 'sda', 'zerocloud-exec'), 64)
    assert cache.link_into(first.spec.exec_sha256,
                           os.path.join(devices, 'probe'))
    assert fd_count() == fds
    assert tmp_entries(devices) == []


def test_an_image_replaced_on_disk_is_indexed_again(devices, program,
                                                    images_dir):
    filt, _ = app_and_filter(devices, system_images_dir=images_dir)
    body = request_body(None, members=[
        ('spec.json', json.dumps(image_spec()).encode())])
    assert post(filt, body).body
    tar = os.path.join(images_dir, 'python.tar')
    os.unlink(tar)      # a new inode, as an operator's mv would give
    with open(tar, 'wb') as f:
        f.write(image_tar([('bin/python', program), ('lib/new.py', b'')]))
    assert post(filt, body).status_int == 200
    assert len(filt._image_execs) == 2
    assert '/lib/new.py' in [e.path for e in
                             filt.executor.jobs[-1].images[0].entries]


def test_a_program_missing_from_its_image_is_422(devices, images_dir):
    filt, _ = app_and_filter(devices, system_images_dir=images_dir)
    for path in ('file://python:bin/nope', 'file://python:lib'):
        resp = post(filt, request_body(None, members=[
            ('spec.json', json.dumps(image_spec(path)).encode())]))
        assert resp.status_int == 422, resp.body
        assert b'is not a file of image "python"' in resp.body
    assert not filt.executor.jobs
    assert tmp_entries(devices) == []


def test_a_program_of_an_image_the_node_lacks_is_400(devices, images_dir):
    filt, _ = app_and_filter(devices, system_images_dir=images_dir)
    resp = post(filt, request_body(None, members=[
        ('spec.json', json.dumps(image_spec(
            'file://image:bin/python')).encode())]))
    assert resp.status_int == 400, resp.body
    assert b'names an image the node does not have' in resp.body


def test_a_program_of_an_image_comes_without_an_exec_member(
        devices, program, images_dir):
    filt, _ = app_and_filter(devices, system_images_dir=images_dir)
    resp = post(filt, request_body(None, members=[
        ('spec.json', json.dumps(image_spec()).encode()),
        ('exec', program)]))
    assert resp.status_int == 400, resp.body
    assert b'without an exec member' in resp.body


IMAGE_DEVICE = {'alias': '/dev/image', 'direction': 'r', 'kind': 'object',
                'local': True, 'image': 'image'}


def test_the_image_device_is_mounted_and_may_hold_the_program(
        devices, program):
    tar = image_tar([('bin/tool', program), ('data/table.txt', b'1 2 3')])
    put_object(devices, tar)
    filt, _ = app_and_filter(devices)
    resp = post(filt, request_body(None, members=[
        ('spec.json', json.dumps(image_spec('file://image:/bin/tool', [
            IMAGE_DEVICE, {'alias': '/dev/stdout', 'direction': 'w',
                           'kind': 'response'}])).encode())]))
    assert resp.status_int == 200, resp.body
    assert resp.body
    job, = filt.executor.jobs
    assert [e.path for e in job.images[0].entries] == [
        '/bin', '/bin/tool', '/data', '/data/table.txt']
    assert job.spec.exec_sha256 == hashlib.sha256(program).hexdigest()
    # The device is still read from its start, as a stream.
    assert filt.executor.seen_inputs[0] == tar
    assert filt._image_execs == {}      # a user's image: copied each time
    assert tmp_entries(devices) == []


def test_an_image_device_that_is_not_a_tar_is_415(devices, program):
    put_object(devices, b'just text\n' * 200)
    filt, _ = app_and_filter(devices)
    value = spec()
    value['channels'] = [IMAGE_DEVICE, {'alias': '/dev/stdout',
                                        'direction': 'w',
                                        'kind': 'response'}]
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(program, value, members=[
        ('spec.json', json.dumps(value).encode()), ('exec', program)]))
    assert resp.status_int == 415, resp.body
    assert resp.body.startswith(b'node "wc-1": device /dev/image is not an '
                                b'uncompressed tar archive')
    assert not filt.executor.jobs
    assert fd_count() == fds
    assert tmp_entries(devices) == []


def test_garbage_and_truncated_bodies_are_400(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    assert post(filt, b'x' * 1024).status_int == 400
    body = request_body(program)
    assert post(filt, body[:len(body) // 2]).status_int == 400
    assert tmp_entries(devices) == []


def test_oversized_members_are_413(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices, max_exec_bytes='1000')
    assert post(filt, request_body(program)).status_int == 413
    filt, _ = app_and_filter(devices, max_input_bytes='5')
    assert post(filt, request_body(program)).status_int == 413
    assert tmp_entries(devices) == []


# --- admission ------------------------------------------------------------

def test_full_house_is_503_with_retry_after(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices, max_running='1', max_queued='0',
                             retry_after='7')
    with filt.pool.admission():
        resp = post(filt, request_body(program))
    assert resp.status_int == 503
    assert resp.headers['Retry-After'] == '7'
    assert not filt.executor.jobs
    assert post(filt, request_body(program)).status_int == 200


def test_a_running_sandbox_does_not_block_the_server(devices, program):
    """One request blocks in its sandbox (a worker thread); a second one is
    admitted, waits for the only slot, gets 503 after queue_timeout; the
    first one then finishes."""
    put_object(devices)
    gate = threading.Event()
    filt, _ = app_and_filter(devices, FakeExecutor(gate=gate),
                             max_running='1', max_queued='1',
                             queue_timeout='1')

    def first_request():
        resp = post(filt, request_body(program))
        return resp.status_int, resp.body     # reading the body closes it
    first = eventlet.spawn(first_request)
    while filt.pool.running == 0:
        eventlet.sleep(0.01)
    started = time.monotonic()
    resp = post(filt, request_body(program))
    assert resp.status_int == 503
    assert 0.9 < time.monotonic() - started < 5
    gate.set()
    assert first.wait()[0] == 200
    assert tmp_entries(devices) == []


# --- cleanup --------------------------------------------------------------

def test_sandbox_failure_is_500_and_leaves_nothing(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices, FakeExecutor(
        error=SandboxError('zvm exploded')))
    fds = fd_count(baseline=True)
    resp = post(filt, request_body(program))
    assert resp.status_int == 500
    assert b'exploded' not in resp.body
    assert tmp_entries(devices) == []
    assert fd_count() == fds


@pytest.mark.parametrize('closed', ['answer', 'iterator'])
def test_client_gone_mid_answer_leaves_nothing(devices, program, closed):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    fds = fd_count(baseline=True)
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': 'POST'},
                             headers={objfilter.EXECUTE_HEADER: '1'},
                             body=request_body(program))
    status = []
    body = filt(req.environ, lambda s, h: status.append(s))
    assert status == ['200 OK']
    iterator = iter(body)
    next(iterator)                  # the client reads a little ...
    assert len(tmp_entries(devices)) == 1
    # ... and goes away: the WSGI server closes the answer, a middleware
    # that iterated it (Swift's reiterate) closes its iterator only.
    (body if closed == 'answer' else iterator).close()
    assert tmp_entries(devices) == []
    assert fd_count() == fds


def test_client_gone_mid_upload_leaves_nothing(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    body = request_body(program)

    class Dropping(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > len(body) // 2:
                raise IOError('client disconnected')
            return super().read(n)
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': 'POST'},
                             headers={objfilter.EXECUTE_HEADER: '1'})
    req.environ['wsgi.input'] = Dropping(body)
    resp = req.get_response(filt)
    assert resp.status_int == 499
    assert tmp_entries(devices) == []


def test_exec_must_match_the_specs_digest(devices, program):
    put_object(devices)
    filt, _ = app_and_filter(devices)
    wrong = spec(exec={'sha256': '0' * 64})
    resp = post(filt, request_body(program, wrong))
    assert resp.status_int == 400
    assert b'sha256' in resp.body
    right = spec(exec={'sha256': hashlib.sha256(program).hexdigest()})
    resp = post(filt, request_body(program, right))
    assert resp.status_int == 200
    resp.body       # sent: the temp dir goes
    assert tmp_entries(devices) == []


def test_a_full_device_is_507(devices, program, monkeypatch):
    put_object(devices)
    filt, _ = app_and_filter(devices)

    def no_room(self, out, limit):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(objfilter.tarstream.TarReader, 'copy_to', no_room)
    assert post(filt, request_body(program)).status_int == 507
    assert tmp_entries(devices) == []


# --- configuration --------------------------------------------------------

def sample_section():
    """[filter:zerocloud_object] of the sample: set options and the
    commented-out defaults."""
    path = os.path.join(ROOT, 'etc', 'object-server.conf-sample')
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    section = dict(parser.items('filter:zerocloud_object', raw=True))
    with open(path) as f:
        text = f.read()
    body = text.split('[filter:zerocloud_object]', 1)[1].split('\n[', 1)[0]
    commented = {}
    for line in body.splitlines():
        match = re.fullmatch(r'# ([a-z_]+) =(?: (.*))?', line)
        if match:
            commented[match.group(1)] = (match.group(2) or '').strip()
    return parser, section, commented


def test_sample_lists_every_option_with_the_codes_default():
    parser, section, commented = sample_section()
    assert section['use'] == 'egg:zerocloud#object'
    defaults = dataclasses.asdict(config.ObjectFilterConfig())
    assert set(commented) == set(defaults)
    assert config.ObjectFilterConfig.from_conf(commented) == \
        config.ObjectFilterConfig()
    assert 'zerocloud_object' in parser['pipeline:main']['pipeline'].split()


def test_module_docstring_shows_the_same_block():
    _, _, commented = sample_section()
    for key, value in commented.items():
        assert ('# %s = %s' % (key, value)).rstrip() in objfilter.__doc__


def test_the_pipeline_runs_the_filter_before_the_object_server():
    parser, _, _ = sample_section()
    pipeline = parser['pipeline:main']['pipeline'].split()
    assert pipeline[-2:] == ['zerocloud_object', 'object-server']


def test_entry_point_is_declared():
    from zerocloud import saio
    assert saio.own_entry_points()['object'] == \
        'zerocloud.middleware.object:filter_factory'


def test_bad_option_stops_the_filter(devices):
    from zerocloud.exceptions import ConfigError
    with pytest.raises(ConfigError, match='max_running'):
        app_and_filter(devices, max_running='0')


# --- StatsD metrics -------------------------------------------------------

def sent(statsd):
    """{metric name without the prefix: [(value, type)]} received."""
    found = {}
    for name, value, kind in statsd.metrics():
        assert name.startswith(objfilter.STATSD_PREFIX + '.'), name
        found.setdefault(name[len(objfilter.STATSD_PREFIX) + 1:],
                         []).append((value, kind))
    return found


def test_metrics_of_runs_and_program_cache(devices, program, statsd):
    put_object(devices)
    filt, _ = app_and_filter(devices, **statsd.conf)
    digest = hashlib.sha256(program).hexdigest()
    value = spec(exec={'path': 'swift://AUTH_test/exec/wc',
                       'sha256': digest})
    light = [('spec.json', json.dumps(value).encode()), ('in/1', b'x')]
    assert post(filt, request_body(None, members=light)).status_int == 428
    assert sorted(sent(statsd)) == ['executions.428.timing']
    resp = post(filt, request_body(program, spec_value=value))
    assert resp.status_int == 200 and resp.body
    metrics = sent(statsd)
    assert sorted(metrics) == ['executions.200.timing', 'programs.received',
                               'queue.timing', 'runs.ok', 'runs.timing']
    assert metrics['runs.ok'] == [(1, 'c')]
    assert metrics['runs.timing'] == [(2, 'ms')]    # the report's wall_ms
    assert metrics['queue.timing'][0][1] == 'ms'
    filt.executor.result = run_result(reason=Reason.TIMEOUT,
                                      exit_code=None, wall_ms=7)
    resp = post(filt, request_body(None, members=light))
    assert resp.status_int == 200 and resp.body
    metrics = sent(statsd)
    assert metrics['programs.cached'] == [(1, 'c')]
    assert metrics['runs.timeout'] == [(1, 'c')]
    assert 'programs.received' not in metrics and 'runs.ok' not in metrics


def test_metrics_of_refused_requests(devices, program, statsd):
    put_object(devices)
    filt, _ = app_and_filter(devices, max_running='1', max_queued='0',
                             **statsd.conf)
    with filt.pool.admission():
        assert post(filt, request_body(program)).status_int == 503
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': 'POST'},
                             headers={'X-Zerovm-Execute': '1.0'}, body=b'x')
    assert req.get_response(filt).status_int == 403
    assert post(filt, b'garbage').status_int == 400
    assert sorted(sent(statsd)) == ['executions.400.timing',
                                    'executions.403.timing',
                                    'executions.503.timing']
    # What is not an execution request is not counted.
    req = swob.Request.blank(PATH, environ={'REQUEST_METHOD': 'GET'})
    assert req.get_response(filt).status_int == 202
    assert sent(statsd) == {}


def test_a_restarted_server_removes_what_a_killed_one_left(devices):
    import subprocess
    from zerocloud import owner
    child = subprocess.Popen(['sleep', '5'])
    with open('/proc/%d/stat' % child.pid, 'rb') as f:
        start = int(f.read().rsplit(b')', 1)[1].split()[19])
    boot = owner.tag().rsplit('-', 1)[1]
    live = '%d-%d-%s' % (child.pid, start, boot)
    reused = '%d-%d-%s' % (child.pid, start - 1, boot)   # its pid, reused
    try:
        tmp = os.path.join(devices, 'sda', 'tmp')
        os.makedirs(tmp, exist_ok=True)
        names = {'zerocloud-%s-abc' % live: True,
                 'zerocloud-%s-def' % reused: False,
                 'zerocloud-%d-legacy1' % child.pid: True,   # older names
                 'zerocloud-exec': True, 'other-%s-x' % reused: True}
        for name in names:
            os.mkdir(os.path.join(tmp, name))
        removed = objfilter.sweep_stale_work(devices)
        assert removed == [os.path.join(tmp, 'zerocloud-%s-def' % reused)]
        assert sorted(os.listdir(tmp)) == sorted(n for n, kept in
                                                 names.items() if kept)
    finally:
        child.kill()
        child.wait()
    # Gone now: its directories go too, the legacy one by its pid.
    assert sorted(objfilter.sweep_stale_work(devices)) == sorted(
        os.path.join(tmp, n) for n in ('zerocloud-%s-abc' % live,
                                       'zerocloud-%d-legacy1' % child.pid))
