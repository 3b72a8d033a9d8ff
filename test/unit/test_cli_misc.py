# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Errors of ``zerocloud validate``, ``image`` and ``run`` that are one
line on stderr, not a traceback."""
import sys

import pytest

from zerocloud import cli


def test_validate_cache_dir_that_is_a_file(tmp_path, capfd):
    path = tmp_path / 'cache'
    path.write_text('')
    assert cli.main(['validate', '--cache-dir', str(path),
                     sys.executable]) == 1
    out, err = capfd.readouterr()
    assert out == '' and err == (
        'zerocloud: --cache-dir %s: not a directory\n' % path)


@pytest.mark.parametrize('where, why', [
    ('missing/x.tar', 'no such directory: {tmp}/missing'),
    ('adir', 'is a directory')])
def test_image_out_that_cannot_be_written(tmp_path, capfd, where, why):
    (tmp_path / 'adir').mkdir()
    out = str(tmp_path / where)
    assert cli.main(['image', 'lua', out]) == 1
    assert capfd.readouterr().err == 'zerocloud: %s: %s\n' % (
        out, why.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['adir']


@pytest.mark.parametrize('there_before', [False, True])
def test_image_failing_to_write_leaves_no_tmp(tmp_path, capfd, monkeypatch,
                                              there_before):
    from zerocloud import images
    out = tmp_path / 'lua.tar'
    tmp = tmp_path / 'lua.tar.tmp'
    if there_before:
        tmp.write_text('the user\'s')

    def build_lua(path, **kwargs):
        tmp.write_bytes(b'half a tar')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(images, 'build_lua', build_lua)
    assert cli.main(['image', 'lua', str(out)]) == 1
    assert capfd.readouterr().err == (
        'zerocloud: %s: No space left on device\n' % out)
    assert tmp.exists() is there_before


def test_run_without_a_program_names_only_program(capfd):
    with pytest.raises(SystemExit) as caught:
        cli.main(['run'])
    assert caught.value.code == 125
    assert capfd.readouterr().err == (
        'zerocloud run: the following arguments are required: PROGRAM\n')
