# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Functional tests: a real embedded Swift cluster (zerocloud.saio)."""
