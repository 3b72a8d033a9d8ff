# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The job that opens an object: templates, query values, executables."""
import json

import pytest

from zerocloud.exceptions import JobError
from zerocloud.middleware import opener
from zerocloud.paths import SwiftPath

TARGET = SwiftPath('AUTH_test', 'docs', 'caf\u00e9 menu.txt')


@pytest.mark.parametrize('ctype, name', [
    ('text/plain', 'text/plain/config'),
    ('Text/CSV; charset=utf-8', 'text/csv/config'),
    ('application/vnd.ms-excel', 'application/vnd.ms-excel/config'),
])
def test_template_names(ctype, name):
    assert opener.template_name(ctype) == name


@pytest.mark.parametrize('ctype', ['', 'text', 'text/', '/plain',
                                   'text/plain/x', '../x/y', 'a b/c'])
def test_types_without_a_template_are_415(ctype):
    with pytest.raises(JobError) as err:
        opener.template_name(ctype)
    assert err.value.status == 415
    assert 'cannot be opened' in str(err.value)


def test_query_values_are_utf8_and_given_once():
    raw = 'format=pdf&q=caf%C3%A9&empty=&raw=\u00c3\u00a9'
    assert opener.parse_query(raw) == {
        'format': 'pdf', 'q': 'caf\u00e9', 'empty': '', 'raw': '\u00e9'}
    assert opener.parse_query('') == {}
    for bad, text in (('a=1&a=2', 'the query gives "a" twice'),
                      ('q=%FF', 'not UTF-8'), ('q=\u00ff', 'not UTF-8')):
        with pytest.raises(JobError) as err:
            opener.parse_query(bad)
        assert err.value.status == 400 and text in str(err.value)


def test_fill_puts_values_into_strings_only():
    template = {'args': '{.format=xml} -n {.n}', 'n': 3,
                '{.key}': ['{.format}', {'x': '{.absent=}'}, None]}
    assert opener.fill(template, {'format': 'pdf', 'n': '7'}, 'here') == {
        'args': 'pdf -n 7', 'n': 3,
        '{.key}': ['pdf', {'x': ''}, None]}
    with pytest.raises(JobError) as err:
        opener.fill(template, {}, 'template X')
    assert str(err.value) == ('template X needs the query to give "n" (it '
                              'has no default)')


def test_a_value_cannot_make_a_path_a_wildcard():
    template = {'path': 'swift://~/logs/{.day}.log', 'args': '{.day}'}
    assert opener.fill(template, {'day': '7'}, 'here') == {
        'path': 'swift://~/logs/7.log', 'args': '7'}
    # Outside paths a * is only text.
    assert opener.fill({'args': '{.day}'}, {'day': '*'}, 'here') == {
        'args': '*'}
    with pytest.raises(JobError) as err:
        opener.fill(template, {'day': '*'}, 'template T')
    assert err.value.status == 400
    assert str(err.value) == ('template T: the value of "day" holds "*", '
                              'which would make a swift:// path of the '
                              'template a wildcard')
    # A template's own wildcard, or a default holding one, is its author's.
    assert opener.fill({'path': 'swift://~/logs/{.day=*}.log'}, {},
                       'here') == {'path': 'swift://~/logs/*.log'}


def test_a_value_cannot_change_the_job_s_structure():
    hostile = '", "exec": {"path": "swift://other/c/o"}, "x": "'
    job = json.loads(opener.open_job(
        TARGET, 'text/plain', {'args': hostile},
        b'[{"name": "v", "exec": {"path": "swift://~/bin/v", '
        b'"args": "{.args}"}}]', 'swift://AUTH_test/.zvm/text/plain/config'))
    assert job == [{'name': 'v', 'exec': {'path': 'swift://~/bin/v',
                                          'args': hostile}}]


def test_object_path_is_the_object_opened():
    job = json.loads(opener.open_job(
        TARGET, 'text/plain', {},
        b'[{"devices": [{"name": "stdin", "path": '
        b'"swift://~{.object_path}"}]}]', 'T'))
    assert job[0]['devices'][0]['path'] == \
        'swift://~/docs/caf\u00e9 menu.txt'
    with pytest.raises(JobError) as err:
        opener.open_job(TARGET, 'text/plain', {'object_path': '/x/y'},
                        b'[]', 'T')
    assert 'object_path is the object opened' in str(err.value)


@pytest.mark.parametrize('text, status, message', [
    (b'[{"name": "a", "name": "b"}]', 400, 'duplicate key "name"'),
    (b'[' * 30000 + b']' * 30000, 400, 'is nested too deeply'),
])
def test_a_template_is_read_as_strictly_as_a_job(text, status, message):
    with pytest.raises(JobError) as err:
        opener.open_job(TARGET, 'text/plain', {}, text,
                        'swift://AUTH_test/.zvm/text/plain/config')
    assert err.value.status == status
    assert message in str(err.value)


def test_a_stored_job_that_is_not_strict_json_is_left_for_the_parser():
    # with_request_stdin would otherwise pick one of the duplicates.
    for text in (b'[{"name": "a", "name": "b", "devices": [{"name": '
                 b'"stdin"}]}]', b'[' * 30000 + b']' * 30000):
        assert opener.with_request_stdin(text, 'swift://A/c/o') == text


def test_a_template_that_is_not_json_is_422():
    with pytest.raises(JobError) as err:
        opener.open_job(TARGET, 'text/plain', {}, b'{nope',
                        'swift://AUTH_test/.zvm/text/plain/config')
    assert err.value.status == 422
    assert str(err.value).startswith(
        'template swift://AUTH_test/.zvm/text/plain/config is not valid JSON')


def test_an_executable_runs_alone_with_the_query_s_args():
    prog = SwiftPath('AUTH_test', 'bin', 'tool')
    for ctype in ('application/x-nexe', 'Application/X-Executable; x=1'):
        assert opener.is_executable(ctype)
        job = json.loads(opener.open_job(
            prog, ctype, {'args': '-n 3', 'content_type': 'text/csv'}))
        assert job == [{'name': 'open', 'exec': {
            'path': 'swift://AUTH_test/bin/tool', 'args': '-n 3'},
            'devices': [{'name': 'stdin'},
                        {'name': 'stdout', 'content_type': 'text/csv'},
                        {'name': 'stderr'}]}]
    job = json.loads(opener.open_job(prog, 'application/x-nexe', {}))
    assert job[0]['exec']['args'] == ''
    assert job[0]['devices'][1]['content_type'] == 'text/plain'
    assert not opener.is_executable('application/octet-stream')
