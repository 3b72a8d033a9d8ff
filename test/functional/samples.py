# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Copies of etc/*.conf-sample with a few options changed, for the tests
that need a cluster with other settings than the shipped ones (it is
still the shipped pipeline)."""
import os
import shutil

__all__ = ['changed_samples']

ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'etc')


def changed_samples(dest, proxy=None, object_server=None):
    """Copy the samples into the directory ``dest`` (a pathlib.Path) and add
    ``proxy`` options to ``[filter:zerocloud_proxy]``, ``object_server``
    options to ``[filter:zerocloud_object]``.  Returns ``str(dest)``."""
    for name in os.listdir(ETC):
        shutil.copy(os.path.join(ETC, name), dest)
    for sample, section, options in (
            ('proxy-server.conf-sample', '[filter:zerocloud_proxy]\n', proxy),
            ('object-server.conf-sample', '[filter:zerocloud_object]\n',
             object_server)):
        if not options:
            continue
        path = dest / sample
        text = path.read_text()
        assert section in text, (sample, section)
        path.write_text(text.replace(section, section + ''.join(
            '%s = %s\n' % kv for kv in options.items()), 1))
    return str(dest)
