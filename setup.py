# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Build hook: compile the native ``zvm`` launcher with gcc during install.

Metadata lives in pyproject.toml; this file only wires the native build into
``build_py`` so that ``pip install .`` and ``pip install -e .`` both produce
``zerocloud/native/zvm``.
"""
import importlib.util
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _native_build():
    path = os.path.join(HERE, 'zerocloud', 'native', 'build.py')
    spec = importlib.util.spec_from_file_location('_zvm_build', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildPyWithNative(build_py):
    def run(self):
        builder = _native_build()
        # Build into the source tree first (editable installs and test
        # runs from a checkout use it), then let build_py copy it.
        builder.build(os.path.join(HERE, 'zerocloud', 'native'))
        super().run()
        if not self.editable_mode:
            self._ship('etc', '-sample', 'etc')
            self._ship('examples', '.c', 'examples')

    def _ship(self, src, suffix, dest_name):
        # etc/ (the operator samples) and examples/ live at the top of the
        # checkout; an installed package carries copies in zerocloud/etc/
        # and zerocloud/examples/ so that 'zerocloud saio' and 'zerocloud
        # demo' work from the very same files.
        dest = os.path.join(self.build_lib, 'zerocloud', dest_name)
        os.makedirs(dest, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(HERE, src))):
            if name.endswith(suffix):
                self.copy_file(os.path.join(HERE, src, name),
                               os.path.join(dest, name))


setup(cmdclass={'build_py': BuildPyWithNative})
