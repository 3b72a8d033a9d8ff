# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The lua system image (zerocloud/images): a static Lua 5.4 of our own
main, run from the image in the real sandbox (through ``zerocloud run``,
as a user tries a script before submitting it)."""
import os
import subprocess
import sys
import tarfile

import pytest

from zerocloud import images

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def run_lua(lua_image, tmp_path, script, *args, stdin=b''):
    path = tmp_path / 'script.lua'
    path.write_bytes(script)
    proc = subprocess.run(
        [sys.executable, '-m', 'zerocloud.cli', 'run', '--image',
         'lua=%s' % lua_image, str(path)] + list(args), input=stdin,
        capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_the_image_is_one_static_interpreter(lua_image):
    with tarfile.open(lua_image) as tar:
        assert tar.getnames() == ['bin', 'bin/lua']
        assert tar.getmember('bin/lua').mode == 0o755


def test_a_lua_script_reads_stdin_and_its_arguments(lua_image, tmp_path):
    code, out, err = run_lua(lua_image, tmp_path, b'''#!/usr/bin/env lua
local counts, words = {}, {}
for w in io.read("a"):gmatch("%a+") do
  if not counts[w] then counts[w] = 0; words[#words + 1] = w end
  counts[w] = counts[w] + 1
end
table.sort(words)
for _, w in ipairs(words) do print(counts[w], w) end
print(arg[0], arg[1], select("#", ...), ...)
''', 'x', 'y z', stdin=b'the cat and the hat')
    assert (code, err) == (0, '')
    assert out.splitlines() == ['1\tand', '1\tcat', '1\that', '2\tthe',
                                '/dev/script\tx\t2\tx\ty z']


def test_lua_is_deterministic(lua_image, tmp_path):
    script = (b'#!/usr/bin/lua\nlocal t = {}\nfor i = 1, 20 do '
              b't["k" .. i] = i end\nlocal keys = {}\n'
              b'for k in pairs(t) do keys[#keys + 1] = k end\n'
              b'print(math.random(1000000), os.time(), os.clock() >= 0, '
              b'table.concat(keys, ","))\n')
    first = run_lua(lua_image, tmp_path, script)
    again = run_lua(lua_image, tmp_path, script)
    assert first[0] == 0 and first[2] == ''
    assert first == again
    assert '\t1577836800\ttrue\t' in first[1]


def test_an_error_exits_1_with_a_traceback(lua_image, tmp_path):
    code, out, err = run_lua(lua_image, tmp_path, b'#!/usr/bin/env lua\n'
                             b'local function f() error("no good") end\nf()\n')
    assert code == 1 and out == ''
    assert err.startswith('lua: ')
    assert 'no good' in err and 'stack traceback' in err


def test_the_sandbox_shows_through_as_errors(lua_image, tmp_path):
    code, out, err = run_lua(lua_image, tmp_path, b'''#!/usr/bin/env lua
print(io.open("/etc/passwd"))
print(io.open("/bin/new", "w"))
print(os.execute("ls"))
print(io.popen and pcall(io.popen, "ls"))
''')
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith('nil\t/etc/passwd: No such file or directory')
    assert lines[1].startswith('nil\t/bin/new: Read-only file system')
    assert lines[2] == 'nil\tFunction not implemented\t38'    # ENOSYS


def test_a_missing_library_is_named(tmp_path):
    with pytest.raises(images.ImageBuildError,
                       match='/nope.a not found: the static library'):
        images.build_lua(str(tmp_path / 'x.tar'), liblua='/nope.a')


def test_the_image_verb_builds_or_says_what_is_missing(lua_image, tmp_path,
                                                       capsys):
    from zerocloud import cli
    out = tmp_path / 'lua.tar'
    assert cli.main(['image', 'lua', str(out)]) == 0
    assert capsys.readouterr().out == '%s: %d bytes\n' % (
        out, out.stat().st_size)
    with open(out, 'rb') as a, open(lua_image, 'rb') as b:
        assert a.read() == b.read()     # reproducible
    assert cli.main(['image', 'lua', str(tmp_path / 'x.tar'),
                     '--liblua', '/nope.a']) == 1
    err = capsys.readouterr().err
    assert err == ('zerocloud: /nope.a not found: the static library '
                   '(Debian: liblua5.4-dev) is needed\n')
    assert not (tmp_path / 'x.tar').exists()


def test_a_failed_write_leaves_no_tar_behind(tmp_path):
    out = tmp_path / 'img.tar'
    with pytest.raises(FileNotFoundError):
        images.write_tar(str(out), [('bin', None, 0o755),
                                    ('bin/x', str(tmp_path / 'gone'), 0o755)])
    assert os.listdir(tmp_path) == []
