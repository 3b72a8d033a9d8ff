# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from zerocloud.config import JobLimits
from zerocloud.exceptions import JobError
from zerocloud.job import (Device, ImagePath, Job, SwiftPath, ZvmPath,
                           parse_job, parse_job_data, parse_path,
                           parse_shebang)
from zerocloud.middleware.planner import dict_lister, expand

ACCOUNT = 'AUTH_me'


def group(name='g', exe='swift://~/exec/prog', devices=None, **extra):
    item = {'name': name, 'exec': {'path': exe}}
    if devices is not None:
        item['devices'] = devices
    item.update(extra)
    return item


def parse(*groups, limits=None):
    return parse_job(json.dumps(list(groups)), ACCOUNT, limits)


def error(*groups, limits=None, status=400):
    with pytest.raises(JobError) as caught:
        parse(*groups, limits=limits)
    assert caught.value.status == status
    return str(caught.value)


# --- whole job ------------------------------------------------------------

def test_minimal_job():
    job = parse(group())
    assert isinstance(job, Job)
    assert job.account == ACCOUNT
    (g,) = job.groups
    assert g.name == 'g'
    assert g.exec.path == SwiftPath(ACCOUNT, 'exec', 'prog')
    assert g.exec.args == () and g.exec.env == () and g.exec.name is None
    assert g.devices == () and g.count is None and g.connect == ()
    assert g.attach is None and g.replicate == 1
    assert job.group('g') is g and job.group('nope') is None


def test_body_as_bytes_and_str():
    body = json.dumps([group()])
    assert parse_job(body, ACCOUNT) == parse_job(body.encode(), ACCOUNT)


def test_full_group():
    job = parse(group(
        'map', exe='swift://AUTH_x/bin/map',
        devices=[{'name': 'stdin', 'path': 'swift://./in/*.txt'},
                 {'name': 'stdout', 'path': 'swift://~/out/*.cnt',
                  'content_type': 'text/plain', 'meta': {'k-1': 'v'},
                  'min_size': 3},
                 {'name': 'stderr'}],
        connect=['red'], attach='stdin'), group('red', count=2))
    g = job.group('map')
    assert g.exec.path.account == 'AUTH_x'
    stdin, stdout, stderr = g.devices
    assert stdin == Device('stdin', 'r', SwiftPath(ACCOUNT, 'in', '*.txt'))
    assert stdout.access == 'w' and stdout.content_type == 'text/plain'
    assert stdout.meta == (('k-1', 'v'),) and stdout.min_size == 3
    assert stderr.path is None
    assert g.wildcard_device is stdin and g.is_multi
    assert g.connect == ('red',) and g.attach == 'stdin'
    assert job.group('red').count == 2


def test_exec_args_env_name():
    g = parse(group(exec={'path': 'swift://~/e/p',
                          'args': "-n 3 'two words' \"x y\"",
                          'env': {'LANG': 'C', 'EMPTY': ''},
                          'name': 'prog'})).groups[0]
    assert g.exec.args == ('-n', '3', 'two words', 'x y')
    assert dict(g.exec.env) == {'LANG': 'C', 'EMPTY': ''}
    assert g.exec.name == 'prog'


def test_exec_args_as_list():
    g = parse(group(exec={'path': 'swift://~/e/p', 'args': ['a b', 'c']}))
    assert g.groups[0].exec.args == ('a b', 'c')


def test_zerocloud_old_spellings():
    old = parse(group(file_list=[{'device': 'stdin',
                                  'path': 'swift://~/c/o'},
                                 {'device': 'stderr', 'mode': 'char'}],
                      location='rack1', replicate=1))
    new = parse(group(devices=[{'name': 'stdin', 'path': 'swift://~/c/o'},
                               {'name': 'stderr'}], location='rack1'))
    assert old == new
    assert old.groups[0].location == 'rack1'
    # An empty location is none.
    assert parse(group(location='')).groups[0].location is None


def test_old_and_new_spelling_together():
    msg = error(group(devices=[], file_list=[]))
    assert msg == 'group "g": give "devices" or its old name "file_list", ' \
        'not both'
    msg = error(group(devices=[{'name': 'stdin', 'device': 'stdout'}]))
    assert 'give "name" or its old name "device"' in msg


def test_attach_default_is_none():
    g = parse(group(devices=[{'name': 'stdin', 'path': 'swift://~/c/o'}],
                    attach='default')).groups[0]
    assert g.attach is None


# --- statuses: 413, 422 ---------------------------------------------------

def test_too_large_is_413():
    body = json.dumps([group(exec={'path': 'swift://~/e/p',
                                   'args': 'x' * 2000})])
    with pytest.raises(JobError) as caught:
        parse_job(body, ACCOUNT, JobLimits(max_job_bytes=1000))
    assert caught.value.status == 413
    assert 'more than the limit of 1000' in str(caught.value)
    # At the limit is fine.
    parse_job(body, ACCOUNT, JobLimits(max_job_bytes=len(body)))


def test_default_size_limit_is_64k():
    with pytest.raises(JobError) as caught:
        parse_job(b' ' * (64 * 1024 + 1), ACCOUNT)
    assert caught.value.status == 413


@pytest.mark.parametrize('body', [b'', b'[', b'{"a": }', b'\xff\xfe[]',
                                  b'[NaN]', b'[Infinity]', b'nul'])
def test_not_json_is_422(body):
    with pytest.raises(JobError) as caught:
        parse_job(body, ACCOUNT)
    assert caught.value.status == 422


def test_deep_nesting_is_400_not_a_crash():
    with pytest.raises(JobError) as caught:
        parse_job(b'[' * 30000 + b']' * 30000, ACCOUNT)
    assert caught.value.status in (400, 422)


def test_duplicate_json_keys():
    body = '[{"name": "a", "name": "b", "exec": {"path": "swift://~/c/o"}}]'
    with pytest.raises(JobError) as caught:
        parse_job(body, ACCOUNT)
    assert caught.value.status == 400
    assert 'duplicate key "name"' in str(caught.value)


def test_a_huge_integer_is_named_not_taken_for_bad_json():
    body = '[{"name": "a", "count": %s}]' % ('9' * 5000)
    with pytest.raises(JobError) as caught:
        parse_job(body, ACCOUNT)
    assert caught.value.status == 400
    assert str(caught.value) == 'a number of 5000 digits in a JSON value'


@pytest.mark.parametrize('text, status, message', [
    ('{"a": 1, "a": 2}', 400, 'map: duplicate key "a" in a JSON object'),
    ('[' * 30000 + ']' * 30000, 400, 'map is nested too deeply'),
    ('[NaN]', 422, 'map is not valid JSON: NaN is not valid JSON'),
    ('[1' + '0' * 200 + ']', 400, 'map: a number of 201 digits in a JSON '
     'value'),
    (b'\xff', 422, 'map is not UTF-8 JSON'),
])
def test_load_json_reads_everything_as_a_job_is_read(text, status, message):
    from zerocloud.job import load_json
    with pytest.raises(JobError) as caught:
        load_json(text, 'map')
    assert (caught.value.status, str(caught.value)) == (status, message)
    assert load_json(b'[{"a": -12}]', 'map') == [{'a': -12}]


def test_body_type():
    with pytest.raises(TypeError):
        parse_job(['x'], ACCOUNT)


@pytest.mark.parametrize('data', [{}, 'x', 3, None, []])
def test_job_must_be_a_nonempty_array(data):
    with pytest.raises(JobError):
        parse_job_data(data, ACCOUNT)


def test_group_must_be_object():
    assert error('x') == 'group #1 must be a JSON object'


# --- names ----------------------------------------------------------------

def test_name_required():
    assert error({'exec': {'path': 'swift://~/c/o'}}) == \
        'group #1: name is required'


@pytest.mark.parametrize('name', ['', 'a b', 'a/b', '..', '.', 'x' * 129,
                                  3, 'é'])
def test_bad_group_names(name):
    assert error(group(name)).startswith('group #1: name')


def test_duplicate_group_names():
    assert error(group('a'), group('b'), group('a')) == \
        'group "a": name: duplicate group name'


def test_unknown_group_field():
    assert error(group(conect=['x'])) == 'group "g": "conect": unknown field'


def test_args_outside_exec_is_named():
    # ZeroCloud's own docs showed this; it was silently ignored there.
    assert error(group(args='1048576')) == \
        'group "g": "args": belongs in "exec"'


# --- exec -----------------------------------------------------------------

def test_exec_path_required():
    assert error({'name': 'map', 'exec': {}}) == \
        'Must specify exec path for group "map"'
    assert error({'name': 'map'}) == 'Must specify exec path for group "map"'


@pytest.mark.parametrize('exe, fragment', [
    ('swift://~/exec/*', 'exec: path must name one object'),
    ('zvm://a:stdin', 'exec: path must be swift://'),
    ('/exec/prog', 'exec: path must be swift://'),
    ('http://x/y/z', 'unknown scheme'),
    ('swift://~/exec', 'must be swift://account/container/object'),
    ('file://python', 'must be file://IMAGE:PATH'),
    ('file://nope:/bin/x', 'unknown system image "nope"'),
    ('file://image:/bin/x', 'needs an "image" device'),
    ('file://image:../../bin/x', 'leaves the image (..)'),
    ('file://python:bin/../../x', 'leaves the image (..)'),
])
def test_bad_exec_paths(exe, fragment):
    msg = error(group('map', exe=exe))
    assert msg.startswith('group "map": exec: path')
    assert fragment in msg


def test_image_exec_paths():
    job = parse(group('a', exe='file://python:/bin/python3'),
                group('b', exe='file://image:bin/tool',
                      devices=[{'name': 'image',
                                'path': 'swift://~/img/tools.tar'}]))
    assert job.group('a').exec.path == ImagePath('python', '/bin/python3')
    assert job.group('b').exec.path.image == 'image'


def test_custom_system_images():
    limits = JobLimits(system_images=('ruby',))
    g = parse(group(exe='file://ruby:/bin/ruby',
                    devices=[{'name': 'ruby'}]), limits=limits).groups[0]
    assert g.devices[0].system_image and g.devices[0].access == 'r'
    assert 'unknown device "python"' in error(
        group(devices=[{'name': 'python'}]), limits=limits)


@pytest.mark.parametrize('exe, fragment', [
    ({'path': 'swift://~/c/o', 'args': 'a "b'}, 'exec: args: No closing'),
    ({'path': 'swift://~/c/o', 'args': 3}, 'exec: args must be a string'),
    ({'path': 'swift://~/c/o', 'env': {'A B': 'x'}}, 'bad variable name'),
    ({'path': 'swift://~/c/o', 'env': {'A': 1}}, 'env: A must be a string'),
    ({'path': 'swift://~/c/o', 'env': ['A']}, 'env must be a JSON object'),
    ({'path': 'swift://~/c/o', 'name': ''}, 'exec: name must not be empty'),
    ({'path': 'swift://~/c/o', 'argz': ''}, 'exec: "argz": unknown field'),
    ('swift://~/c/o', 'exec must be a JSON object'),
])
def test_bad_exec_fields(exe, fragment):
    msg = error({'name': 'g', 'exec': exe})
    assert msg.startswith('group "g": ') and fragment in msg, msg


# --- paths ----------------------------------------------------------------

def test_parse_path_forms():
    assert parse_path('swift://~/c/o/p', 'A') == SwiftPath('A', 'c', 'o/p')
    assert parse_path('swift://./c/o', 'A') == SwiftPath('A', 'c', 'o')
    assert parse_path('swift://B/c*/o*', 'A').wildcards == 2
    assert parse_path('file://lua:/bin/lua', 'A') == \
        ImagePath('lua', '/bin/lua')
    assert parse_path('zvm://stage2:stdin', 'A') == ZvmPath('stage2',
                                                            'stdin')
    assert str(parse_path('zvm://s:stdin', 'A')) == 'zvm://s:stdin'
    assert SwiftPath('a', 'c', 'o').url == 'swift://a/c/o'


def test_device_path_message_names_group_and_field():
    msg = error(group('map', devices=[{'name': 'stdin',
                                       'path': '/data/x'}]))
    assert msg.startswith('group "map": device "stdin": path must be '
                          'swift://account/container/object')


@pytest.mark.parametrize('path', ['swift://*/c/o', 'swift://AUTH_*/c/o',
                                  'swift://a*b/c/o'])
def test_wildcard_in_account(path):
    msg = error(group('map', devices=[{'name': 'stdin', 'path': path}]))
    assert msg == 'group "map": device "stdin": path: wildcards are not ' \
        'allowed in the account'


@pytest.mark.parametrize('path', ['swift://~/c', 'swift://~//o',
                                  'swift:///c/o', 'swift://~/c/',
                                  'swift://~/' + 'c' * 257 + '/o',
                                  'swift://~/c/' + 'o' * 1025, ''])
def test_bad_swift_paths(path):
    msg = error(group('map', devices=[{'name': 'stdin', 'path': path}]))
    assert msg.startswith('group "map": device "stdin": path')


# --- control characters ---------------------------------------------------

@pytest.mark.parametrize('item', [
    group('g', exe='swift://~/c/o\n'),
    group('g', devices=[{'name': 'stdin', 'path': 'swift://~/c/\x00'}]),
    group('g', exec={'path': 'swift://~/c/o', 'args': 'a\x07b'}),
    group('g', exec={'path': 'swift://~/c/o', 'env': {'A': '\r'}}),
    group('g', exec={'path': 'swift://~/c/o', 'name': 'x\x1b'}),
    group('g', devices=[{'name': 'stdout', 'path': 'swift://~/c/o',
                         'meta': {'k': 'v\x7f'}}]),
    group('g', devices=[{'name': 'stdout', 'path': 'swift://~/c/o',
                         'content_type': 'text/plain\x85'}]),
    group('g', connect=['a\tb']),
    group('g', attach='std\nin'),
])
def test_control_characters_rejected(item):
    msg = error(item)
    assert 'control characters' in msg
    assert '\n' not in msg and '\x00' not in msg


@pytest.mark.parametrize('item, fragment', [
    (group('g', exec={'path': 'swift://~/c/o', 'env': {'A\n': 'x'}}),
     'bad variable name "A\\n"'),
    (group('g', devices=[{'name': 'stdout', 'path': 'swift://~/c/o',
                          'meta': {'k\n': 'v'}}]), 'bad key "k\\n"'),
    (group('g', exe='file://python\n:/x'), 'control characters'),
])
def test_trailing_newline_in_keys_rejected(item, fragment):
    msg = error(item)
    assert fragment in msg and '\n' not in msg


def test_control_character_in_name_is_quoted():
    msg = error(group('a\nb'))
    assert msg.startswith('group #1: name') and '\n' not in msg


# --- devices --------------------------------------------------------------

def test_unknown_device():
    msg = error(group('map', devices=[{'name': 'debug', 'path': 'x'}]))
    assert msg.startswith('group "map": unknown device "debug" (known: '
                          'stdin, input, image, script, stdout, stderr, '
                          'output')


def test_duplicate_device():
    assert error(group(devices=[{'name': 'stderr'}, {'name': 'stderr'}])) \
        == 'group "g": device "stderr" is declared twice'


def test_device_needs_name():
    assert 'name is required' in error(group(devices=[{'path': 'x'}]))


@pytest.mark.parametrize('devices, fragment', [
    ('x', 'devices must be a list'),
    (['stdin'], 'devices #1 must be a JSON object'),
    ([{'name': 'stdout', 'path': 'swift://~/c/o', 'min_size': -1}],
     'min_size must be an integer >= 0'),
    ([{'name': 'stdout', 'path': 'swift://~/c/o', 'meta': []}],
     'meta must be a JSON object'),
    ([{'name': 'stdout', 'path': 'swift://~/c/o', 'meta': {'a b': 'c'}}],
     'meta: bad key'),
    ([{'name': 'stdin', 'path': 'swift://~/c/o', 'content_type': 'x/y'}],
     'content_type only applies to writable devices'),
    ([{'name': 'stdout', 'mode': 'socket'}], 'mode must be one of'),
    ([{'name': 'stdout', 'colour': 'red'}], '"colour": unknown field'),
    ([{'name': 'python', 'path': 'swift://~/c/o'}],
     'a system image has no path'),
    ([{'name': 'stdin', 'path': 'zvm://x:stdin'}], 'path must be swift://'),
    ([{'name': 'stdout', 'path': 'file://python:/x'}],
     'path must be swift://account/container/object or zvm://'),
])
def test_bad_devices(devices, fragment):
    msg = error(group(devices=devices))
    assert msg.startswith('group "g": ') and fragment in msg, msg


@pytest.mark.parametrize('name', ['stdout', 'stderr'])
def test_response_devices_need_no_path(name):
    (dev,) = parse(group(devices=[{'name': name}])).groups[0].devices
    assert dev.path is None and dev.access == 'w'


def test_writable_device_without_path():
    assert error(group('g', devices=[{'name': 'output'}])) == \
        'group "g": device "output": path is required (only stdout and ' \
        'stderr may be returned in the response)'


@pytest.mark.parametrize('name', ['stdin', 'input', 'image'])
def test_readable_device_without_path(name):
    assert error(group('g', devices=[{'name': name}])) == \
        'group "g": device "%s": path is required' % name


def test_only_one_wildcard_input():
    msg = error(group(devices=[{'name': 'stdin', 'path': 'swift://~/a/*'},
                               {'name': 'input', 'path': 'swift://~/b/*'}]))
    assert 'only one readable device may have "*"' in msg


# --- counts, outputs ------------------------------------------------------

@pytest.mark.parametrize('count', [0, -1, True, 1.5, '2', None])
def test_bad_count(count):
    if count is None:
        assert parse(group(count=None)).groups[0].count is None
        return
    assert error(group(count=count)) == \
        'group "g": count must be an integer >= 1'


def test_count_with_wildcard():
    msg = error(group(count=2, devices=[{'name': 'stdin',
                                         'path': 'swift://~/a/*'}]))
    assert msg == 'group "g": count cannot be combined with the wildcard ' \
        'in device "stdin"'


@pytest.mark.parametrize('extra', [
    {'count': 3},
    {'devices': [{'name': 'stdin', 'path': 'swift://~/in/*'}]},
])
def test_single_output_path_on_multi_node_group(extra):
    extra = dict(extra)
    devices = extra.pop('devices', [])
    devices.append({'name': 'stdout', 'path': 'swift://~/out/result'})
    msg = error(group('map', devices=devices, **extra))
    assert msg == 'group "map": device "stdout": path: single output path ' \
        '"swift://AUTH_me/out/result" for a group of many nodes; put a ' \
        '"*" in it'


def test_output_stars_must_match_input_stars():
    msg = error(group(devices=[
        {'name': 'stdin', 'path': 'swift://~/in*/*'},
        {'name': 'stdout', 'path': 'swift://~/out/*'}]))
    assert 'has 1 "*" but the input "swift://AUTH_me/in*/*" has 2' in msg


def test_count_one_may_use_single_output():
    parse(group(count=1, devices=[{'name': 'stdout',
                                   'path': 'swift://~/o/x'}]))


def test_a_script_device_is_readable():
    g = parse(group(devices=[{'name': 'script',
                              'path': 'swift://~/c/tool.py'}])).groups[0]
    assert g.devices[0].access == 'r'
    assert 'path is required' in error(group(devices=[{'name': 'script'}]))
    assert 'content_type only applies to writable devices' in error(group(
        devices=[{'name': 'script', 'path': 'swift://~/c/t.py',
                  'content_type': 'text/x-python'}]))


@pytest.mark.parametrize('replicate', [0, 4, -1, '2', True, 2.0, None])
def test_replicate_out_of_range(replicate):
    assert error(group(replicate=replicate)) == \
        'group "g": replicate must be 1, 2 or 3 (how many servers run ' \
        'each node)'


@pytest.mark.parametrize('replicate', [1, 2, 3])
def test_replicate_accepted(replicate):
    assert parse(group(replicate=replicate)).groups[0].replicate == \
        replicate


@pytest.mark.parametrize('groups', [
    # the writer of a zvm:// pipe, and its reader
    (group('a', replicate=2, devices=[
        {'name': 'stdout', 'path': 'zvm://b:stdin'}]), group('b')),
    (group('a', devices=[{'name': 'stdout', 'path': 'zvm://b:stdin'}]),
     group('b', replicate=2)),
    # either end of connect
    (group('a', replicate=3, connect=['b']), group('b')),
    (group('a', connect=['b']), group('b', replicate=2))])
def test_replicate_refused_with_pipes(groups):
    msg = error(*groups)
    assert msg.startswith('group ') and \
        'a group joined to others by zvm:// pipes or connect runs once' \
        in msg


def test_replicate_beside_pipes_of_other_groups():
    job = parse(group('a', devices=[{'name': 'stdout',
                                     'path': 'zvm://b:stdin'}]),
                group('b'), group('c', replicate=2))
    assert [g.replicate for g in job.groups] == [1, 1, 2]


# --- limits ---------------------------------------------------------------

def test_count_over_max_nodes():
    limits = JobLimits(max_nodes=5)
    assert error(group(count=6), limits=limits) == \
        'group "g": count 6 is more than the limit of 5 nodes'
    assert 'at least 6 nodes' in error(group('a', count=3),
                                       group('b', count=3), limits=limits)
    parse(group('a', count=2), group('b', count=3), limits=limits)


def test_more_groups_than_max_nodes():
    limits = JobLimits(max_nodes=2)
    assert 'more than the limit of 2 nodes' in error(
        group('a'), group('b'), group('c'), limits=limits)


# --- connect, attach ------------------------------------------------------

def test_connect_unknown_target():
    assert error(group('map', connect=['reduce'])) == \
        'group "map": connect: no group named "reduce"'


def test_connect_twice():
    assert error(group('a', connect=['b', 'b']), group('b')) == \
        'group "a": connect names "b" twice'


def test_connect_not_a_list():
    assert 'connect must be a list' in error(group(connect='b'))


def test_connect_cycles_are_allowed():
    # Connected nodes run concurrently and read their /dev/in/* in the
    # order they choose, as ZeroCloud's mapper <-> mapper example does.
    job = parse(group('a', connect=['a', 'b']), group('b', connect=['a']))
    assert job.group('a').connect == ('a', 'b')


def test_attach_must_name_a_device_with_a_swift_path():
    assert error(group('g', attach='stdin')) == \
        'group "g": attach: no device "stdin" in this group'
    assert error(group('g', attach='stderr', devices=[{'name': 'stderr'}])) \
        == 'group "g": attach: device "stderr" has no swift:// path'


# --- zvm:// pipes ---------------------------------------------------------

def pipe(source, target, device='stdout', into='stdin', **extra):
    return group(source, devices=[{'name': device,
                                   'path': 'zvm://%s:%s' % (target, into)}],
                 **extra)


def test_pipeline_parses():
    job = parse(pipe('s1', 's2'), pipe('s2', 's3'),
                group('s3', devices=[{'name': 'stdin'}]))
    assert job.group('s1').devices[0].path == ZvmPath('s2', 'stdin')


def test_pipe_into_unknown_group():
    assert error(pipe('a', 'b')) == 'group "a": device "stdout": path ' \
        '"zvm://b:stdin": no group named "b"'


def test_pipe_into_itself():
    assert 'a group cannot pipe into itself' in error(pipe('a', 'a'))


def test_pipe_into_writable_device():
    assert 'can only pipe into stdin or input' in error(
        pipe('a', 'b', into='stdout'), group('b'))


def test_pipe_fed_twice():
    msg = error(pipe('a', 'c'), pipe('b', 'c'), group('c'))
    assert msg == 'group "b": device "stdout": path "zvm://c:stdin": ' \
        'zvm://c:stdin is already fed by group "a"'


def test_pipe_into_device_with_path():
    msg = error(pipe('a', 'b'), group('b', devices=[
        {'name': 'stdin', 'path': 'swift://~/c/o'}]))
    assert 'device "stdin" of group "b" already has a path' in msg


def test_pipe_cycle_cannot_run():
    msg = error(pipe('a', 'b'), pipe('b', 'c'), pipe('c', 'a'))
    assert msg == 'group "a": zvm:// pipes form a cycle that cannot run: ' \
        'a -> b -> c -> a'


def test_two_pipes_into_one_group():
    job = parse(pipe('a', 'c'), pipe('b', 'c', into='input'), group('c'))
    assert len(job.groups) == 3


# --- property-based -------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)

KEYS = st.sampled_from(['name', 'exec', 'devices', 'file_list', 'count',
                        'connect', 'attach', 'replicate', 'path', 'args',
                        'env', 'device', 'content_type', 'meta',
                        'min_size', 'mode', 'location'])
WORDS = st.sampled_from(['a', 'b', 'stdin', 'stdout', 'stderr', 'input',
                         'output', 'image', 'python', 'swift://~/c/o',
                         'swift://~/c/*', 'swift://*/c/o', 'zvm://a:stdin',
                         'zvm://b:stdin', 'file://python:/x', '~', '*',
                         'default', 'swift://~/o/*.x', ''])
JOBLIKE = st.recursive(
    WORDS | st.integers(-2, 3) | st.none(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40)


LISTING = {ACCOUNT: ['c', 'o'], 'c': ['o', 'p', 'x/'], 'o': ['a.x']}


def _parse_or_job_error(value):
    start = time.monotonic()
    try:
        result = parse_job(json.dumps(value), ACCOUNT)
    except JobError as err:
        assert err.status in (400, 413, 422)
        assert str(err)
    else:
        assert isinstance(result, Job)
        # What parses also plans, or fails as a JobError.
        try:
            plan = expand(result, dict_lister(LISTING))
        except JobError as err:
            assert err.status == 400
        else:
            assert len({n.name for n in plan.nodes}) == len(plan.nodes)
    assert time.monotonic() - start < 1.0


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_value_gives_job_or_job_error(value):
    _parse_or_job_error(value)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JOBLIKE, min_size=1, max_size=4))
def test_job_shaped_values_give_job_or_job_error(value):
    _parse_or_job_error(value)


DEVICE_NAMES = st.sampled_from(['stdin', 'stdout', 'stderr', 'input',
                                'output', 'image', 'python'])
PATHS = st.sampled_from(['swift://~/c/o', 'swift://~/c/*', 'swift://~/*/o',
                         'swift://~/o/*.x', 'swift://~/o/x*', 'swift://~/c/p',
                         'swift://~/*/*', 'zvm://a:stdin', 'zvm://b:stdin',
                         'zvm://c:input', 'zvm://c:stdin'])
DEVICE = st.fixed_dictionaries({'name': DEVICE_NAMES}, optional={
    'path': PATHS, 'content_type': st.just('text/plain')})
GROUP = st.fixed_dictionaries(
    {'name': st.sampled_from(['a', 'b', 'c', 'a-1']),
     'exec': st.fixed_dictionaries({'path': st.sampled_from(
         ['swift://~/e/p', 'file://python:/bin/p', 'file://image:p'])},
         optional={'args': WORDS, 'name': st.just('n')})},
    optional={'devices': st.lists(DEVICE, max_size=4,
                                  unique_by=lambda d: d['name']),
              'count': st.integers(1, 3),
              'connect': st.lists(st.sampled_from(['a', 'b', 'c']),
                                  max_size=3, unique=True),
              'attach': DEVICE_NAMES})


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GROUP, min_size=1, max_size=3))
def test_nearly_valid_jobs_give_job_or_job_error(value):
    _parse_or_job_error(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_job_or_job_error(body):
    try:
        parse_job(body, ACCOUNT)
    except JobError:
        pass


def test_hostile_bodies_are_fast():
    many = json.dumps([group('g', connect=['g%d' % i for i in range(6000)])])
    wide = json.dumps([group('g%d' % i) for i in range(3000)])
    for body in (many[:65536], wide[:65536], many, wide):
        start = time.monotonic()
        with pytest.raises(JobError):
            parse_job(body, ACCOUNT, JobLimits(max_nodes=1000))
        assert time.monotonic() - start < 2.0


# --- #! scripts --------------------------------------------------------------

@pytest.mark.parametrize('head, expected', [
    (b'\x7fELF\x02\x01', None),
    (b'', None),
    (b'#!/usr/bin/env python3\nimport sys', (ImagePath('python',
                                                       'bin/python3'), None)),
    (b'#!/usr/bin/python3 -u\r\n', (ImagePath('python', 'bin/python3'),
                                    '-u')),
    (b'#! /usr/bin/env python\n', (ImagePath('python', 'bin/python3'), None)),
    (b'#!file://python:bin/python -S -u\n', (ImagePath('python',
                                                       'bin/python'),
                                             '-S -u')),
    (b'#!file://tools:/bin/awk -f\n', (ImagePath('tools', '/bin/awk'),
                                       '-f')),
    (b'#!file://tools:/bin/awk\t-f\n', (ImagePath('tools', '/bin/awk'),
                                        '-f')),
    (b'#!/usr/bin/lua\t-W\n', (ImagePath('lua', 'bin/lua'), '-W')),
])
def test_shebang_lines(head, expected):
    assert parse_shebang(head, ('python', 'tools', 'lua')) == expected


@pytest.mark.parametrize('head, images, message', [
    (b'#!/bin/sh\n', ('python',), 'names no system image (use '
     '#!file://IMAGE:PATH, or a python line'),
    (b'#!/usr/bin/env python3\n', (), 'names no system image (use '
     '#!file://IMAGE:PATH)'),
    (b'#!/usr/bin/env perl\n', ('python',), '"#!/usr/bin/env perl"'),
    (b'#!file://ruby:bin/ruby\n', ('python',), 'unknown system image '
     '"ruby"'),
    (b'#!file://python\n', ('python',), 'must be file://IMAGE:PATH'),
    (b'#!/usr/bin/env py\xc3\xa9\n', ('python',), 'not printable ASCII'),
    (b'#!/usr/bin/env python3\x1b\n', ('python',), 'not printable ASCII'),
])
def test_bad_shebang_lines(head, images, message):
    with pytest.raises(JobError, match=re.escape(message)) as info:
        parse_shebang(head, images, 'exec swift://a/c/o')
    assert str(info.value).startswith('exec swift://a/c/o: its "#!" line')
    assert info.value.status == 400


def test_only_the_first_256_bytes_are_a_shebang_line():
    # head[2:256]: 254 bytes after "#!", 21 of them the interpreter and
    # its space.
    assert parse_shebang(b'#!/usr/bin/env python3 ' + b'x' * 300,
                         ('python',))[1] == 'x' * (254 - 21)
