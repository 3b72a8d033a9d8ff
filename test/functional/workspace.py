# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""A module's own containers on the shared cluster: fresh names, a corpus
and programs uploaded (the ``env`` fixtures of the job tests), and
application archives built for them."""
import io
import tarfile
import uuid

import swiftclient

__all__ = ['workspace', 'tar_of']


def workspace(auth, programs, data, names, containers=('data', 'exec',
                                                       'out')):
    """Create ``containers`` with a unique suffix as ``tester``, upload
    ``data`` (``{object: bytes}``) into ``data`` and the programs ``names``
    (built with gcc -static by the ``programs`` fixture) into ``exec``.

    :returns: ``{container: real name, 'url', 'token', 'built': {program:
        local path}}``.
    """
    url, token = auth('tester')
    tag = uuid.uuid4().hex[:8]
    env = {c: '%s-%s' % (c, tag) for c in containers}
    for c in env.values():
        swiftclient.put_container(url, token, c)
    for name, body in data.items():
        swiftclient.put_object(url, token, env['data'], name, body)
    built = {}
    for prog in names:
        built[prog] = programs.build(prog)
        with open(built[prog], 'rb') as f:
            swiftclient.put_object(url, token, env['exec'], prog, f)
    return dict(env, url=url, token=token, built=built)


def tar_of(members):
    """An uncompressed tar (bytes) of ``[(name, bytes)]``, files mode 0755
    (an application archive's programs run from it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
