# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Fixtures shared by the middleware unit tests."""
import pytest

from zerocloud.middleware.dispatch import Spool


@pytest.fixture
def spool(tmp_path):
    """A job's spool directory, removed after the test."""
    spool = Spool(str(tmp_path))
    yield spool
    spool.cleanup()
