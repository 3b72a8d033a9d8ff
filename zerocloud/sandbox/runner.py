# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud run``: run one program in the sandbox from the shell.

This module holds the verb's options and its exit-status contract; the work
is :func:`zerocloud.sandbox.launcher.run`.
"""
import argparse
import json
import os
import re
import sys

from zerocloud.exceptions import (SandboxError, ValidationError,
                                  ZeroCloudError)
from zerocloud.executor.result import Reason
from zerocloud.sandbox import image
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf
from zerocloud.sandbox import validator

__all__ = ['DESCRIPTION', 'add_arguments', 'main', 'parse_size',
           'EXIT_TIMEOUT', 'EXIT_ERROR', 'EXIT_INVALID', 'EXIT_NOT_FOUND']

#: Exit statuses of ``zerocloud run`` besides the program's own (the
#: conventions of timeout(1) and env(1)).
EXIT_TIMEOUT = 124      #: the wall-clock limit was reached
#: zerocloud itself failed: bad option, missing file, or an output's
#: destination refused the bytes (reason ``output-error``)
EXIT_ERROR = 125
EXIT_INVALID = 126      #: the program is not a valid static x86-64 ELF
EXIT_NOT_FOUND = 127    #: the program does not exist

DESCRIPTION = """\
Run PROGRAM, a static x86-64 ELF, in the zerocloud sandbox.

The program sees only its channels: /dev/stdin, /dev/stdout and /dev/stderr
(by default the caller's own streams, so `echo hi | zerocloud run ./prog`
works), /dev/input and /dev/output, /dev/in/NAME, /dev/out/NAME, and the
read-only files of the --image tars from / (PROGRAM may be one of them:
file://NAME:PATH, e.g. file://python:bin/python).  Time,
randomness, pids and memory addresses are deterministic: the same program,
arguments, inputs and --seed give the same bytes.

exit status: the program's exit status, or 128+N when killed by signal N;
124 wall-clock timeout; 125 zerocloud error (bad option, missing file,
launcher failure, or an output that could not be written: disk full, reader
gone); 126 invalid program; 127 program not found.  When a limit ends the
run, or an output is incomplete, one line on stderr names it.
"""

_SIZE = re.compile(r'^\s*(\d+)\s*([kKmMgGtT]?)i?[bB]?\s*$')
_MULT = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}


def parse_size(text):
    """'64M' -> 67108864; plain numbers are bytes (binary multiples)."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError('bad size %r (use e.g. 65536, 512K, 64M, 2G)' % text)
    return int(m.group(1)) * _MULT[m.group(2).lower()]


def add_arguments(p):
    def one_line_error(message):
        # A bad option is one line on stderr and a status of our own, not
        # argparse's usage dump and 2 (which a program may also return).
        sys.stderr.write('zerocloud run: %s\n' % message)
        sys.exit(EXIT_ERROR)
    p.error = one_line_error
    p.add_argument('program', metavar='PROGRAM')
    # Everything after PROGRAM is the program's, dashes included.
    p.add_argument('args', nargs=argparse.REMAINDER, metavar='ARG')
    g = p.add_argument_group('channels')
    g.add_argument('--stdin', metavar='PATH', help='file for /dev/stdin')
    g.add_argument('--stdout', metavar='PATH', help='file for /dev/stdout')
    g.add_argument('--stderr', metavar='PATH', help='file for /dev/stderr')
    g.add_argument('--input', metavar='PATH', help='file for /dev/input')
    g.add_argument('--output', metavar='PATH', help='file for /dev/output')
    g.add_argument('--in', dest='ins', action='append', default=[],
                   metavar='NAME=PATH', help='file for /dev/in/NAME')
    g.add_argument('--out', dest='outs', action='append', default=[],
                   metavar='NAME=PATH', help='file for /dev/out/NAME')
    g.add_argument('--image', dest='images', action='append', default=[],
                   metavar='[NAME=]TAR',
                   help='an uncompressed tar whose files the program sees '
                   'from / (read-only), also readable as /dev/NAME '
                   '(default NAME: image); repeatable, the first holding '
                   'a path wins')
    g = p.add_argument_group('program')
    g.add_argument('--env', action='append', default=[], metavar='K=V',
                   help='environment entry (the host environment is never '
                        'passed)')
    g.add_argument('--seed', default='0', metavar='N',
                   help='seed of getrandom() and AT_RANDOM (default 0)')
    g = p.add_argument_group('limits')
    g.add_argument('--memory', default=str(mf.DEFAULT_MEMORY), metavar='SIZE',
                   help='address space for the program, stack included '
                        '(default 256M)')
    g.add_argument('--cpu', metavar='SECONDS', help='CPU seconds')
    g.add_argument('--timeout', metavar='SECONDS', help='wall-clock seconds')
    g.add_argument('--max-output', metavar='BYTES',
                   help='total bytes over all output channels')
    g.add_argument('--report', metavar='PATH',
                   help='write the JSON report there ("-" for stderr)')
    g.add_argument('--no-validate', action='store_true',
                   help='skip static validation (trusted programs only)')


def _err(msg, status):
    sys.stderr.write('zerocloud: %s\n' % msg)
    return status


def _pair(text, what):
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise ValueError('%s wants NAME=PATH, got %r' % (what, text))
    return name, path


def _options(args):
    """Parse option values; ValueError carries a one-line message."""
    env = {}
    for e in args.env:
        k, sep, v = e.partition('=')
        if not sep or not k:
            raise ValueError('--env wants K=V, got %r' % e)
        env[k] = v
    try:
        seed = int(args.seed, 0)
    except ValueError:
        raise ValueError('--seed wants an integer, got %r' % args.seed)

    def seconds(v, name, integer=False):
        if v is None:
            return None
        try:
            x = int(v) if integer else float(v)
        except ValueError:
            raise ValueError('%s wants a number of seconds, got %r'
                             % (name, v))
        if x <= 0:
            raise ValueError('%s must be positive' % name)
        return x

    limits = mf.Limits(
        memory=parse_size(args.memory),
        cpu=seconds(args.cpu, '--cpu', integer=True),
        timeout=seconds(args.timeout, '--timeout'),
        max_output=(parse_size(args.max_output)
                    if args.max_output is not None else None))
    limits.check()
    return env, seed, limits


def _open_channels(args, opened):
    """[(guest path, mode, host fd)] in a fixed order; opens files."""
    chans = []

    def add(path, mode, host, default_fd=None):
        if host is None:
            if default_fd is None:
                return
            chans.append(mf.Channel(path, mode, default_fd))
            return
        if mode == mf.READ:
            fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        else:
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                         os.O_CLOEXEC, 0o644)
        opened.append(fd)
        chans.append(mf.Channel(path, mode, fd))

    add('/dev/stdin', mf.READ, args.stdin, 0)
    add('/dev/stdout', mf.WRITE, args.stdout, 1)
    add('/dev/stderr', mf.WRITE, args.stderr, 2)
    add('/dev/input', mf.READ, args.input)
    add('/dev/output', mf.WRITE, args.output)
    for text in args.ins:
        name, host = _pair(text, '--in')
        add('/dev/in/' + name, mf.READ, host)
    for text in args.outs:
        name, host = _pair(text, '--out')
        add('/dev/out/' + name, mf.WRITE, host)
    for text in args.images:
        name, host = _pair(text, '--image') if '=' in text else (
            'image', text)
        add('/dev/' + name, mf.READ, host)
        chans[-1] = mf.Channel(chans[-1].path, mf.READ, chans[-1].fd,
                               image=image.index_fd(chans[-1].fd, host))
    for c in chans:
        c.check()
    return chans


def _validate(program):
    """Static validation (cached by digest); an error message or None."""
    try:
        validator.validate_cached(program)
    except ValidationError as e:
        return str(e)
    return None


def _image_program(spec, channels, opened):
    """``file://NAME:PATH``: the file PATH of image /dev/NAME, copied to a
    memfd (whose /proc path is returned), or raise ValueError."""
    name, _, path = spec[len('file://'):].partition(':')
    for c in channels:
        if c.image is not None and c.path == '/dev/' + name:
            entry = c.image.find(path)
            if entry is None or entry.isdir:
                raise ValueError('%s: no such file in image %s' % (path, name))
            fd = image.extract(c.fd, entry)
            opened.append(fd)
            return '/proc/self/fd/%d' % fd
    raise ValueError('%s: no image named %s (use --image %s=TAR)'
                     % (spec, name, name))


def _script(path, channels, opened):
    """A ``#!`` script (its line naming an interpreter in one of the
    --image tars, :func:`zerocloud.job.parse_shebang`) runs that
    interpreter on ``/dev/script``, as a job's does: returns the program
    (a ``file://`` URL) and the arguments before the user's, and adds the
    script's channel.  Anything else: ``(path, [])``."""
    from zerocloud.exceptions import JobError
    from zerocloud.job import SCRIPT_ALIAS, SHEBANG_MAX, parse_shebang
    with open(path, 'rb') as f:
        head = f.read(SHEBANG_MAX)
    images = [c.path[len('/dev/'):] for c in channels if c.image is not None]
    try:
        found = parse_shebang(head, images, path)
    except JobError as exc:
        raise ValueError('%s; --image NAME=TAR gives the images' % exc) \
            from None
    if found is None:
        return path, []
    interpreter, arg = found
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    opened.append(fd)
    channels.append(mf.Channel(SCRIPT_ALIAS, mf.READ, fd))
    return interpreter.url, ([arg] if arg else []) + [SCRIPT_ALIAS]


def main(args):
    program = args.program
    from_image = program.startswith('file://')
    if not from_image and not os.path.exists(program):
        return _err('%s: no such program' % program, EXIT_NOT_FOUND)
    if not from_image and not os.path.isfile(program):
        return _err('%s: not a regular file' % program, EXIT_INVALID)
    opened = []
    try:
        env, seed, limits = _options(args)
        channels = _open_channels(args, opened)
        name = os.path.basename(args.program.rpartition(':')[2]
                                if from_image else program)
        before = []
        if not from_image:
            program, before = _script(program, channels, opened)
        if program.startswith('file://'):
            program = _image_program(program, channels, opened)
        if not args.no_validate:
            problem = _validate(program)
            if problem:
                return _err('%s: invalid program: %s' % (program, problem),
                            EXIT_INVALID)
        argv = [name] + before + list(args.args)
        result = launcher.run(program, argv, env, channels, seed, limits)
    except (ValueError, ZeroCloudError) as e:
        return _err(str(e), EXIT_ERROR)
    except SandboxError as e:
        return _err('sandbox failed: %s' % e, EXIT_ERROR)
    except OSError as e:
        return _err('%s: %s' % (e.filename or program, e.strerror), EXIT_ERROR)
    finally:
        for fd in opened:
            os.close(fd)
    if args.report:
        text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + '\n'
        if args.report == '-':
            sys.stderr.write(text)
        else:
            with open(args.report, 'w') as f:
                f.write(text)
    return _status(result, program)


def _status(result, program):
    r = result.reason
    if r is Reason.INVALID_BINARY:
        return _err('%s: invalid program: %s' % (program, result.message),
                    EXIT_INVALID)
    if r is Reason.LAUNCHER_ERROR:
        return _err('sandbox failed: %s' % result.message, EXIT_ERROR)
    if r is Reason.TIMEOUT:
        return _err('%s: wall-clock timeout' % program, EXIT_TIMEOUT)
    if r is Reason.OUTPUT_ERROR:
        # The output is incomplete whatever the program's own status was.
        return _err('%s: output error: %s' % (program, result.message),
                    EXIT_ERROR)
    if r is Reason.MEMORY and result.exit_code is None and not result.signal:
        return _err('%s: %s' % (program, result.message), EXIT_ERROR)
    if r in (Reason.CPU, Reason.MEMORY, Reason.OUTPUT_LIMIT, Reason.POLICY):
        _err('%s: stopped: %s (%s)' % (program, r.value, result.message), 0)
    status = result.shell_status
    return EXIT_ERROR if status is None else status
