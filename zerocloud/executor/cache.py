# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Programs an object server keeps, by sha256, between requests.

A proxy first sends a node without its program; the object server runs it
from this cache, or answers 428 and the proxy sends the program along
(doc/internals.rst).  Only programs that passed validation are stored.
Entries are files named by their digest in ``<device>/zerocloud-exec``; a
job gets its own hard link, so evicting an entry never pulls a program
from under a running node.  Least recently used entries go first.

The directory is trusted like the rest of the device: an entry's name is
taken to be its content's sha256, so a program the server's validator
has accepted under that digest is not hashed again when it runs from
here (only writable by the object server's user, as Swift's data is).
"""
import os
import re
import tempfile

__all__ = ['ExecCache', 'CACHE_DIR']

#: The cache's directory name inside a device.
CACHE_DIR = 'zerocloud-exec'

_DIGEST = re.compile(r'^[0-9a-f]{64}$')


class ExecCache:
    """At most ``max_entries`` programs in ``root``."""

    def __init__(self, root, max_entries):
        self.root = root
        self.max_entries = max_entries

    def _path(self, sha256):
        if not _DIGEST.match(sha256 or ''):
            return None
        return os.path.join(self.root, sha256)

    def link_into(self, sha256, dest):
        """Hard-link the program ``sha256`` to ``dest``; False if absent."""
        path = self._path(sha256)
        if path is None:
            return False
        try:
            os.link(path, dest)
        except FileNotFoundError:
            return False
        try:
            os.utime(path)      # recently used
        except FileNotFoundError:
            pass
        return True

    def put(self, sha256, src):
        """Store a validated program: the file ``src``, hard-linked when it
        is on the same file system (no copy), else copied."""
        path = self._path(sha256)
        if path is None or os.path.exists(path):
            return
        os.makedirs(self.root, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.in-', dir=self.root)
        try:
            os.close(fd)
            try:
                os.unlink(tmp)
                os.link(src, tmp)
            except OSError:
                with open(tmp, 'wb') as out, open(src, 'rb') as inp:
                    while True:
                        chunk = inp.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
            os.replace(tmp, path)
            tmp = None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        self._prune()

    def _prune(self):
        entries = []
        for name in os.listdir(self.root):
            if _DIGEST.match(name):
                try:
                    entries.append((os.stat(os.path.join(
                        self.root, name)).st_mtime, name))
                except FileNotFoundError:
                    pass
        entries.sort()
        for _, name in entries[:max(0, len(entries) - self.max_entries)]:
            try:
                os.unlink(os.path.join(self.root, name))
            except FileNotFoundError:
                pass
