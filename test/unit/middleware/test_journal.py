# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import errno
import json
import os

import pytest

from zerocloud.middleware import journal
from zerocloud.paths import SwiftPath

OUTPUTS = [SwiftPath('AUTH_t', 'out', 'a'), SwiftPath('AUTH_t', 'out', 'b c')]


def _left(tmp_path, commit_id='ab' * 16, outputs=None, body=None):
    """A journal its process left (written, not locked by anybody)."""
    path = tmp_path / ('%s%s.json' % (journal.JOURNAL_PREFIX, commit_id))
    path.write_bytes(body if body is not None else json.dumps({
        'id': commit_id, 'outputs': outputs or [['AUTH_t', 'out', 'a']]}
    ).encode())
    return path


def test_a_journal_names_its_outputs_until_closed(tmp_path):
    kept = journal.Journal(str(tmp_path), OUTPUTS)
    assert len(kept.id) == 32
    with open(kept.path) as f:
        assert json.load(f) == {'id': kept.id, 'outputs': [
            ['AUTH_t', 'out', 'a'], ['AUTH_t', 'out', 'b c']]}
    # A running commit's journal is not recovered (its lock is held).
    undone = []
    assert journal.recover(str(tmp_path), lambda *a: undone.append(a)) == 0
    assert not undone
    kept.close()
    kept.close()
    assert os.listdir(tmp_path) == []


def test_no_journal_no_commit(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(os, 'write', full)
    with pytest.raises(OSError):
        journal.Journal(str(tmp_path), OUTPUTS)
    assert os.listdir(tmp_path) == []


def test_a_journal_left_is_undone_then_removed(tmp_path):
    path = _left(tmp_path)
    undone = []
    assert journal.recover(str(tmp_path), lambda cid, outs: undone.append(
        (cid, outs)) or True) == 1
    assert undone == [('ab' * 16, [('AUTH_t', 'out', 'a')])]
    assert not path.exists()


def test_a_journal_not_undone_is_kept_for_later(tmp_path):
    path = _left(tmp_path)
    assert journal.recover(str(tmp_path), lambda *a: False) == 1
    assert path.exists()


@pytest.mark.parametrize('body', [b'', b'{"id": "x"', b'[1]',
                                  b'{"id": "x", "outputs": [["a", 1, "c"]]}'])
def test_a_journal_cut_short_is_removed_without_undo(tmp_path, body):
    # Its process died while writing it: no PUT had been sent.
    path = _left(tmp_path, body=body)
    assert journal.recover(str(tmp_path), pytest.fail) == 0
    assert not path.exists()


def test_other_files_are_left_alone(tmp_path):
    for name in ('zerocloud-commit-nothex.json', 'zerocloud-job-1-2-x',
                 'other.json'):
        (tmp_path / name).write_bytes(b'{}')
    assert journal.recover(str(tmp_path), pytest.fail) == 0
    assert len(os.listdir(tmp_path)) == 3
    assert journal.recover(str(tmp_path / 'missing'), pytest.fail) == 0
