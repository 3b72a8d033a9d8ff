# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Tests of zerocloud.sandbox.validator and the ``validate`` CLI verb.

Every program is compiled by the tests (gcc, musl-gcc) or assembled by
:mod:`validator_mutants`; no binary fixture is checked in.
"""
import json
import os
import random
import shutil
import struct
import subprocess
import time

import pytest

from zerocloud import cli
from zerocloud.exceptions import ValidationError, ZeroCloudError
from zerocloud.sandbox import validator
from zerocloud.sandbox.validator import (ValidationCache, ValidationResult,
                                         validate, validate_cached)

from validator_mutants import (EHDR_FIELDS, PHDR_FIELDS, elf32_header,
                               mutants, set_field, tiny_elf)

HELLO = r'''
#include <stdio.h>
int main(void) { printf("hello\n"); return 0; }
'''

#: A glibc program executing one instruction from inline assembly.
INLINE = r'''
#include <stdio.h>
int main(void) {
    unsigned long r = 0;
    __asm__ volatile("%s" : "+a"(r) : : "rcx", "rdx", "cc");
    printf("%%lu\n", r);
    return 0;
}
'''

#: Freestanding programs: smaller and faster to build and to scan.
START = r'''
void _start(void) {
    __asm__ volatile(%s
        "mov $60, %%eax\n xor %%edi, %%edi\n syscall\n");
}
'''

#: b8 0f c7 f0 90 is ``mov eax, 0x90f0c70f``; one byte in, it is
#: ``rdrand eax; nop``.
HIDDEN_DIRECT = r'"jmp 1f + 1\n 1: movl $0x90f0c70f, %eax\n"'
HIDDEN_INDIRECT = (r'"lea 1f + 1(%rip), %rax\n jmp *%rax\n'
                   r' 1: movl $0x90f0c70f, %eax\n"')
HIDDEN_UNREACHED = r'"movl $0x90f0c70f, %eax\n"'


def _cc(outdir, name, source, *flags, compiler='gcc'):
    src = os.path.join(outdir, name + '.c')
    exe = os.path.join(outdir, name)
    with open(src, 'w') as f:
        f.write(source)
    proc = subprocess.run([compiler, '-O2', '-o', exe, src] + list(flags),
                          capture_output=True, text=True)
    if proc.returncode:
        return None
    return exe


@pytest.fixture(scope='session')
def progs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp('validator-progs'))
    p = {
        'static': _cc(d, 'static', HELLO, '-static'),
        'static-pie': _cc(d, 'static-pie', HELLO, '-static-pie'),
        'dynamic': _cc(d, 'dynamic', HELLO),
        'shared': _cc(d, 'shared.so', HELLO, '-shared', '-fPIC'),
        'object': _cc(d, 'object.o', HELLO, '-c'),
        'execstack': _cc(d, 'execstack', HELLO, '-static',
                         '-Wl,-z,execstack'),
        'entry-data': _cc(d, 'entry-data', 'int data_entry[4];\n' + HELLO,
                          '-static', '-Wl,-e,data_entry'),
        'rdrand': _cc(d, 'rdrand', INLINE % 'rdrand %%rax', '-static'),
        'rdseed': _cc(d, 'rdseed', INLINE % 'rdseed %%eax', '-static'),
        'rwx': _cc(d, 'rwx', START % '', '-static', '-nostdlib', '-Wl,-N'),
        'i386': _cc(d, 'i386', START % '', '-m32', '-static', '-nostdlib'),
    }
    for name, insn in [('rdpid', 'rdpid %rax'), ('rdpmc', 'rdpmc'),
                       ('lsl', 'lsl %ax, %eax'), ('cpuid', 'cpuid'),
                       ('rdtsc', 'rdtsc'), ('syscall', ''),
                       ('hidden-direct', None),
                       ('hidden-indirect', None),
                       ('hidden-unreached', None)]:
        body = {'hidden-direct': HIDDEN_DIRECT,
                'hidden-indirect': HIDDEN_INDIRECT,
                'hidden-unreached': HIDDEN_UNREACHED}.get(name)
        if body is None:
            body = '"%s\\n"' % insn
        p[name] = _cc(d, name, START % body, '-static', '-nostdlib')
    if shutil.which('musl-gcc'):
        p['musl'] = _cc(d, 'musl', HELLO, '-static', compiler='musl-gcc')
    for name, path in p.items():
        if name not in ('i386', 'rwx', 'musl') and path is None:
            raise AssertionError('could not compile fixture %s' % name)
    return p


def _bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def _refused(what, code):
    with pytest.raises(ValidationError) as info:
        validate(what)
    assert info.value.code == code, str(info.value)
    assert isinstance(info.value, ZeroCloudError)
    return info.value


# --- accepted programs -----------------------------------------------------

@pytest.mark.parametrize('name,fmt', [('static', 'static'),
                                      ('static-pie', 'static-pie'),
                                      ('musl', 'static')])
def test_compiled_programs_are_accepted(progs, name, fmt):
    if progs.get(name) is None:
        pytest.skip('musl-gcc is not installed')
    result = validate(progs[name])
    assert isinstance(result, ValidationResult)
    assert result.format == fmt
    assert any('x' in s.flags and s.vaddr <= result.entry < s.vaddr + s.memsz
               for s in result.segments)
    assert result.exec_bytes > 0 and result.exec_bytes % 4096 == 0
    assert result.size == os.path.getsize(progs[name])
    assert len(result.sha256) == 64
    assert result.elapsed_ms >= 0 and not result.cached
    json.dumps(result.to_dict())


def test_glibc_cpuid_and_rdtsc_are_allowed_and_counted(progs):
    result = validate(progs['static'])
    assert result.noted['cpuid'] > 0 and result.noted['rdtsc'] > 0
    assert result.instructions_confirmed == sum(result.noted.values())
    assert result.candidates >= result.instructions_confirmed


@pytest.mark.parametrize('name', ['cpuid', 'rdtsc', 'syscall'])
def test_allowed_instructions(progs, name):
    result = validate(progs[name])
    if name != 'syscall':
        assert result.noted == {name: 1}


def test_stripped_glibc_programs_are_accepted(progs, tmp_path):
    # Without symbols the code is decoded from sections, and without
    # section headers from just before each hit: still no false positive.
    for name in ('static', 'static-pie'):
        stripped = str(tmp_path / name)
        subprocess.run(['strip', '-o', stripped, progs[name]], check=True)
        validate(stripped)
        data = bytearray(_bytes(progs[name]))
        data[40:48] = bytes(8)      # e_shoff
        data[60:62] = bytes(2)      # e_shnum
        validate(bytes(data))


def test_path_and_bytes_agree(progs):
    by_path = validate(progs['static']).to_dict()
    by_bytes = validate(_bytes(progs['static'])).to_dict()
    for d in (by_path, by_bytes):
        d.pop('elapsed_ms')
    assert by_path == by_bytes


def test_tiny_handmade_programs_are_accepted():
    assert validate(tiny_elf()).format == 'static'
    assert validate(tiny_elf(e_type=3, base=0)).format == 'static-pie'


def test_result_round_trips_through_dict(progs):
    result = validate(progs['static'])
    assert ValidationResult.from_dict(result.to_dict()) == result
    assert result.summary().startswith('static, entry 0x')


# --- refused files and headers ---------------------------------------------

def test_empty_file(tmp_path):
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    _refused(str(empty), 'empty')


def test_garbage():
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(4096))
    err = _refused(garbage, 'not-elf')
    assert 'not an ELF file' in str(err)


def test_text_file(progs):
    _refused(progs['static'] + '.c', 'not-elf')


def test_missing_file(tmp_path):
    err = _refused(str(tmp_path / 'nope'), 'unreadable')
    assert 'No such file' in str(err)


def test_32_bit(progs):
    data = _bytes(progs['i386']) if progs['i386'] else elf32_header()
    err = _refused(data, 'elf-class')
    assert 'ELFCLASS64' in str(err) and '32-bit' in str(err)
    _refused(elf32_header(), 'elf-class')


def test_other_machine():
    err = _refused(tiny_elf(machine=183), 'machine')
    assert 'EM_AARCH64' in str(err) and 'EM_X86_64' in str(err)


def test_relocatable_object(progs):
    err = _refused(progs['object'], 'elf-type')
    assert 'ET_REL' in str(err)
    _refused(tiny_elf(e_type=4), 'elf-type')


@pytest.mark.parametrize('cut,code', [(3, 'not-elf'), (40, 'truncated'),
                                      (100, 'truncated'),
                                      (None, 'segment-bounds')])
def test_truncated(progs, cut, code):
    data = _bytes(progs['static'])
    if cut is None:
        cut = len(data) // 2
    _refused(data[:cut], code)


def test_too_many_program_headers():
    data = set_field(tiny_elf(), *EHDR_FIELDS['e_phnum'], 1000)
    err = _refused(data, 'too-many-phdrs')
    assert '1000' in str(err)


def test_bad_program_header_size():
    _refused(set_field(tiny_elf(), *EHDR_FIELDS['e_phentsize'], 32),
             'bad-header')


def test_no_program_headers():
    _refused(set_field(tiny_elf(), *EHDR_FIELDS['e_phnum'], 0),
             'no-segments')


# --- refused linking -------------------------------------------------------

def test_dynamic_program(progs):
    err = _refused(progs['dynamic'], 'dynamic')
    assert 'interpreter /lib64/ld-linux-x86-64.so.2' in str(err)


def test_shared_library_needing_libc(progs):
    err = _refused(progs['shared'], 'dynamic')
    assert 'libc.so' in str(err)


def test_pt_interp_in_a_handmade_file():
    data = bytearray(tiny_elf(extra_phdrs=[(3, 4, 0x800, 0x400800, 8, 8)]))
    data[0x800:0x808] = b'/ld.so\0\0'
    err = _refused(bytes(data), 'dynamic')
    assert '/ld.so' in str(err)


# --- refused memory images -------------------------------------------------

def _patch_phdr(data, index, **fields):
    phoff = struct.unpack_from('<Q', data, 32)[0]
    for name, value in fields.items():
        off, fmt = PHDR_FIELDS[name]
        data = set_field(data, phoff + 56 * index + off, fmt, value)
    return data


def _load_index(data, flag):
    phoff, = struct.unpack_from('<Q', data, 32)
    phnum, = struct.unpack_from('<H', data, 56)
    for i in range(phnum):
        p_type, p_flags = struct.unpack_from('<II', data, phoff + 56 * i)
        if p_type == 1 and p_flags & flag:
            return i
    raise AssertionError('no such segment')


def test_rwx_segment(progs):
    if progs['rwx']:
        err = _refused(progs['rwx'], 'wx-segment')
    else:
        err = _refused(tiny_elf(flags=7), 'wx-segment')
    assert 'writable and executable' in str(err)
    _refused(tiny_elf(flags=7), 'wx-segment')


def test_rwx_patched_into_glibc(progs):
    data = _bytes(progs['static'])
    text = _load_index(data, 1)
    _refused(_patch_phdr(data, text, p_flags=7), 'wx-segment')


def test_executable_stack(progs):
    err = _refused(progs['execstack'], 'exec-stack')
    assert 'PT_GNU_STACK' in str(err)


def test_entry_outside_code(progs):
    err = _refused(progs['entry-data'], 'entry')
    assert 'outside every executable segment' in str(err)
    _refused(tiny_elf(entry=0x400000), 'entry')


def test_overlapping_segments():
    data = tiny_elf(extra_phdrs=[(1, 4, 0x1000, 0x401000, 8, 8)])
    err = _refused(data, 'segment-overlap')
    assert 'overlap' in str(err)


def test_segments_sharing_a_page():
    data = tiny_elf(extra_phdrs=[(1, 6, 0x800, 0x401800, 0, 8)])
    err = _refused(data, 'segment-overlap')
    assert 'share the page' in str(err)


def test_segment_past_end_of_file():
    data = tiny_elf()
    err = _refused(_patch_phdr(data, 0, p_filesz=0x10000, p_memsz=0x10000),
                   'segment-bounds')
    assert 'past the end of the file' in str(err)


def test_absurdly_large_segment(progs):
    data = _bytes(progs['static'])
    bss = _load_index(data, 2)
    err = _refused(_patch_phdr(data, bss, p_memsz=1 << 40), 'too-large')
    assert 'bytes of memory' in str(err)


def test_segment_outside_guest_addresses():
    _refused(tiny_elf(base=0), 'segment-address')
    _refused(tiny_elf(base=validator.MAX_ADDRESS), 'segment-address')


def test_misaligned_segment():
    _refused(_patch_phdr(tiny_elf(), 0, p_offset=0xfff), 'segment-alignment')


# --- refused instructions --------------------------------------------------

@pytest.mark.parametrize('name,mnemonic,raw', [
    ('rdrand', 'rdrand', '480fc7f0'),
    ('rdseed', 'rdseed', '0fc7f8'),
    ('rdpid', 'rdpid', 'f30fc7f8'),
    ('rdpmc', 'rdpmc', '0f33'),
    ('lsl', 'lsl', '0f03c0'),
])
def test_forbidden_instruction(progs, name, mnemonic, raw):
    err = _refused(progs[name], 'instruction')
    assert err.mnemonic == mnemonic
    assert err.bytes == raw
    assert '%#x' % err.address in str(err)
    assert ' '.join(raw[i:i + 2] for i in range(0, len(raw), 2)) in str(err)
    assert mnemonic in str(err)
    if name in ('rdrand', 'rdseed'):
        assert ' in main+0x' in str(err)


def test_thousands_of_hidden_encodings_are_refused_unjudged():
    # mov eax, 0x90f0c70f: an rdrand hidden one byte in, never reached.
    # Judging each took milliseconds: 13,000 of them held a validator
    # (one at a time per object server) for half a minute.
    from zerocloud.sandbox import codescan
    hiding = b'\xb8\x0f\xc7\xf0\x90'
    exit_0 = b'\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05'
    few = validate(tiny_elf(exit_0 + hiding * 50))
    assert len(few.hidden) == 50
    many = codescan.MAX_FORBIDDEN_ENCODINGS + 1
    err = _refused(tiny_elf(exit_0 + hiding * many), 'too-many-hidden')
    assert str(err).startswith('%d encodings of forbidden instructions '
                               '(more than %d)' % (
                                   many, codescan.MAX_FORBIDDEN_ENCODINGS))


def test_the_stored_address_search_is_bounded(monkeypatch):
    from zerocloud.sandbox import codescan
    hiding = b'\xb8\x0f\xc7\xf0\x90'
    exit_0 = b'\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05'
    code = exit_0 + hiding * 10
    code += bytes(-len(code) % 0x1000)
    data_off = 0x1000 + len(code)
    blob = tiny_elf(code, extra_phdrs=[
        (1, 6, data_off, 0x10000000 + data_off, 0x2000, 0x2000)])
    blob += b'\x11' * 0x2000
    assert len(validate(blob).hidden) == 10
    monkeypatch.setattr(codescan, 'MAX_DATA_SEARCH', 0x2000 * 5)
    err = _refused(blob, 'too-many-hidden')
    assert 'beside 8192 bytes of data' in str(err)


def test_hidden_encoding_reached_by_a_jump(progs):
    err = _refused(progs['hidden-direct'], 'instruction')
    assert err.mnemonic == 'rdrand'
    assert 'hidden inside `mov eax, 0x90f0c70f`' in str(err)
    assert 'reached from 0x' in str(err)


def test_hidden_encoding_reached_by_an_indirect_jump(progs):
    err = _refused(progs['hidden-indirect'], 'instruction')
    assert err.mnemonic == 'rdrand'
    assert 'hidden inside' in str(err)


def test_hidden_encoding_nothing_reaches_is_accepted(progs):
    result = validate(progs['hidden-unreached'])
    assert len(result.hidden) == 1
    assert result.hidden[0].startswith('rdrand eax at 0x')


def test_hidden_encoding_at_the_entry_point(progs):
    data = _bytes(progs['hidden-unreached'])
    entry, = struct.unpack_from('<Q', data, 24)
    # _start's body begins with the mov; its immediate starts one byte in.
    code = validate(data)
    address = int(code.hidden[0].split(' at ')[1].split()[0], 16)
    patched = set_field(data, *EHDR_FIELDS['e_entry'], address)
    err = _refused(patched, 'instruction')
    assert 'the entry point' in str(err)
    assert address != entry


@pytest.mark.parametrize('where', [0, 8, 4088])
def test_hidden_encoding_whose_address_is_stored(progs, where):
    data = _bytes(progs['hidden-unreached'])
    address = int(validate(data).hidden[0].split(' at ')[1].split()[0], 16)
    # Store it in a new read-only data segment, as a function pointer;
    # unaligned copies before it are other data's bytes, not pointers.
    pointer = struct.pack('<Q', address)
    page = bytearray(4096)
    for odd in (1, 3, 5, 7):
        if where >= odd + 8:
            page[where - odd - 8:where - odd] = pointer
    page[where:where + 8] = pointer
    offset = (len(data) + 4095) // 4096 * 4096
    data = data + bytes(offset - len(data)) + bytes(page)
    data = _add_phdr_in_place(data, (1, 4, offset, 0x800000, 4096, 4096))
    err = _refused(data, 'instruction')
    assert 'address is stored at file offset %#x' % (offset + where) \
        in str(err)


@pytest.mark.parametrize('odd', [1, 2, 4, 7])
def test_an_unaligned_copy_of_a_hidden_address_is_no_pointer(progs, odd):
    data = _bytes(progs['hidden-unreached'])
    address = int(validate(data).hidden[0].split(' at ')[1].split()[0], 16)
    page = bytearray(4096)
    page[odd:odd + 8] = struct.pack('<Q', address)
    page[4096 - 8 - odd:4096 - odd] = struct.pack('<Q', address)
    offset = (len(data) + 4095) // 4096 * 4096
    data = data + bytes(offset - len(data)) + bytes(page)
    data = _add_phdr_in_place(data, (1, 4, offset, 0x800000, 4096, 4096))
    assert len(validate(data).hidden) == 1


def test_glibc_programs_without_stdio_are_accepted(programs):
    # gcc -static on Debian 12: the address of a hidden lsl in
    # _dl_relocate_object was also two .eh_frame fields' bytes, unaligned.
    result = validate(programs.build('copy'))
    assert result.format == 'static'


def _add_phdr_in_place(data, phdr):
    """Replace the PT_GNU_STACK header (harmless to lose) with phdr."""
    phoff, = struct.unpack_from('<Q', data, 32)
    phnum, = struct.unpack_from('<H', data, 56)
    for i in range(phnum):
        if struct.unpack_from('<I', data, phoff + 56 * i)[0] == 0x6474e551:
            p_type, p_flags, off, vaddr, filesz, memsz = phdr
            raw = struct.pack('<IIQQQQQQ', p_type, p_flags, off, vaddr, vaddr,
                              filesz, memsz, 0x1000)
            at = phoff + 56 * i
            return data[:at] + raw + data[at + 56:]
    raise AssertionError('no PT_GNU_STACK to replace')


def test_forbidden_encoding_across_two_segments():
    # rdpmc split over two adjacent executable segments: 0f | 33.
    code = b'\x90' * 4095 + b'\x0f'
    data = tiny_elf(code=code, extra_phdrs=[(1, 5, 0x2000, 0x402000, 1, 1)])
    data = data + bytes(0x2000 - len(data)) + b'\x33'
    err = _refused(data, 'instruction')
    assert err.address == 0x401fff and err.mnemonic == 'rdpmc'


def test_tail_of_the_last_code_page_is_scanned():
    # The segment is 9 bytes, but its whole page is mapped executable.
    # After it: mov eax, 0x90f0c70f (rdrand eax, one byte in).
    code = tiny_elf()
    data = code + b'\x90' * 100 + bytes.fromhex('b80fc7f090')
    result = validate(data)
    assert result.exec_bytes == len(data) - 0x1000
    assert len(result.hidden) == 1


# --- the cache -------------------------------------------------------------

def test_cache_answers_the_second_time(progs):
    cache = ValidationCache()
    first = validate(progs['static'], cache=cache)
    second = validate(progs['static'], cache=cache)
    assert not first.cached and second.cached
    assert second.elapsed_ms == first.elapsed_ms
    assert cache.get(first.sha256) == first


def test_cached_reject_stays_a_reject(progs):
    cache = ValidationCache()
    with pytest.raises(ValidationError) as first:
        validate(progs['rdrand'], cache=cache)
    with pytest.raises(ValidationError) as second:
        validate(progs['rdrand'], cache=cache)
    assert str(first.value) == str(second.value)
    assert second.value.code == 'instruction'
    assert second.value.mnemonic == 'rdrand'
    assert isinstance(cache.get(first.value.sha256), ValidationError)


def test_cache_notices_a_rewritten_file(tmp_path, progs):
    cache = ValidationCache()
    path = tmp_path / 'prog'
    path.write_bytes(tiny_elf())
    assert not validate(str(path), cache=cache).cached
    assert validate(str(path), cache=cache).cached
    path.write_bytes(_bytes(progs['rdpmc']))
    with pytest.raises(ValidationError):
        validate(str(path), cache=cache)


def test_cache_is_an_lru():
    cache = ValidationCache(maxsize=2)
    programs = [tiny_elf(code=b'\x90' * n + tiny_elf()[-9:])
                for n in range(3)]
    results = [validate(p, cache=cache) for p in programs]
    assert len(cache) == 2
    assert cache.get(results[0].sha256) is None
    assert cache.get(results[2].sha256) == results[2]


def test_disk_cache(tmp_path, progs):
    directory = str(tmp_path / 'cache')
    good = validate(progs['static'], cache=ValidationCache(
        directory=directory))
    with pytest.raises(ValidationError):
        validate(progs['dynamic'], cache=ValidationCache(directory=directory))
    assert len(os.listdir(directory)) == 2
    fresh = ValidationCache(directory=directory)
    again = validate(progs['static'], cache=fresh)
    assert again.cached and again.sha256 == good.sha256
    assert again.segments == good.segments
    with pytest.raises(ValidationError) as info:
        validate(progs['dynamic'], cache=fresh)
    assert info.value.code == 'dynamic'


def test_disk_cache_ignores_bad_entries(tmp_path):
    directory = tmp_path / 'cache'
    cache = ValidationCache(directory=str(directory))
    result = validate(tiny_elf(), cache=cache)
    entry = directory / (result.sha256 + '.json')
    record = json.loads(entry.read_text())
    record['version'] = -1
    entry.write_text(json.dumps(record))
    assert ValidationCache(directory=str(directory)).get(
        result.sha256) is None
    entry.write_text('{not json')
    assert not validate(tiny_elf(), cache=ValidationCache(
        directory=str(directory))).cached


def test_validate_cached_uses_the_default_cache():
    data = tiny_elf(code=b'\x90\x90' + tiny_elf()[-9:])
    validator.DEFAULT_CACHE.clear()
    assert not validate_cached(data).cached
    assert validate_cached(data).cached
    assert validate_cached(data, cache=ValidationCache()).cached is False


# --- the CLI ---------------------------------------------------------------

def _cli(argv, capsys):
    status = cli.main(argv)
    return status, capsys.readouterr().out


def test_cli_all_valid(progs, capsys):
    status, out = _cli(['validate', progs['static'], progs['static-pie']],
                       capsys)
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(progs['static'] + ': ok static, entry 0x')
    assert lines[1].startswith(progs['static-pie'] + ': ok static-pie')


def test_cli_one_invalid_one_missing(progs, capsys, tmp_path):
    missing = str(tmp_path / 'missing')
    status, out = _cli(['validate', progs['static'], progs['dynamic'],
                        missing], capsys)
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert ': ok ' in lines[0]
    assert lines[1].startswith(progs['dynamic'] + ': invalid: dynamically')
    assert lines[2].startswith(missing + ': invalid: cannot read')


def test_cli_json(progs, capsys):
    status, out = _cli(['validate', '--json', progs['static'],
                        progs['rdrand']], capsys)
    assert status == 1
    good, bad = json.loads(out)
    assert good['valid'] and good['format'] == 'static'
    assert good['path'] == progs['static']
    assert not bad['valid'] and bad['code'] == 'instruction'
    assert bad['mnemonic'] == 'rdrand' and 'rdrand' in bad['error']


# --- fuzzing ---------------------------------------------------------------

def _fuzz(bases, seed, count):
    slowest = 0.0
    outcomes = {'ok': 0}
    for data in mutants(seed, count, bases):
        started = time.monotonic()
        try:
            validate(data)
            outcomes['ok'] += 1
        except ValidationError as exc:
            outcomes[exc.code] = outcomes.get(exc.code, 0) + 1
        slowest = max(slowest, time.monotonic() - started)
    # A generous bound: a mutant must never make the validator spin.
    assert slowest < 2.0, slowest
    assert set(outcomes) <= set(validator.CHECKS) | {'ok', 'too-large'}
    return outcomes


def _fuzz_bases(progs):
    bases = [tiny_elf(), tiny_elf(e_type=3, base=0)]
    if progs.get('musl'):
        bases.append(_bytes(progs['musl']))
    return bases


def test_fuzz_small(progs):
    outcomes = _fuzz(_fuzz_bases(progs), seed=1, count=300)
    assert outcomes['ok'] > 0 and len(outcomes) > 5


def test_fuzz_glibc_few(progs):
    _fuzz([_bytes(progs['static']), _bytes(progs['static-pie'])],
          seed=2, count=40)


@pytest.mark.slow
def test_fuzz_many(progs):
    bases = _fuzz_bases(progs) + [_bytes(progs['static']),
                                  _bytes(progs['static-pie'])]
    outcomes = _fuzz(bases, seed=10, count=10000)
    assert sum(outcomes.values()) == 10000


def test_address_limits_match_the_launcher():
    """The validator's range is the loader's (zvm.h), not a guess."""
    import re
    header = os.path.join(os.path.dirname(validator.__file__), os.pardir,
                          'native', 'zvm.h')
    with open(header) as f:
        text = f.read()

    def define(name):
        return int(re.search(r'#define %s (0x[0-9a-fA-F]+)UL' % name,
                             text).group(1), 16)
    assert validator.MAX_ADDRESS == define('ZVM_MMAP_BOTTOM')
    assert validator.PIE_BASE == define('ZVM_PIE_BASE')
    assert validator.MIN_ADDRESS == define('ZVM_GUEST_LOW')
