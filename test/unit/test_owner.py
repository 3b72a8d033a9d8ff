# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import os
import re
import subprocess

from zerocloud import owner


def _dead_tag():
    """The tag a process that has exited had."""
    child = subprocess.Popen(['sleep', '5'])
    try:
        with open('/proc/%d/stat' % child.pid, 'rb') as f:
            start = int(f.read().rsplit(b')', 1)[1].split()[19])
    finally:
        child.kill()
        child.wait()
    return '%d-%d-%s' % (child.pid, start, owner.tag().rsplit('-', 1)[1])


def _parts(tag):
    pid, start, boot = tag.split('-')
    return int(pid), int(start), boot


def test_this_process_s_tag():
    tag = owner.tag()
    assert re.fullmatch(owner.TAG_PATTERN, tag)
    assert tag.startswith('%d-' % os.getpid())
    assert owner.alive(*_parts(tag))


def test_a_process_that_exited_is_gone():
    assert not owner.alive(*_parts(_dead_tag()))


def test_a_reused_pid_is_not_the_owner():
    # A server restarted in a container often gets its predecessor's pid:
    # a live process with the pid, started at another time.
    child = subprocess.Popen(['sleep', '5'])
    try:
        with open('/proc/%d/stat' % child.pid, 'rb') as f:
            start = int(f.read().rsplit(b')', 1)[1].split()[19])
        boot = owner.tag().rsplit('-', 1)[1]
        assert owner.alive(child.pid, start, boot)
        assert not owner.alive(child.pid, start - 1, boot)
    finally:
        child.kill()
        child.wait()


def test_a_tag_from_before_the_machine_restarted_is_gone():
    pid, start, boot = _parts(owner.tag())
    other = '%08x' % ((int(boot, 16) + 1) % (1 << 32))
    assert not owner.alive(pid, start, other)


def test_sweep_removes_only_what_gone_processes_left(tmp_path):
    dead, mine = _dead_tag(), owner.tag()
    made = {
        'zerocloud-job-%s-abc' % dead: 'dir',
        'zerocloud-upload-%s-x1' % dead: 'file',
        'zerocloud-job-%s-def' % mine: 'dir',
        'zerocloud-job-%s' % dead: 'dir',           # no "-" + more: not ours
        'zerocloud-saio-abc': 'dir',
        'zerocloud-other-%s-abc' % dead: 'dir',     # another prefix
    }
    for name, kind in made.items():
        if kind == 'dir':
            (tmp_path / name).mkdir()
            (tmp_path / name / 'inside').write_bytes(b'x')
        else:
            (tmp_path / name).write_bytes(b'x')
    removed = owner.sweep(str(tmp_path), ['zerocloud-job-',
                                          'zerocloud-upload-'])
    assert sorted(removed) == sorted(
        str(tmp_path / n) for n in ('zerocloud-job-%s-abc' % dead,
                                    'zerocloud-upload-%s-x1' % dead))
    assert sorted(os.listdir(tmp_path)) == sorted(
        set(made) - {os.path.basename(p) for p in removed})


def test_sweep_of_a_missing_directory_is_nothing(tmp_path):
    assert owner.sweep(str(tmp_path / 'nope'), ['zerocloud-job-']) == []
