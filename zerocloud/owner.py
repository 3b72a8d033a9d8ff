# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Temporary files named after the process that made them.

A server killed in the middle of a request cannot remove its temporary
files; the next one to start must tell them from the files of processes
still running (another worker, another server on the same disk).  A pid
alone does not: pids are reused, and a restarted container often gives
the new server the very pid of the old one.  So a name carries the pid,
the process's start time (clock ticks since boot, ``/proc/PID/stat``)
and the boot's id: the owner is alive only if a process with that pid
started at that time in this boot.

:func:`tag` is this process's ``PID-START-BOOT``; :func:`sweep` removes
the entries of a directory whose tag names a process that is gone.
"""
import os
import re
import shutil

__all__ = ['tag', 'alive', 'sweep', 'TAG_PATTERN']

#: A tag in a file name: pid, start ticks, the boot id's first 8 hex.
TAG_PATTERN = r'([0-9]+)-([0-9]+)-([0-9a-f]{8})'

_BOOT_ID = '/proc/sys/kernel/random/boot_id'
_tags = {}      # pid -> tag (a forked child has its own pid, so its own)


def _start_ticks(pid):
    """When ``pid`` started (ticks since boot), or None if there is no
    such process."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    # After "pid (comm)" the fields start at the third, the state; the
    # start time is the 22nd.  comm may hold ")" and spaces: split after
    # the last one.
    try:
        return int(stat.rsplit(b')', 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _boot():
    try:
        with open(_BOOT_ID) as f:
            return f.read().strip().replace('-', '')[:8].lower()
    except OSError:
        return '0' * 8


def tag():
    """This process's ``PID-START-BOOT``."""
    pid = os.getpid()
    found = _tags.get(pid)
    if found is None:
        found = _tags[pid] = '%d-%d-%s' % (
            pid, _start_ticks(pid) or 0, _boot())
    return found


def alive(pid, start, boot):
    """Is the process that wrote tag ``pid-start-boot`` still running?"""
    if boot != _boot():
        return False            # made before the machine restarted
    if pid == os.getpid():
        return tag() == '%d-%d-%s' % (pid, start, boot)
    ticks = _start_ticks(pid)
    if ticks is None:
        if os.path.isdir('/proc/self'):
            return False
        try:                    # no /proc: the pid is all there is
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    return ticks == start


def sweep(directory, prefixes):
    """Remove the entries of ``directory`` named ``PREFIX`` + tag + ``-``
    + anything, for each of ``prefixes``, whose process is gone (files
    and directories alike).  Returns the paths removed."""
    pattern = re.compile('(?:%s)%s-.+' % (
        '|'.join(re.escape(p) for p in prefixes), TAG_PATTERN))
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if not match or alive(int(match.group(1)), int(match.group(2)),
                              match.group(3)):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                continue
        removed.append(path)
    return removed
