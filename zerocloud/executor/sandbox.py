# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The real executor: run a node's program in ``zvm``.

:class:`SandboxExecutor` creates one output file per writable channel in
the job's ``workdir`` (``out-<index>``), hands the launcher the caller's
input fds and those files, and closes its own fds before returning, also
when the launcher fails.  The limits come from the job (already lowered to
the operator's maxima by the filter).  The program was validated by the
caller.

:meth:`SandboxExecutor.run` blocks for as long as the program runs (at most
its wall-clock limit plus the launcher's grace): the object server calls it
in a worker thread (``eventlet.tpool``), never on its event loop.  The
event loop can stop it through the ``cancel`` argument
(:class:`zerocloud.sandbox.launcher.Cancel`).
"""
import os

from zerocloud.executor.base import Executor, NodeResult
from zerocloud.sandbox import launcher
from zerocloud.sandbox import manifest as mf

__all__ = ['SandboxExecutor']


class SandboxExecutor(Executor):
    """Runs a :class:`~zerocloud.executor.base.NodeJob` in the sandbox.

    :param zvm: the launcher binary.  By default it is found (or built)
        here, once, so that a missing launcher stops the server at start-up
        and worker threads never enter the launcher's lookup lock.
    :param time_slice_ms: the CPU time slice every guest asks the kernel's
        scheduler for (``None`` or 0: the kernel's default).
    """

    def __init__(self, zvm=None, time_slice_ms=None):
        self.zvm = zvm or launcher.find_zvm()
        self.time_slice_ms = time_slice_ms or None

    def run(self, job, cancel=None):
        opened = []
        outputs = {}
        try:
            channels = []
            for index, channel in enumerate(job.spec.channels):
                if channel.readable or index in job.inputs:
                    # Inputs, and pipes the caller connected.
                    fd = job.inputs[index]
                else:
                    path = os.path.join(job.workdir, 'out-%d' % index)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                 | os.O_CLOEXEC, 0o600)
                    opened.append(fd)
                    outputs[index] = path
                channels.append(mf.Channel(channel.alias, channel.direction,
                                           fd, channel.limit,
                                           image=job.images.get(index)))
            result = launcher.run(job.program, list(job.spec.argv),
                                  job.spec.env, channels, job.spec.seed,
                                  job.limits, zvm=self.zvm, cancel=cancel,
                                  time_slice_ms=self.time_slice_ms)
        finally:
            for fd in opened:
                os.close(fd)
        return NodeResult(result, outputs)
