# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""zerocloud: deterministic sandboxed compute inside OpenStack Swift."""

__version__ = '0.1.0.dev0'
