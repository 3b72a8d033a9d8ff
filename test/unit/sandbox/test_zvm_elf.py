# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Malformed and hostile ELF files given straight to the launcher.

The validator is skipped on purpose: the loader in zvm must refuse every
one of these itself, with a clear message, and never crash or hang.
"""
import random
import struct

import pytest

from zerocloud.executor.result import LauncherStatus, Reason


def _patch(data, offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def _phdr_offset(data, index):
    phoff = struct.unpack_from('<Q', data, 32)[0]
    return phoff + 56 * index


def _first_load(data):
    phnum = struct.unpack_from('<H', data, 56)[0]
    for i in range(phnum):
        if struct.unpack_from('<I', data, _phdr_offset(data, i))[0] == 1:
            return i
    raise AssertionError('no PT_LOAD')


def _text_load(data):
    phnum = struct.unpack_from('<H', data, 56)[0]
    for i in range(phnum):
        off = _phdr_offset(data, i)
        kind, flags = struct.unpack_from('<II', data, off)
        if kind == 1 and flags & 1:
            return i
    raise AssertionError('no executable PT_LOAD')


def _mutations(hello):
    load = _phdr_offset(hello, _first_load(hello))
    text = _phdr_offset(hello, _text_load(hello))
    return {
        'empty': (b'', 'not an ELF file'),
        'garbage': (bytes(range(256)) * 20, 'not an ELF file'),
        'text': (b'#!/bin/sh\necho hi\n', 'not an ELF file'),
        'truncated header': (hello[:40], 'truncated ELF header'),
        'truncated phdrs': (hello[:100], 'program headers past the end'),
        '32-bit': (_patch(hello, 4, 'B', 1), 'ELFCLASS64'),
        'big-endian': (_patch(hello, 5, 'B', 2), 'little-endian'),
        'not x86-64': (_patch(hello, 18, '<H', 183), 'not an x86-64'),
        'relocatable': (_patch(hello, 16, '<H', 1), 'not an executable'),
        'bad phentsize': (_patch(hello, 54, '<H', 32),
                          'program header size'),
        'too many phdrs': (_patch(hello, 56, '<H', 5000),
                           'program headers (1..64'),
        'no phdrs': (_patch(hello, 56, '<H', 0), 'program headers (1..64'),
        'segment past EOF': (_patch(hello, load + 8, '<Q', 1 << 40),
                             'past the end of the file'),
        'filesz above memsz': (_patch(hello, load + 40, '<Q', 0),
                               'file size above memory size'),
        'writable code': (_patch(hello, text + 4, '<I', 7),
                          'writable and executable'),
        'segment in launcher range': (
            _patch(hello, load + 16, '<Q', 0x7e0000000000),
            'outside the guest range'),
        'huge segment': (_patch(hello, load + 40, '<Q', 1 << 62),
                         'absurd size'),
        'entry outside code': (_patch(hello, 24, '<Q', 0x10),
                               'entry point'),
        'interp': (None, 'dynamically linked (PT_INTERP)'),
    }


CASES = [
    'empty', 'garbage', 'text', 'truncated header', 'truncated phdrs',
    '32-bit', 'big-endian', 'not x86-64', 'relocatable', 'bad phentsize',
    'too many phdrs', 'no phdrs', 'segment past EOF', 'filesz above memsz',
    'writable code', 'segment in launcher range', 'huge segment',
    'entry outside code', 'interp']


@pytest.fixture(scope='module')
def hello_bytes(programs):
    with open(programs.build('determinism'), 'rb') as f:
        return f.read()


@pytest.mark.parametrize('case', CASES)
def test_refused_with_a_message(programs, sandbox, hello_bytes, tmp_path,
                                case):
    data, message = _mutations(hello_bytes)[case]
    if data is None:
        path = programs.build('determinism', 'dynamic')
    else:
        path = tmp_path / 'prog'
        path.write_bytes(data)
    result, out, err = sandbox.run(str(path))
    assert result.reason is Reason.INVALID_BINARY, result
    assert result.launcher_status is LauncherStatus.INVALID_BINARY
    assert message in result.message
    assert out == err == b''


def test_directory_is_not_a_program(sandbox, tmp_path):
    result, _, _ = sandbox.run(str(tmp_path))
    assert result.reason is Reason.INVALID_BINARY
    assert result.message == 'the program is not a regular file'


def _mutants(seed, count, base):
    rnd = random.Random(seed)
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 8)):
            if rnd.random() < 0.7:      # the headers, where the loader looks
                pos = rnd.randrange(0, min(len(data), 64 + 56 * 12))
            else:
                pos = rnd.randrange(len(data))
            data[pos] = rnd.randrange(256)
        if rnd.random() < 0.1:
            data = data[:rnd.randrange(len(data))]
        yield bytes(data)


@pytest.mark.parametrize('count', [
    150, pytest.param(3000, marks=pytest.mark.slow)])
def test_mutants_never_crash_or_hang_the_launcher(programs, sandbox,
                                                  hello_bytes, tmp_path,
                                                  count):
    from zerocloud.sandbox import manifest as mf
    path = tmp_path / 'mutant'
    limits = mf.Limits(memory=64 << 20, timeout=5, cpu=2)
    seen = set()
    for data in _mutants(1234, count, hello_bytes):
        path.write_bytes(data)
        result, _, _ = sandbox.run(str(path), limits=limits)
        # A clean refusal, or a run that ended for a reason of the guest's.
        assert result.launcher_status in (LauncherStatus.OK,
                                          LauncherStatus.INVALID_BINARY)
        assert result.reason is not Reason.LAUNCHER_ERROR, result.message
        seen.add(result.reason)
    assert Reason.INVALID_BINARY in seen


@pytest.mark.parametrize('count', [
    300, pytest.param(10000, marks=pytest.mark.slow)])
def test_mutants_the_validator_accepts_run_cleanly(sandbox, tmp_path, count):
    """Every mutant validate() accepts also runs in zvm without crashing
    the launcher (the program may fail, cleanly)."""
    from validator_mutants import mutants
    from zerocloud.exceptions import ValidationError
    from zerocloud.sandbox import manifest as mf
    from zerocloud.sandbox import validator
    path = tmp_path / 'mutant'
    limits = mf.Limits(memory=64 << 20, timeout=5, cpu=2)
    ran = 0
    for data in mutants(99, count):
        try:
            validator.validate(data)
        except ValidationError:
            continue
        path.write_bytes(data)
        result, _, _ = sandbox.run(str(path), limits=limits)
        assert result.launcher_status in (LauncherStatus.OK,
                                          LauncherStatus.INVALID_BINARY)
        assert result.reason is not Reason.LAUNCHER_ERROR, result.message
        ran += 1
    assert ran > 0
