# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import json
import os
import re

import pytest
from hypothesis import given, settings, strategies as st

from zerocloud.config import JobLimits
from zerocloud.exceptions import JobError
from zerocloud.job import ImagePath, SwiftPath, parse_job
from zerocloud.middleware.plan import Plan, format_plan
from zerocloud.middleware.planner import (attach_object, build_plan,
                                          dict_lister, expand, match_glob,
                                          needs_listing, script_node)

ACCOUNT = 'AUTH_me'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(ROOT, 'examples', 'jobs')


def group(name='g', exe='swift://~/exec/prog', devices=None, **extra):
    item = {'name': name, 'exec': {'path': exe}}
    if devices is not None:
        item['devices'] = devices
    item.update(extra)
    return item


def plan(*groups, listing=None, limits=None):
    job = parse_job(json.dumps(list(groups)), ACCOUNT, limits)
    lister = dict_lister(listing) if listing is not None else None
    return expand(job, lister, limits)


def plan_error(*groups, **kwargs):
    with pytest.raises(JobError) as caught:
        plan(*groups, **kwargs)
    assert caught.value.status == 400
    return str(caught.value)


def names(result):
    return [n.name for n in result.nodes]


def obj(container, name):
    return SwiftPath(ACCOUNT, container, name)


# --- globs ----------------------------------------------------------------

@pytest.mark.parametrize('pattern, name, expected', [
    ('*.txt', 'a.txt', ('a',)),
    ('*.txt', 'a.txt.bak', None),
    ('*.txt', '.txt', ('',)),
    ('a*', 'a', ('',)),
    ('a*b*c', 'axbyc', ('x', 'y')),
    ('a*b*c', 'abbc', ('', 'b')),
    ('*-*', 'x-y-z', ('x', 'y-z')),
    ('plain', 'plain', ()),
    ('plain', 'plainer', None),
    ('*', 'dir/obj', ('dir/obj',)),
    ('ab*ba', 'aba', None),
    ('[a]*', '[a]x', ('x',)),
    ('*.*', 'noext', None),
])
def test_match_glob(pattern, name, expected):
    assert match_glob(pattern, name) == expected


def test_match_glob_is_fast_on_hostile_patterns():
    assert match_glob('*a' * 50 + '*b', 'a' * 1000) is None


@settings(max_examples=200, deadline=None)
@given(st.text('ab*', max_size=8), st.text('ab', max_size=10))
def test_match_glob_agrees_with_regex(pattern, name):
    regex = ''.join('(.*?)' if c == '*' else re.escape(c) for c in pattern)
    caught = match_glob(pattern, name)
    assert (caught is not None) == bool(re.fullmatch(regex, name, re.S))
    if caught is not None:
        pieces = pattern.split('*')
        rebuilt = pieces[0] + ''.join(
            c + p for c, p in zip(caught, pieces[1:]))
        assert rebuilt == name


# --- wildcard expansion ---------------------------------------------------

LISTING = {
    'data': ['b.txt', 'a.txt', 'a.txt.bak', 'dir/', 'dir/c.txt',
             {'subdir': 'sub/'},
             {'name': 'marker.txt', 'content_type': 'application/directory'},
             {'name': 'd.txt', 'bytes': 3, 'content_type': 'text/plain'}],
}


def test_one_node_per_match_in_listing_order():
    result = plan(group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/out/*.cnt'}]), listing=LISTING)
    assert names(result) == ['map-1', 'map-2', 'map-3', 'map-4']
    inputs = [n.channel('/dev/stdin').path for n in result.nodes]
    assert inputs == [obj('data', 'b.txt'), obj('data', 'a.txt'),
                      obj('data', 'dir/c.txt'), obj('data', 'd.txt')]
    assert [n.outputs for n in result.nodes] == [
        (obj('out', 'b.cnt'),), (obj('out', 'a.cnt'),),
        (obj('out', 'dir/c.cnt'),), (obj('out', 'd.cnt'),)]
    assert [n.index for n in result.nodes] == [1, 2, 3, 4]


def test_single_match_is_still_numbered():
    result = plan(group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/b.*'}]), listing=LISTING)
    assert names(result) == ['map-1']


def test_no_match_names_the_path():
    msg = plan_error(group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*.csv'}]), listing=LISTING)
    assert msg == 'group "map": device "stdin": path ' \
        '"swift://AUTH_me/data/*.csv": no object matches'


def test_missing_container_is_no_match():
    msg = plan_error(group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/nope/*'}]), listing=LISTING)
    assert msg.endswith('no object matches')


def test_pseudo_directories_only_is_no_match():
    msg = plan_error(group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*/'}]), listing=LISTING)
    assert msg.endswith('no object matches')


def test_wildcard_without_lister():
    job = parse_job(json.dumps([group('map', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*'}])]), ACCOUNT)
    assert needs_listing(job)
    with pytest.raises(JobError) as caught:
        expand(job)
    assert 'needs a container listing' in str(caught.value)


def test_wildcards_in_the_container():
    listing = {ACCOUNT: ['logs-2025', 'logs-2026', 'other', 'logs-x'],
               'logs-2025': ['a.log', 'b.txt'], 'logs-2026': ['c.log'],
               'logs-x': [], 'other': ['z.log']}
    result = plan(group('grep', devices=[
        {'name': 'stdin', 'path': 'swift://~/logs-*/*.log'},
        {'name': 'stdout', 'path': 'swift://~/hits/*/*.hits'}]),
        listing=listing)
    assert [n.channel('/dev/stdin').path for n in result.nodes] == [
        obj('logs-2025', 'a.log'), obj('logs-2026', 'c.log')]
    assert result.outputs == (obj('hits', '2025/a.hits'),
                              obj('hits', '2026/c.hits'))


def test_wildcards_in_another_account():
    listing = {'AUTH_other/pub': ['x', 'y'], 'pub': ['not-this-one']}
    result = plan(group('g', devices=[
        {'name': 'stdin', 'path': 'swift://AUTH_other/pub/*'}]),
        listing=listing)
    assert [n.attach for n in result.nodes] == [
        SwiftPath('AUTH_other', 'pub', 'x'), SwiftPath('AUTH_other', 'pub',
                                                       'y')]


def test_captured_slash_into_container_is_refused():
    msg = plan_error(group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*'},
        {'name': 'stdout', 'path': 'swift://~/out-*/x'}]),
        listing={'data': ['a/b']})
    assert '"swift://AUTH_me/out-a/b/x" is not a valid object path' in msg


def test_too_many_matches():
    msg = plan_error(group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*'}]),
        listing={'data': ['o%d' % i for i in range(10)]},
        limits=JobLimits(max_nodes=5))
    assert msg == 'group "g": device "stdin": path "swift://AUTH_me/data/*" ' \
        'matches more than the 5 nodes left under the limit of 5'


def test_lister_receives_entries_and_errors_propagate():
    job = parse_job(json.dumps([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/data/*'}])]), ACCOUNT)

    def forbidden(account, container=None, prefix=''):
        raise PermissionError('403')
    with pytest.raises(PermissionError):
        expand(job, forbidden)


def test_listings_are_asked_with_the_prefix_and_read_only_as_needed():
    asked = []

    def endless(account, container=None, prefix=''):
        asked.append((container, prefix))
        if container is None:
            yield {'name': 'logs-2026'}
            yield {'name': 'other'}
            return
        n = 0
        while True:         # a container larger than any limit
            n += 1
            yield {'name': 'day-%d.txt' % n}
            yield {'name': 'zz-%d' % n}     # a lister may ignore prefix
    job = parse_job(json.dumps([group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/logs-*/day-*.txt'}])]), ACCOUNT)
    with pytest.raises(JobError, match='matches more than the 7 nodes'):
        expand(job, endless, JobLimits(max_nodes=7))
    assert asked == [(None, 'logs-'), ('logs-2026', 'day-')]


def test_dict_lister_honours_the_prefix():
    lister = dict_lister({'c': ['ab', 'ac', 'b', {'subdir': 'a/'}]})
    assert lister('AUTH_x', 'c', prefix='a') == ['ab', 'ac', {'subdir': 'a/'}]
    assert lister('AUTH_x', 'c') == ['ab', 'ac', 'b', {'subdir': 'a/'}]


# --- counts ---------------------------------------------------------------

def test_count_names():
    result = plan(group('a', count=3), group('b', count=1), group('c'))
    assert names(result) == ['a-1', 'a-2', 'a-3', 'b', 'c']


def test_count_with_devices_and_star_outputs():
    result = plan(group('w', count=2, devices=[
        {'name': 'stdin', 'path': 'swift://~/in/shared'},
        {'name': 'stdout', 'path': 'swift://~/out/*.res'},
        {'name': 'output', 'path': 'swift://~/out-*/*'}]))
    assert result.nodes[0].outputs == (obj('out', 'w-1.res'),
                                       obj('out-w-1', 'w-1'))
    assert result.nodes[1].channel('/dev/stdin').path == obj('in', 'shared')


def test_bare_name_star_output():
    result = plan(group('w', devices=[
        {'name': 'stdout', 'path': 'swift://~/out/*.res'}]))
    assert result.outputs == (obj('out', 'w.res'),)


def test_node_name_clash():
    msg = plan_error(group('map', count=2), group('map-2'))
    assert msg == 'group "map-2": node name "map-2" is already used by ' \
        'group "map"'


def test_max_nodes_after_expansion():
    msg = plan_error(group('a', count=2), group('b', devices=[
        {'name': 'stdin', 'path': 'swift://~/d/*'}]),
        listing={'d': ['1', '2', '3']}, limits=JobLimits(max_nodes=4))
    assert 'matches more than the 2 nodes left under the limit of 4' in msg


def test_output_written_twice():
    msg = plan_error(
        group('a', devices=[{'name': 'stdout', 'path': 'swift://~/o/x'}]),
        group('b', devices=[{'name': 'output', 'path': 'swift://~/o/x'}]))
    assert msg == 'group "b": node "b" writes "swift://AUTH_me/o/x", ' \
        'which node "a" writes too'


def test_count_based_star_into_fixed_name_is_caught():
    msg = plan_error(group('a', count=2, devices=[
        {'name': 'stdout', 'path': 'swift://~/o/x*'}]), group('a-1x'),
        group('b', devices=[{'name': 'stdout', 'path': 'swift://~/o/xa-1'}]))
    assert 'writes "swift://AUTH_me/o/xa-1", which node "a-1" writes' in msg


# --- channels, argv, attach -----------------------------------------------

def test_node_spec():
    result = plan(group('g', exec={'path': 'swift://~/e/p', 'args': '-v x',
                                   'env': {'A': 'b'}}, devices=[
        {'name': 'input', 'path': 'swift://~/c/in'},
        {'name': 'stdout'},
        {'name': 'stderr', 'content_type': 'text/plain'},
        {'name': 'output', 'path': 'swift://~/c/out', 'meta': {'k': 'v'},
         'min_size': 1}]))
    (node,) = result.nodes
    assert node.argv == ('g', '-v', 'x') and dict(node.env) == {'A': 'b'}
    assert node.exec == obj('e', 'p')
    got = [(c.alias, c.direction, c.kind, c.endpoint) for c in node.channels]
    assert got == [
        ('/dev/stdout', 'w', 'response', None),
        ('/dev/stderr', 'w', 'response', None),
        ('/dev/input', 'r', 'object', 'swift://AUTH_me/c/in'),
        ('/dev/output', 'w', 'object', 'swift://AUTH_me/c/out')]
    assert node.channel('/dev/stderr').content_type == 'text/plain'
    out = node.channel('/dev/output')
    assert out.meta == (('k', 'v'),) and out.min_size == 1
    assert node.attach == obj('c', 'in')
    assert node.outputs == (obj('c', 'out'),)
    assert node.candidates == ()


def test_exec_name_is_argv0():
    result = plan(group('g', count=2, exec={'path': 'swift://~/e/p',
                                            'name': 'sort'}))
    assert [n.argv for n in result.nodes] == [('sort',), ('sort',)]


def test_attach_rules():
    result = plan(
        group('explicit', attach='output', devices=[
            {'name': 'stdin', 'path': 'swift://~/c/in1'},
            {'name': 'output', 'path': 'swift://~/c/out1'}]),
        group('readable', devices=[
            {'name': 'output', 'path': 'swift://~/c/out2'},
            {'name': 'image', 'path': 'swift://~/c/img'},
            {'name': 'stdin', 'path': 'swift://~/c/in2'}]),
        group('writable', devices=[
            {'name': 'stdout', 'path': 'swift://~/c/out3'}]),
        group('nothing', devices=[{'name': 'stdout'}]))
    assert [n.attach for n in result.nodes] == [
        obj('c', 'out1'), obj('c', 'in2'), obj('c', 'out3'), None]


def test_attach_object_among_usable_paths_keeps_the_rule():
    (node,) = plan(group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/ec/in'},
        {'name': 'script', 'path': 'swift://~/c/tool.py'},
        {'name': 'input', 'path': 'swift://~/c/in'},
        {'name': 'output', 'path': 'swift://~/c/out'}])).nodes
    chans = node.channels
    assert attach_object(chans) == obj('ec', 'in') == node.attach
    assert attach_object(chans, lambda p: p.container != 'ec') \
        == obj('c', 'in')
    assert attach_object(chans, lambda p: p.obj != 'in') \
        == obj('c', 'tool.py')
    assert attach_object(chans, lambda p: p.obj == 'out') == obj('c', 'out')
    assert attach_object(chans, lambda p: False) is None


def test_a_script_device_is_not_what_a_node_is_placed_by():
    result = plan(
        group('data', devices=[
            {'name': 'script', 'path': 'swift://~/c/tool.py'},
            {'name': 'stdin', 'path': 'swift://~/c/in'},
            {'name': 'output', 'path': 'swift://~/c/out'}]),
        group('only', devices=[
            {'name': 'script', 'path': 'swift://~/c/tool.py'},
            {'name': 'output', 'path': 'swift://~/c/out2'}]),
        group('chosen', attach='script', devices=[
            {'name': 'stdin', 'path': 'swift://~/c/in3'},
            {'name': 'script', 'path': 'swift://~/c/tool.py'}]))
    assert [n.attach for n in result.nodes] == [
        obj('c', 'in'), obj('c', 'tool.py'), obj('c', 'tool.py')]
    data = result.nodes[0]
    assert [(c.alias, c.direction, c.kind) for c in data.channels] == [
        ('/dev/stdin', 'r', 'object'), ('/dev/output', 'w', 'object'),
        ('/dev/script', 'r', 'object')]


def test_a_hash_bang_program_cannot_have_a_script_device():
    node, = plan(group('s', exe='swift://~/bin/tool.py', devices=[
        {'name': 'script', 'path': 'swift://~/c/other.py'}])).nodes
    with pytest.raises(JobError) as caught:
        script_node(node, ImagePath('python', 'bin/python3'), None)
    assert caught.value.status == 400
    assert str(caught.value) == (
        'group "s": exec "swift://AUTH_me/bin/tool.py" is a #! script, read '
        'from /dev/script: the group cannot have a script device as well')


def test_system_images():
    result = plan(group('a', exe='file://python:/bin/python3'),
                  group('b', exe='file://lua:/bin/lua',
                        devices=[{'name': 'lua'}, {'name': 'python'}]),
                  group('c', exe='file://image:bin/x', devices=[
                      {'name': 'image', 'path': 'swift://~/i/x.tar'}]),
                  limits=JobLimits(system_images=('lua', 'python')))
    a, b, c = result.nodes
    assert [(ch.alias, ch.kind, ch.endpoint) for ch in a.channels] == [
        ('/dev/python', 'image', 'file://python:/')]
    assert [ch.alias for ch in b.channels] == ['/dev/lua', '/dev/python']
    assert [ch.alias for ch in c.channels] == ['/dev/image']
    assert a.exec.url == 'file://python:/bin/python3'
    assert c.attach == obj('i', 'x.tar')


def test_a_script_node_runs_its_interpreter_on_dev_script():
    tool = {'path': 'swift://~/bin/tool.py', 'args': '-n 3'}
    result = plan({'name': 's', 'exec': tool,
                   'devices': [{'name': 'stdin', 'path': 'swift://~/c/in'},
                               {'name': 'stdout'}]})
    node, = result.nodes
    script = script_node(node, ImagePath('python', 'bin/python3'), '-u')
    assert script.exec == ImagePath('python', 'bin/python3')
    assert script.argv == ('s', '-u', '/dev/script', '-n', '3')
    assert [(c.alias, c.kind, c.endpoint) for c in script.channels] == [
        ('/dev/stdin', 'object', 'swift://AUTH_me/c/in'),
        ('/dev/stdout', 'response', None),
        ('/dev/python', 'image', 'file://python:/'),
        ('/dev/script', 'object', 'swift://AUTH_me/bin/tool.py')]
    assert script.attach == node.attach and script.name == node.name
    # No argument; the image already mounted (declared) is not mounted twice.
    node, = plan(group('s', exe='swift://~/bin/tool.py',
                       devices=[{'name': 'python'}])).nodes
    script = script_node(node, ImagePath('python', 'bin/python3'), None)
    assert script.argv == ('s', '/dev/script')
    assert [c.alias for c in script.channels] == ['/dev/python',
                                                  '/dev/script']


# --- connect --------------------------------------------------------------

def pipes(node):
    return [(c.alias, c.direction, c.endpoint) for c in node.channels
            if c.kind == 'pipe']


def test_connect_gives_out_and_in():
    result = plan(group('a', count=2, connect=['b']), group('b'))
    assert pipes(result.node('a-1')) == [
        ('/dev/out/b', 'w', 'zvm://b:/dev/in/a-1')]
    assert pipes(result.node('b')) == [
        ('/dev/in/a-1', 'r', 'zvm://a-1:/dev/out/b'),
        ('/dev/in/a-2', 'r', 'zvm://a-2:/dev/out/b')]


def test_self_connect_is_a_mesh_without_self_loops():
    result = plan(group('m', count=3, connect=['m']))
    node = result.node('m-2')
    assert pipes(node) == [('/dev/out/m-1', 'w', 'zvm://m-1:/dev/in/m-2'),
                           ('/dev/out/m-3', 'w', 'zvm://m-3:/dev/in/m-2'),
                           ('/dev/in/m-1', 'r', 'zvm://m-1:/dev/out/m-2'),
                           ('/dev/in/m-3', 'r', 'zvm://m-3:/dev/out/m-2')]
    assert pipes(plan(group('solo', connect=['solo'])).nodes[0]) == []


def test_two_way_connect():
    result = plan(group('a', connect=['b']), group('b', connect=['a']))
    assert [c.alias for c in result.node('a').channels] == [
        '/dev/out/b', '/dev/in/b']


def test_every_pipe_has_a_matching_end():
    result = plan(group('a', count=3, connect=['a', 'b']),
                  group('b', count=2, connect=['c']), group('c'))
    ends = set()
    for node in result.nodes:
        for chan in node.channels:
            ends.add((node.name, chan.alias, chan.direction, chan.peer,
                      chan.peer_alias))
    for name, alias, direction, peer, peer_alias in ends:
        back = 'r' if direction == 'w' else 'w'
        assert (peer, peer_alias, back, name, alias) in ends


def test_channel_limit():
    msg = plan_error(group('a', count=10, connect=['a']),
                     limits=JobLimits(max_channels=50))
    assert 'more than the limit of 50 channels' in msg
    msg = plan_error(group('a', count=3, devices=[
        {'name': 'stdin', 'path': 'swift://~/c/o'},
        {'name': 'stderr'}]), limits=JobLimits(max_channels=5))
    assert msg == 'job has 6 channels, more than the limit of 5'


# --- zvm:// pipes ---------------------------------------------------------

def test_zvm_pipeline_pairs_nodes():
    result = plan(
        group('s1', devices=[{'name': 'stdin', 'path': 'swift://~/d/*'},
                             {'name': 'stdout', 'path': 'zvm://s2:stdin'}]),
        group('s2', count=2, devices=[
            {'name': 'stdin'},
            {'name': 'stdout', 'path': 'swift://~/o/*'}]),
        listing={'d': ['x', 'y']})
    assert pipes(result.node('s1-1')) == [
        ('/dev/stdout', 'w', 'zvm://s2-1:/dev/stdin')]
    assert pipes(result.node('s2-2')) == [
        ('/dev/stdin', 'r', 'zvm://s1-2:/dev/stdout')]
    assert result.node('s2-2').attach == obj('o', 's2-2')


def test_zvm_pipe_count_mismatch():
    msg = plan_error(
        group('s1', count=2, devices=[{'name': 'stdout',
                                       'path': 'zvm://s2:input'}]),
        group('s2', count=3))
    assert msg == 'group "s1": device "stdout": path "zvm://s2:input" ' \
        'pairs nodes one to one, but "s1" has 2 nodes and "s2" has 3'


# --- the examples ---------------------------------------------------------

def example(name, account='AUTH_test'):
    with open(os.path.join(EXAMPLES, name + '.json'), 'rb') as fp:
        job = parse_job(fp.read(), account)
    with open(os.path.join(EXAMPLES, 'listing.json')) as fp:
        lister = dict_lister(json.load(fp))
    return build_plan(job, lister)


def test_example_sort_per_object():
    result = example('sort')
    assert names(result) == ['sort-1', 'sort-2', 'sort-3']
    assert [n.attach.obj for n in result.nodes] == [
        'binary1.data', 'binary2.data', 'binary_log_345.data']
    assert [o.url for o in result.outputs] == [
        'swift://AUTH_test/data/sorted1.data',
        'swift://AUTH_test/data/sorted2.data',
        'swift://AUTH_test/data/sorted_log_345.data']
    for node in result.nodes:
        assert node.argv == (node.name, '1048576')
        assert node.channel('/dev/stderr').kind == 'response'


def test_example_zerocloud_spelling_plans_the_same():
    assert example('sort_zerocloud') == example('sort')


def test_example_wordcount_map_reduce():
    result = example('wordcount')
    assert names(result) == ['map-1', 'map-2', 'map-3',
                             'reduce-1', 'reduce-2']
    assert [n.attach.obj for n in result.nodes[:3]] == [
        'alice.txt', 'moby.txt', 'ulysses.txt']
    for i in (1, 2, 3):
        assert [c.alias for c in result.node('map-%d' % i).channels
                if c.kind == 'pipe'] == ['/dev/out/reduce-1',
                                         '/dev/out/reduce-2']
    assert [c.alias for c in result.node('reduce-2').channels
            if c.kind == 'pipe'] == ['/dev/in/map-1', '/dev/in/map-2',
                                     '/dev/in/map-3']
    assert [o.obj for o in result.outputs] == [
        'wordcount-reduce-1.txt', 'wordcount-reduce-2.txt']


def test_example_replicated():
    result = example('replicated')
    assert names(result) == ['check-1', 'check-2', 'check-3']
    assert all(n.replicate == 2 for n in result.nodes)
    assert [o.obj for o in result.outputs] == [
        'binary1.sha256', 'binary2.sha256', 'binary_log_345.sha256']


def test_example_three_stage_pipeline():
    result = example('pipeline')
    grep, sort, summary = result.nodes
    assert pipes(grep) == [('/dev/stdout', 'w', 'zvm://sort:/dev/stdin')]
    assert pipes(sort) == [('/dev/stdin', 'r', 'zvm://grep:/dev/stdout'),
                           ('/dev/stdout', 'w', 'zvm://summary:/dev/stdin')]
    assert pipes(summary) == [('/dev/stdin', 'r', 'zvm://sort:/dev/stdout')]
    assert grep.argv == ('grep', '-i', 'connection refused')
    assert sort.attach is None
    assert summary.channel('/dev/python').kind == 'image'
    assert [o.url for o in result.outputs] == [
        'swift://AUTH_test/reports/refused.txt']


def test_doc_includes_every_example():
    with open(os.path.join(ROOT, 'doc', 'job_format.rst')) as fp:
        doc = fp.read()
    included = re.findall(r'literalinclude:: \.\./examples/jobs/(\S+)', doc)
    on_disk = sorted(f for f in os.listdir(EXAMPLES) if f.endswith('.json'))
    assert sorted(set(included)) == on_disk


def test_plan_renders():
    result = example('wordcount')
    data = json.loads(json.dumps(result.to_dict()))
    assert data['account'] == 'AUTH_test'
    assert [n['name'] for n in data['nodes']] == names(result)
    first = data['nodes'][0]
    assert first['channels'][0] == {
        'alias': '/dev/stdin', 'direction': 'r', 'kind': 'object',
        'endpoint': 'swift://AUTH_test/books/alice.txt'}
    assert data['nodes'][3]['outputs'] == [
        'swift://AUTH_test/results/wordcount-reduce-1.txt']
    text = format_plan(result)
    assert text.startswith('plan for account AUTH_test: 5 nodes')
    for name in names(result):
        assert '\n%s: argv ' % name in text
    assert 'zvm://reduce-1:/dev/in/map-1' in text


def test_replicated_nodes_carry_their_copies():
    result = plan(group('g', count=2, replicate=3), group('h'))
    assert [n.replicate for n in result.nodes] == [3, 3, 1]
    assert result.to_dict()['nodes'][0]['replicate'] == 3
    header, *rows = format_plan(result).split('\n\n')[1].splitlines()
    assert header.split()[-1] == 'COPIES'
    assert [r.split()[-1] for r in rows] == ['3', '3', '1']
    assert 'COPIES' not in format_plan(plan(group('h')))


# --- property: N matches -> N unique nodes, unique outputs ----------------

OBJECT_NAMES = st.lists(
    st.text(st.characters(blacklist_categories=('Cs', 'Cc')), min_size=1,
            max_size=12).filter(lambda n: not n.endswith('/')),
    min_size=1, max_size=40, unique=True)


@settings(max_examples=100, deadline=None)
@given(OBJECT_NAMES)
def test_n_matches_make_n_unique_nodes(objects):
    listing = {'in': ['x/'] + objects}
    result = plan(group('g', devices=[
        {'name': 'stdin', 'path': 'swift://~/in/*'},
        {'name': 'stdout', 'path': 'swift://~/out/*.res'},
        {'name': 'stderr'}]), group('sink', count=3, devices=[
            {'name': 'stdout', 'path': 'swift://~/out/*.sink'}]),
        listing=listing)
    assert isinstance(result, Plan)
    nodes = [n for n in result.nodes if n.group == 'g']
    assert len(nodes) == len(objects)
    assert len(set(names(result))) == len(result.nodes)
    assert len(set(result.outputs)) == len(result.outputs) == \
        len(objects) + 3
    assert [n.attach.obj for n in nodes] == objects


def test_count_over_the_nodes_left():
    msg = plan_error(group('a', devices=[
        {'name': 'stdin', 'path': 'swift://~/d/*'}]), group('b', count=3),
        listing={'d': ['1', '2']}, limits=JobLimits(max_nodes=4))
    assert msg == 'group "b": count 3 is more than the 2 nodes left under ' \
        'the limit of 4'


def test_zerocloud_map_reduce_example():
    # ZeroCloud's own map-reduce example (doc/Servlets.md), as users have
    # it: mappers mesh with each other and feed 5 reducers, which feed one
    # manager.
    job = [
        {'name': 'mapper',
         'exec': {'path': 'swift://my_account/exec/maper.nexe'},
         'devices': [
             {'name': 'stdin', 'path': 'swift://my_account/data/binary*.data'},
             {'name': 'stderr'}],
         'connect': ['mapper', 'reducer']},
        {'name': 'reducer',
         'exec': {'path': 'swift://my_account/exec/reducer.nexe'},
         'connect': ['manager'], 'count': 5},
        {'name': 'manager',
         'exec': {'path': 'swift://my_account/exec/manager.nexe'},
         'devices': [
             {'name': 'stdout',
              'path': 'swift://my_account/data/mapred_result.data'},
             {'name': 'stderr'}]}]
    listing = {'my_account/data': ['binary%d.data' % i for i in range(10)]}
    result = plan(*job, listing=listing)
    assert len(result.nodes) == 10 + 5 + 1
    mapper = result.node('mapper-4')
    outs = [c.alias for c in mapper.channels if c.direction == 'w'
            and c.kind == 'pipe']
    ins = [c.alias for c in mapper.channels if c.direction == 'r'
           and c.kind == 'pipe']
    assert len(outs) == 9 + 5 and '/dev/out/mapper-4' not in outs
    assert '/dev/out/reducer-5' in outs
    assert len(ins) == 9
    assert [c.alias for c in result.node('reducer-1').channels
            if c.direction == 'w'] == ['/dev/out/manager']
    manager = result.node('manager')
    assert len([c for c in manager.channels if c.kind == 'pipe']) == 5
    assert manager.outputs == (SwiftPath('my_account', 'data',
                                         'mapred_result.data'),)
