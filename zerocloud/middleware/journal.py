# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The commit journal: what a job's commit is writing, on the proxy's disk
until it is done, so that a proxy killed half-way through a commit does
not leave part of a job's outputs visible for good.

Swift writes each object atomically, never several together.  The proxy
filter makes a job's outputs all-or-nothing by writing them only when
every node succeeded and deleting what it wrote when one PUT is refused
(``roll_back``).  A process killed between the first PUT and the last
cannot roll back; the journal lets the next one do it:

1. before the first PUT, a :class:`Journal` file in ``temp_dir`` names
   every output of the commit and a fresh commit id, written and synced,
   and locked (``flock``) by the committing process as long as it lives;
2. every output is PUT with the commit id in its system metadata
   (:data:`COMMIT_HEADER`), which no client can set or see;
3. when the commit is over (written, or rolled back), the file is removed
   while still locked.

:func:`recover` finds the journals no live process holds (the kernel drops
a dead process's locks) and hands each to an ``undo`` function: the proxy
deletes each output that still carries the commit's id -- one written by
somebody else since is left alone -- as its roll-back would have.
"""
import errno
import fcntl
import json
import os
import re
import uuid

__all__ = ['Journal', 'recover', 'JOURNAL_PREFIX', 'COMMIT_HEADER']

#: Name prefix of a journal in ``temp_dir`` (then the commit id, ``.json``).
JOURNAL_PREFIX = 'zerocloud-commit-'
#: Every output object's system metadata: the id of the commit that
#: wrote it.
COMMIT_HEADER = 'X-Object-Sysmeta-Zerocloud-Commit'

_NAME = re.compile(re.escape(JOURNAL_PREFIX) + r'([0-9a-f]{32})\.json')


class Journal:
    """The journal of one commit of ``outputs`` (``SwiftPath``\\ s) in
    ``directory``; :meth:`close` when the commit is over.

    :raises OSError: when it cannot be written (a full disk): the commit
        must not start without it.
    """

    def __init__(self, directory, outputs):
        self.id = uuid.uuid4().hex
        self.path = os.path.join(directory, '%s%s.json'
                                 % (JOURNAL_PREFIX, self.id))
        body = json.dumps({'id': self.id, 'outputs': [
            [p.account, p.container, p.obj] for p in outputs]}).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.unlink(self.path)
            os.close(fd)
            raise
        self._fd = fd

    def close(self):
        """The commit is over: remove the journal (while it is still
        locked, so that no :func:`recover` can take it meanwhile)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None


def recover(directory, undo):
    """Hand every journal in ``directory`` that no live process holds to
    ``undo(commit id, [(account, container, object)])``, which returns
    True when it undid all of it; such a journal is then removed, another
    is left for a later try.  Returns how many were handed."""
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    handed = 0
    for name in names:
        if not _NAME.fullmatch(name):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue        # gone meanwhile, or not a file of ours
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue    # its commit is running
                raise
            if os.fstat(fd).st_nlink == 0:
                continue        # its commit ended as we opened it
            try:
                with os.fdopen(os.dup(fd), 'rb') as f:
                    data = json.loads(f.read())
                commit_id = data['id']
                outputs = [tuple(o) for o in data['outputs']]
                if not isinstance(commit_id, str) or not all(
                        len(o) == 3 and all(isinstance(p, str) for p in o)
                        for o in outputs):
                    raise ValueError(name)
            except (ValueError, KeyError, TypeError):
                # Cut short before it was synced: no PUT was sent.
                os.unlink(path)
                continue
            handed += 1
            if undo(commit_id, outputs):
                os.unlink(path)
        finally:
            os.close(fd)
    return handed
