# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""flake8 over the package, tests and benchmarks, as part of the suite."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_flake8_is_clean():
    pytest.importorskip('flake8')
    proc = subprocess.run(
        [sys.executable, '-m', 'flake8', 'zerocloud', 'test', 'bench',
         'setup.py'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
