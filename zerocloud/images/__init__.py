# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Build system images: read-only tars whose files the sandbox shows
from ``/`` (:mod:`zerocloud.sandbox.image`).

``zerocloud image lua OUT.tar`` builds the ``lua`` image: ``bin/lua``, a
static Lua 5.4 interpreter of our own (``lua.c``) linked with Debian's
``liblua5.4.a`` (package ``liblua5.4-dev``), for
``file://lua:bin/lua``.

``zerocloud image python OUT.tar`` builds the ``python`` image: a static
CPython interpreter at ``bin/python`` and its standard library under
``lib/pythonX.Y`` (``bin/python3`` is the same file), so that a job's
``exec`` can be ``file://python:bin/python``.  It links ``python.c`` (next
to this file) with Debian's ``libpython3.X.a`` and the libraries of the C
modules Debian compiles into it, with gcc alone; it needs the Debian
packages
``libpython3.X-dev`` (the static library and headers) and
``libpython3.X-stdlib`` (the standard library, usually installed).  The
standard library comes compiled (``__pycache__``, PEP 552 unchecked-hash
files): the sandbox's file system is read-only, so without them every job
would compile every module it imports (an import of ``decimal`` and a few
others: 256 ms instead of 49, ``bench/python.py``).

What the interpreter lacks, by construction: the C modules Debian ships as
shared libraries (``lib-dynload``: ``_ctypes``, ``_sqlite3``, ``_ssl``,
``_hashlib``, ``_decimal``, ``_json``...) -- the pure-Python fallbacks
(``_pydecimal``, ``json``'s own code, ``hashlib``'s built-in digests) are
used instead where the standard library has them -- and everything the
sandbox does not offer: threads, processes, sockets, a clock that moves
with the host.  The image is reproducible: the same inputs give the same
bytes (members sorted, times and owners zeroed).
"""
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile

from zerocloud.exceptions import ZeroCloudError

__all__ = ['ImageBuildError', 'build_python', 'build_lua', 'python_paths',
           'lua_paths', 'write_tar', 'STDLIB_SKIP', 'BUILDERS']

HERE = os.path.dirname(os.path.abspath(__file__))

#: Libraries of the C modules Debian builds into libpython3.X.a.
MODULE_LIBS = ['-lexpat', '-lz', '-lbz2', '-llzma', '-lffi', '-lm', '-ldl',
               '-lpthread', '-lutil']
#: Directories of the standard library left out of the image: tests, GUI,
#: installers, third-party packages and the shared modules it cannot load.
STDLIB_SKIP = frozenset([
    '__pycache__', 'test', 'tests', 'idlelib', 'tkinter', 'turtledemo',
    'ensurepip', 'lib2to3', 'site-packages', 'dist-packages', 'lib-dynload',
    'venv', 'pydoc_data'])


class ImageBuildError(ZeroCloudError):
    """The image could not be built; the message says what is missing."""


def python_paths(version=None):
    """Debian's locations for Python ``version`` (default: this one's
    major.minor): ``(libpython.a, include dir, stdlib dir)``."""
    version = version or '%d.%d' % sys.version_info[:2]
    multiarch = sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'
    return ('/usr/lib/%s/libpython%s.a' % (multiarch, version),
            '/usr/include/python%s' % version,
            '/usr/lib/python%s' % version)


def _link(out, libpython, include, cc, source='python.c', libs=None):
    cmd = [cc, '-static', '-O2', '-I', include, '-o', out,
           os.path.join(HERE, source), libpython] + (
               MODULE_LIBS if libs is None else libs)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise ImageBuildError('%s not found: a C compiler is needed' % cc)
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines()
                  if 'warning' not in line][-15:]
        raise ImageBuildError('linking the static interpreter failed:\n%s\n%s'
                              % (' '.join(cmd), '\n'.join(errors)))


def _stdlib_files(stdlib, keep_pycache=False):
    """(path in the image below lib/pythonX.Y, host path) of every file,
    and the directories, sorted; symbolic links to files are followed.
    ``keep_pycache``: the staged copy, whose skipped directories are gone
    and whose ``__pycache__`` and empty ``lib-dynload`` are ours."""
    files, dirs = [], []
    skip = STDLIB_SKIP - {'__pycache__', 'lib-dynload'} if keep_pycache \
        else STDLIB_SKIP
    for top, subdirs, names in os.walk(stdlib):
        subdirs[:] = sorted(d for d in subdirs if d not in skip
                            and not d.startswith('config-'))
        rel = os.path.relpath(top, stdlib)
        rel = '' if rel == '.' else rel
        if rel:
            dirs.append(rel)
        for name in sorted(names):
            host = os.path.join(top, name)
            if not os.path.isfile(host) or name.endswith('.exe') or (
                    name.endswith('.pyc') and not keep_pycache):
                continue
            files.append((os.path.join(rel, name), host))
    return dirs, files


def write_tar(out, members):
    """Write an uncompressed, reproducible tar: ``members`` are
    ``(name, source, mode)``, the source a host path, bytes, None for a
    directory or ``('link', name)`` for a hard link to an earlier
    member."""
    tmp = out + '.tmp'
    try:
        _write_members(tmp, members)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.replace(tmp, out)
    return out


def _write_members(tmp, members):
    with tarfile.open(tmp, 'w', format=tarfile.GNU_FORMAT) as tar:
        for name, source, mode in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            info.mode = mode
            if source is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(source, tuple):
                info.type = tarfile.LNKTYPE
                info.linkname = source[1]
                tar.addfile(info)
            elif isinstance(source, bytes):
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
            else:
                with open(source, 'rb') as f:
                    info.size = os.fstat(f.fileno()).st_size
                    tar.addfile(info, f)


def _compile(stage_lib, guest_lib, version, interpreter, home):
    """Compile the staged standard library to ``__pycache__`` files whose
    validity is never checked against the sources (``unchecked-hash``,
    PEP 552): the image is read-only, and every source's time in the
    sandbox is the virtual clock's.  This Python compiles them when it is
    the same X.Y (on every core), else the image's own interpreter."""
    same = version == '%d.%d' % sys.version_info[:2]
    cmd = ([sys.executable, '-I'] if same else [interpreter, '-I']) + [
        '-m', 'compileall', '-q', '-j', '0' if same else '1',
        '--invalidation-mode', 'unchecked-hash', '-d', guest_lib,
        stage_lib]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          env=None if same else {'PYTHONHOME': home})
    if proc.returncode != 0:
        raise ImageBuildError('compiling the standard library failed:\n%s'
                              '\n%s' % (' '.join(cmd), proc.stdout[-2000:]))


def build_python(out, version=None, libpython=None, include=None,
                 stdlib=None, cc='gcc'):
    """Build the ``python`` system image into the tar ``out``.

    :raises ImageBuildError: naming what is missing.
    """
    d_lib, d_inc, d_std = python_paths(version)
    libpython, include, stdlib = (libpython or d_lib, include or d_inc,
                                  stdlib or d_std)
    for path, what in [(libpython, 'the static library (Debian: '
                        'libpython3.X-dev)'),
                       (os.path.join(include, 'Python.h'),
                        'the headers (Debian: libpython3.X-dev)'),
                       (os.path.join(stdlib, 'os.py'), 'the standard '
                        'library (Debian: libpython3.X-stdlib)')]:
        if not os.path.exists(path):
            raise ImageBuildError('%s not found: %s is needed' % (path, what))
    libname = os.path.basename(os.path.normpath(stdlib))
    version = version or libname[len('python'):]
    with tempfile.TemporaryDirectory(prefix='zerocloud-image-') as tmp:
        interpreter = os.path.join(tmp, 'bin', 'python')
        os.makedirs(os.path.dirname(interpreter))
        _link(interpreter, libpython, include, cc)
        base = 'lib/' + libname
        stage = os.path.join(tmp, base)
        dirs, files = _stdlib_files(stdlib)
        for d in dirs + ['lib-dynload']:
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        for rel, host in files:
            shutil.copyfile(host, os.path.join(stage, rel))
        _compile(stage, '/' + base, version, interpreter, tmp)
        dirs, files = _stdlib_files(stage, keep_pycache=True)
        members = [('bin', None, 0o755), ('bin/python', interpreter, 0o755),
                   ('bin/python3', ('link', 'bin/python'), 0o755),
                   ('lib', None, 0o755), (base, None, 0o755)]
        members += [(base + '/' + d, None, 0o755) for d in dirs]
        members += [(base + '/' + rel, host, 0o644) for rel, host in files]
        members.sort(key=lambda m: m[0])
        return write_tar(out, members)


def lua_paths(version='5.4'):
    """Debian's locations for Lua ``version``: ``(liblua.a, include
    dir)``, from the package ``liblua5.X-dev``."""
    multiarch = sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'
    return ('/usr/lib/%s/liblua%s.a' % (multiarch, version),
            '/usr/include/lua%s' % version)


def build_lua(out, version='5.4', liblua=None, include=None, cc='gcc'):
    """Build the ``lua`` system image into the tar ``out``: ``bin/lua``,
    a static interpreter (``lua.c`` next to this file, linked with
    Debian's ``liblua5.X.a``; the standard libraries are compiled in, so
    it is the whole image).

    :raises ImageBuildError: naming what is missing.
    """
    d_lib, d_inc = lua_paths(version)
    liblua, include = liblua or d_lib, include or d_inc
    for path, what in [(liblua, 'the static library'),
                       (os.path.join(include, 'lua.h'), 'the headers')]:
        if not os.path.exists(path):
            raise ImageBuildError('%s not found: %s (Debian: liblua%s-dev) '
                                  'is needed' % (path, what, version))
    with tempfile.TemporaryDirectory(prefix='zerocloud-image-') as tmp:
        interpreter = os.path.join(tmp, 'lua')
        _link(interpreter, liblua, include, cc, 'lua.c', ['-lm'])
        return write_tar(out, [('bin', None, 0o755),
                               ('bin/lua', interpreter, 0o755)])


#: ``zerocloud image KIND OUT.tar``: the builder of each kind.
BUILDERS = {'python': build_python, 'lua': build_lua}
