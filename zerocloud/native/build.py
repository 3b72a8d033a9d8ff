# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Compile the ``zvm`` launcher with gcc alone.

Used by ``setup.py`` at install time and by :mod:`zerocloud.sandbox.launcher`
when a checkout's binary is missing or older than its sources. Standard
library only: this file is loaded by path before the package is importable.

The launcher is freestanding (``-nostdlib``, its own ``_start``): no libc
start-up cost, no cpuid storms, no TLS, which the SIGSYS shim needs anyway
because it runs after the guest has replaced ``%fs``. It is linked at a fixed
high address so that it never collides with a guest's ``ET_EXEC`` segments.
"""
import glob
import hashlib
import os
import subprocess
import sys
import tempfile

NATIVE_DIR = os.path.dirname(os.path.abspath(__file__))
BINARY = 'zvm'
STAMP = 'zvm.stamp'

#: Where the launcher's own image lives (see layout.h); far from 0x400000
#: where static ET_EXEC guests are linked, and below the guest stack.
TEXT_SEGMENT = '0x7e0000000000'

CFLAGS = [
    '-std=gnu11', '-O2', '-g0',
    '-Wall', '-Wextra', '-Werror', '-Wshadow', '-Wformat=2',
    '-Wmissing-prototypes', '-Wstrict-prototypes',
    '-ffreestanding', '-fno-builtin', '-fno-stack-protector',
    '-fno-asynchronous-unwind-tables', '-fno-unwind-tables',
    '-fpie', '-fvisibility=hidden', '-fcf-protection=none',
    '-fno-strict-aliasing',
    '-ffunction-sections', '-fdata-sections',
    '-mgeneral-regs-only',
    # Keep gcc from turning the byte loops of memcpy/memset into calls to
    # themselves.
    '-fno-tree-loop-distribute-patterns',
]
LDFLAGS = [
    '-nostdlib', '-static', '-no-pie',
    '-Wl,--gc-sections', '-Wl,--build-id=none', '-Wl,-z,noexecstack',
    '-Wl,-z,norelro', '-Wl,-Ttext-segment=' + TEXT_SEGMENT,
    '-Wl,-s',
]


class BuildError(Exception):
    """gcc is missing or failed; the message carries its output."""


def sources(native_dir=NATIVE_DIR):
    found = sorted(glob.glob(os.path.join(native_dir, '*.c')) +
                   glob.glob(os.path.join(native_dir, '*.S')))
    return found


def headers(native_dir=NATIVE_DIR):
    return sorted(glob.glob(os.path.join(native_dir, '*.h')))


def source_digest(native_dir=NATIVE_DIR, cc=None):
    """Digest of every source, header and flag: the binary's identity."""
    cc = cc or os.environ.get('ZEROCLOUD_CC', 'gcc')
    h = hashlib.sha256()
    for path in sources(native_dir) + headers(native_dir):
        h.update(os.path.basename(path).encode() + b'\0')
        with open(path, 'rb') as f:
            h.update(f.read())
        h.update(b'\0')
    h.update(' '.join([cc] + CFLAGS + LDFLAGS).encode())
    return h.hexdigest()


def is_current(out_dir, native_dir=NATIVE_DIR):
    """True when out_dir holds a zvm built from exactly these sources."""
    binary = os.path.join(out_dir, BINARY)
    stamp = os.path.join(out_dir, STAMP)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return False
    if not sources(native_dir):
        # An installed package without sources: trust the binary.
        return True
    try:
        with open(stamp) as f:
            return f.read().strip() == source_digest(native_dir)
    except OSError:
        return False


def build(out_dir, native_dir=NATIVE_DIR, cc=None, quiet=False):
    """Compile zvm into out_dir (atomically) and return its path."""
    cc = cc or os.environ.get('ZEROCLOUD_CC', 'gcc')
    srcs = sources(native_dir)
    if not srcs:
        raise BuildError('no native sources in %s' % native_dir)
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.zvm-', dir=out_dir)
    os.close(fd)
    cmd = [cc] + CFLAGS + ['-I', native_dir] + srcs + LDFLAGS + ['-o', tmp]
    try:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise BuildError('%s not found: a C compiler is needed to build '
                             'the zvm launcher' % cc)
        if proc.returncode != 0:
            raise BuildError('building zvm failed:\n%s\n%s' % (
                ' '.join(cmd), proc.stdout))
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(out_dir, BINARY))
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    stamp_tmp = os.path.join(out_dir, STAMP + '.tmp')
    with open(stamp_tmp, 'w') as f:
        f.write(source_digest(native_dir, cc) + '\n')
    os.replace(stamp_tmp, os.path.join(out_dir, STAMP))
    if not quiet:
        sys.stderr.write('built %s\n' % os.path.join(out_dir, BINARY))
    return os.path.join(out_dir, BINARY)


if __name__ == '__main__':
    build(sys.argv[1] if len(sys.argv) > 1 else NATIVE_DIR)
