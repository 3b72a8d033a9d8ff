# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import json

import pytest

from zerocloud.exceptions import SpecError
from zerocloud.executor.base import Executor, parse_spec


def raw(**kw):
    value = {'version': 1, 'node': 'map-3', 'account': 'AUTH_test',
             'argv': ['map-3', '-n', '5'], 'env': {'LANG': 'C'}, 'seed': 7,
             'limits': {'memory': 268435456, 'cpu': 10, 'timeout': 60,
                        'max_output': 1 << 30},
             'exec': {'path': 'swift://AUTH_test/exec/wc', 'etag': 'x',
                      'sha256': 'a' * 64},
             'channels': [
                 {'alias': '/dev/stdin', 'direction': 'r', 'kind': 'object',
                  'path': 'swift://AUTH_test/books/alice.txt',
                  'local': True},
                 {'alias': '/dev/in/extra', 'direction': 'r',
                  'kind': 'object', 'path': 'swift://AUTH_test/other/x',
                  'local': False, 'member': 'in/2'},
                 {'alias': '/dev/stdout', 'direction': 'w',
                  'kind': 'object', 'path': 'swift://AUTH_test/out/a',
                  'content_type': 'text/plain', 'meta': {'k': 'v'},
                  'limit': 0},
                 {'alias': '/dev/stderr', 'direction': 'w',
                  'kind': 'response'}]}
    value.update(kw)
    return json.dumps(value).encode()


def test_the_protocols_example_parses():
    spec = parse_spec(raw())
    assert spec.node == 'map-3'
    assert spec.argv == ('map-3', '-n', '5')
    assert spec.env == {'LANG': 'C'}
    assert spec.seed == 7
    assert spec.limits == {'memory': 268435456, 'cpu': 10, 'timeout': 60,
                           'max_output': 1 << 30}
    assert spec.members == ('in/2',)
    assert spec.needs_local
    assert [c.readable for c in spec.channels] == [True, True, False, False]
    assert spec.exec_sha256 == 'a' * 64


def test_absent_limits_are_none_and_argv_defaults_to_the_node():
    spec = parse_spec(raw(limits={'timeout': 0.5}, argv=None))
    assert spec.limits == {'memory': None, 'cpu': None, 'timeout': 0.5,
                           'max_output': None}
    assert spec.argv == ('map-3',)


@pytest.mark.parametrize('change, message', [
    ({'version': 2}, 'version'),
    ({'node': 3}, 'node'),
    ({'argv': 'a b'}, 'argv'),
    ({'env': {'A': 1}}, 'env'),
    ({'seed': -1}, 'seed'),
    ({'seed': 2 ** 64}, 'seed'),
    ({'limits': {'cpu': 'lots'}}, 'limits.cpu'),
    ({'exec': {'sha256': 'xyz'}}, 'sha256'),
    ({'channels': {}}, 'channels'),
    ({'channels': [{'alias': '/dev/stdin', 'direction': 'w',
                    'kind': 'response'}]}, 'writable device'),
    ({'channels': [{'alias': '/etc/passwd', 'direction': 'r',
                    'kind': 'object', 'local': True}]}, 'readable device'),
    ({'channels': [{'alias': '/dev/stdin', 'direction': 'r',
                    'kind': 'object'}]}, 'either local'),
    ({'channels': [{'alias': '/dev/stdin', 'direction': 'r',
                    'kind': 'object', 'member': '../x'}]}, 'in/<name>'),
    ({'channels': [{'alias': '/dev/stdout', 'direction': 'w',
                    'kind': 'socket'}]}, 'kind'),
    ({'channels': [{'alias': '/dev/stdout', 'direction': 'w',
                    'kind': 'response', 'local': True}]}, 'neither'),
    ({'channels': [{'alias': '/dev/stdout', 'direction': 'w',
                    'kind': 'response'}] * 2}, 'twice'),
])
def test_bad_specs_name_the_field(change, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(raw(**change))
    assert info.value.status == 400


@pytest.mark.parametrize('data', [b'\xff', b'[]', b'{', b'null'])
def test_not_a_json_object(data):
    with pytest.raises(SpecError):
        parse_spec(data)


PY = {'alias': '/dev/python', 'direction': 'r', 'kind': 'image',
      'image': 'python'}
DEVICE = {'alias': '/dev/image', 'direction': 'r', 'kind': 'object',
          'local': False, 'member': 'in/0', 'image': 'image'}


def test_images_and_programs_from_them():
    spec = parse_spec(raw(channels=[DEVICE, PY], exec={
        'path': 'file://python:bin/python'}))
    assert spec.images == (0, 1)
    assert [c.image for c in spec.channels] == ['image', 'python']
    assert spec.channels[1].kind == 'image'
    assert spec.exec_image == ('python', 'bin/python')
    assert parse_spec(raw()).exec_image is None
    assert parse_spec(raw()).images == ()


@pytest.mark.parametrize('channel, message', [
    (dict(PY, image=None), 'names its image'),
    (dict(PY, direction='w', alias='/dev/out/x'), 'names its image'),
    (dict(PY, local=True), 'names its image'),
    (dict(PY, image='../x'), 'image name'),
    (dict(PY, image=7), 'image name'),
    (dict(DEVICE, image='python'), 'only the readable image device'),
    ({'alias': '/dev/stdout', 'direction': 'w', 'kind': 'response',
      'image': 'image'}, 'only the readable image device'),
])
def test_bad_image_channels(channel, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(raw(channels=[channel]))
    assert info.value.status == 400


@pytest.mark.parametrize('path', ['file://python', 'file://:x',
                                  'file://python:'])
def test_a_bad_image_program_path(path):
    spec = parse_spec(raw(channels=[PY], exec={'path': path}))
    with pytest.raises(SpecError, match='not file://IMAGE:PATH'):
        spec.exec_image


RDV = {'port': 4000, 'token': 'f' * 32, 'timeout': 5, 'pipe_limit': 100}
PIPE = {'alias': '/dev/in/a-1', 'direction': 'r', 'kind': 'pipe',
        'peer': 'a-1', 'peer_alias': '/dev/out/b-1'}


def test_a_pipe_names_its_peer_and_needs_the_rendezvous():
    spec = parse_spec(raw(channels=[PIPE], rendezvous=RDV))
    assert spec.pipes == (0,)
    assert spec.channels[0].peer == 'a-1'
    assert spec.channels[0].peer_alias == '/dev/out/b-1'
    assert spec.rendezvous['port'] == 4000


@pytest.mark.parametrize('channel,rdv,message', [
    (PIPE, None, 'needs a rendezvous'),
    (dict(PIPE, peer=None), RDV, 'peer must be a string'),
    (dict(PIPE, peer_alias=3), RDV, 'peer_alias must be a string'),
    (dict(PIPE, member='in/1'), RDV, 'neither local nor a member'),
    (PIPE, dict(RDV, port=0), 'rendezvous.port'),
    (PIPE, dict(RDV, token='short'), 'rendezvous.token'),
    (PIPE, dict(RDV, timeout=-1), 'rendezvous.timeout'),
    (PIPE, dict(RDV, pipe_limit=None), 'rendezvous.pipe_limit'),
    (PIPE, {'port': 1}, 'rendezvous.token is missing'),
    (PIPE, dict(RDV, ip=7), 'rendezvous.ip'),
])
def test_bad_pipes_are_400(channel, rdv, message):
    extra = {} if rdv is None else {'rendezvous': rdv}
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(raw(channels=[channel], **extra))
    assert info.value.status == 400


def test_the_interface_is_abstract():
    with pytest.raises(NotImplementedError):
        Executor().run(None)
    Executor().close()
