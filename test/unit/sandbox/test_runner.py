# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud run`` from the shell: channels, options, exit statuses."""
import json
import os
import subprocess
import sys

import pytest

from zerocloud.sandbox import runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def zc(*args, stdin=b'', cwd=None):
    p = subprocess.run([sys.executable, '-m', 'zerocloud.cli', 'run'] +
                       [str(a) for a in args], input=stdin,
                       capture_output=True, cwd=cwd,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    return p.returncode, p.stdout, p.stderr


def test_echo_pipe_to_stdout(programs):
    status, out, err = zc('--no-validate', programs.build('probe'), 'read',
                          stdin=b'hello')
    assert (status, out, err) == (0, b'ok 5\n', b'')


def test_files_env_args_and_report(programs, tmp_path):
    inp = tmp_path / 'in'
    inp.write_bytes(b'12345')
    rep = tmp_path / 'r.json'
    status, out, err = zc(
        '--no-validate', '--stdin', inp, '--stdout', tmp_path / 'out',
        '--env', 'A=1', '--env', 'B=x y', '--report', rep,
        '--in', 'data=%s' % inp, '--out', 'res=%s' % (tmp_path / 'res'),
        programs.build('probe'), 'env')
    assert status == 0 and out == b'' and err == b''
    assert (tmp_path / 'out').read_bytes() == b'ok A=1 B=x y\n'
    assert (tmp_path / 'res').exists()
    report = json.loads(rep.read_text())
    assert report['reason'] == 'ok'
    assert [c['path'] for c in report['channels']] == [
        '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/in/data',
        '/dev/out/res']


def test_program_status_and_signals(programs):
    probe = programs.build('probe')
    assert zc('--no-validate', probe, 'exit_group')[0] == 42
    assert zc('--no-validate', probe, 'raise')[0] == 128 + 6
    status, _, err = zc('--no-validate', probe, 'x32')
    assert status == 128 + 31
    assert b'policy' in err


def test_dashes_after_the_program_are_its_own(programs):
    status, out, _ = zc('--no-validate', programs.build('determinism'),
                        '-n', '--x')
    assert status == 0
    assert b'args determinism-glibc -n --x\n' in out


def test_empty_and_encoded_arguments_reach_the_program(programs):
    # An empty argument crashed the launcher (it decoded into a literal).
    status, out, err = zc('--no-validate', programs.build('determinism'),
                          '', 'a b', '', '%', '')
    assert status == 0, err
    assert b'args determinism-glibc  a b  % \n' in out


@pytest.mark.parametrize('args,status,text', [
    (['/nonexistent/prog'], runner.EXIT_NOT_FOUND, b'no such program'),
    (['--memory', '64Q', 'PROG'], runner.EXIT_ERROR, b'bad size'),
    (['--memory', '1M', 'PROG'], runner.EXIT_ERROR, b'memory limit'),
    (['--cpu', 'x', 'PROG'], runner.EXIT_ERROR, b'--cpu'),
    (['--timeout', '-1', 'PROG'], runner.EXIT_ERROR, b'--timeout'),
    (['--env', 'NOEQUALS', 'PROG'], runner.EXIT_ERROR, b'--env'),
    (['--in', 'x', 'PROG'], runner.EXIT_ERROR, b'NAME=PATH'),
    (['--in', 'a b=/dev/null', 'PROG'], runner.EXIT_ERROR, b'device path'),
    (['--stdin', '/nonexistent', 'PROG'], runner.EXIT_ERROR,
     b'/nonexistent'),
    (['--bogus', 'PROG'], runner.EXIT_ERROR, b'unrecognized'),
    (['--seed', 'abc', 'PROG'], runner.EXIT_ERROR, b'--seed'),
])
def test_errors_are_one_line(programs, args, status, text):
    probe = programs.build('probe')
    args = [probe if a == 'PROG' else a for a in args]
    got, out, err = zc(*args)
    assert got == status
    assert text in err
    assert err.count(b'\n') == 1
    assert out == b''


def test_invalid_program(tmp_path):
    bad = tmp_path / 'bad'
    bad.write_bytes(b'not elf')
    got, _, err = zc('--no-validate', bad)
    assert got == runner.EXIT_INVALID
    assert err == b'zerocloud: %s: invalid program: not an ELF file\n' % (
        str(bad).encode())


def test_timeout_status(programs):
    got, _, err = zc('--timeout', '0.3', '--no-validate',
                     programs.build('limits'), 'spin')
    assert got == runner.EXIT_TIMEOUT
    assert b'timeout' in err


def test_parse_size():
    assert runner.parse_size('64M') == 64 << 20
    assert runner.parse_size('512k') == 512 << 10
    assert runner.parse_size('2GiB') == 2 << 30
    assert runner.parse_size('100') == 100
    with pytest.raises(ValueError):
        runner.parse_size('-1')


def test_validation_refuses_before_running(programs, tmp_path):
    src = tmp_path / 'rd.c'
    src.write_text('int main(void) { unsigned r; '
                   '__asm__ volatile("rdrand %0" : "=r"(r)); '
                   'return r == 0 && r != 0; }\n')
    prog = tmp_path / 'rd'
    subprocess.run(['gcc', '-static', '-O2', '-o', prog, src], check=True)
    got, out, err = zc(prog)
    assert got == runner.EXIT_INVALID
    assert b'invalid program' in err and b'rdrand' in err
    assert err.count(b'\n') == 1
    # A trusted program may skip validation.
    assert zc('--no-validate', prog)[0] == 0


def test_valid_programs_are_validated_and_run(programs):
    status, out, err = zc(programs.build('probe'), 'read', stdin=b'abcde')
    assert (status, out, err) == (0, b'ok 5\n', b'')


def _tar(path, members):
    import tarfile
    with tarfile.open(path, 'w') as tar:
        for name, host in members:
            tar.add(host, name)
    return path


def test_an_image_is_seen_from_the_root(programs, tmp_path):
    motd = tmp_path / 'motd'
    motd.write_bytes(b'hello image')
    img = _tar(tmp_path / 'img.tar', [('etc/motd', motd)])
    status, out, err = zc('--image', img, programs.build('files'),
                          'cat', '/etc/motd', 'ls', '/dev')
    assert (status, err) == (0, b'')
    assert out == (b'hello image\n'
                   b'ls /dev: ./ ../ in/ out/ stdin| stdout| stderr| '
                   b'image|\n')


def test_the_program_may_come_from_an_image(programs, tmp_path):
    motd = tmp_path / 'motd'
    motd.write_bytes(b'from the tools image')
    img = _tar(tmp_path / 'tools.tar', [
        ('bin/files', programs.build('files')), ('etc/motd', motd)])
    status, out, err = zc('--image', 'tools=%s' % img,
                          'file://tools:/bin/files', 'cat', '/etc/motd',
                          'ls', '/bin')
    assert (status, err) == (0, b'')
    assert out == b'from the tools image\nls /bin: ./ ../ files\n'


@pytest.mark.parametrize('args,text', [
    (['--image', 'NOTATAR', 'PROG'], b'is not an uncompressed tar'),
    (['--image', 'a b=IMG', 'PROG'], b'device path'),
    (['--image', 'stdout=IMG', 'PROG'], b'device path'),
    (['file://tools:bin/files'], b'no image named tools'),
    (['--image', 'tools=IMG', 'file://tools:bin/nope'],
     b'bin/nope: no such file in image tools'),
    (['--image', 'tools=IMG', 'file://tools:bin'],
     b'bin: no such file in image tools'),
])
def test_image_errors_are_one_line(programs, tmp_path, args, text):
    notatar = tmp_path / 'notatar'
    notatar.write_bytes(b'x' * 2000)
    img = _tar(tmp_path / 'tools.tar', [('bin/files',
                                         programs.build('files'))])
    subst = {'PROG': programs.build('files'), 'NOTATAR': str(notatar)}
    args = [subst.get(a, a.replace('IMG', str(img))) for a in args]
    got, out, err = zc(*args)
    assert got == runner.EXIT_ERROR
    assert text in err
    assert err.count(b'\n') == 1
    assert out == b''


def test_a_script_needs_an_image_for_its_interpreter(tmp_path):
    script = tmp_path / 'hello.sh'
    script.write_bytes(b'#!/bin/sh\necho hi\n')
    got, out, err = zc(script)
    assert got == runner.EXIT_ERROR and out == b''
    assert err == (b'zerocloud: %s: its "#!" line "#!/bin/sh" names no '
                   b'system image (use #!file://IMAGE:PATH); --image '
                   b'NAME=TAR gives the images\n' % str(script).encode())


def test_a_script_runs_its_image_s_interpreter(programs, tmp_path):
    motd = tmp_path / 'motd'
    motd.write_bytes(b'from the image')
    img = _tar(tmp_path / 'tools.tar', [
        ('bin/files', programs.build('files')), ('etc/motd', motd)])
    script = tmp_path / 'show'
    script.write_bytes(b'#!file://tools:bin/files cat\n')
    # As a kernel would: the line's argument, the script, then ours.
    got, out, err = zc('--image', 'tools=%s' % img, script, 'ls', '/etc')
    assert (got, err) == (0, b'')
    assert out == b'#!file://tools:bin/files cat\n\nls /etc: ./ ../ motd\n'
