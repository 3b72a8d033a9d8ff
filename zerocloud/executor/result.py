# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""What a sandbox run produced: the launcher's statuses and the report.

:class:`LauncherStatus` and :data:`REASONS` mirror
``zerocloud/native/zvm_status.h``, the one documented contract of the C
launcher; ``test/unit/executor/test_result.py`` parses that header so the two
cannot drift apart.
"""
import dataclasses
import enum
import json

__all__ = ['LauncherStatus', 'Reason', 'REASONS', 'ChannelReport',
           'RunResult', 'TIMING_FIELDS']


class LauncherStatus(enum.IntEnum):
    """Exit status of the ``zvm`` process itself (not of the guest)."""
    OK = 0                  #: the guest ran; its outcome is in the report
    USAGE = 64              #: bad command line; no report
    MANIFEST = 65           #: bad manifest; no report
    INVALID_BINARY = 66     #: the loader refused the program; report written
    LAUNCHER = 70           #: internal failure; report written if possible
    REPORT = 74             #: the report could not be written


class Reason(str, enum.Enum):
    """Why a run ended, as in the report's ``reason`` field."""
    OK = 'ok'
    EXIT = 'exit'
    SIGNAL = 'signal'
    TIMEOUT = 'timeout'
    CPU = 'cpu'
    MEMORY = 'memory'
    OUTPUT_LIMIT = 'output-limit'
    POLICY = 'policy'
    INVALID_BINARY = 'invalid-binary'
    LAUNCHER_ERROR = 'launcher-error'
    ABORTED = 'aborted'         #: stopped from outside (the job was aborted)
    #: writing an output to its destination failed (disk full, I/O error,
    #: reader gone): the output is incomplete whatever the guest did
    OUTPUT_ERROR = 'output-error'


#: Every reason, in the header's order.
REASONS = tuple(r.value for r in Reason)

#: Report fields that measure the host, not the program: they differ from
#: run to run and are left out of :meth:`RunResult.deterministic`.
TIMING_FIELDS = ('cpu_user_ms', 'cpu_sys_ms', 'wall_ms', 'max_rss_kb')


@dataclasses.dataclass(frozen=True)
class ChannelReport:
    path: str
    mode: str
    bytes_read: int
    bytes_written: int
    reads: int
    writes: int
    sha256: str = None

    def to_dict(self):
        # dataclasses.asdict deep-copies every field; these are all str,
        # int or None.
        return {'path': self.path, 'mode': self.mode,
                'bytes_read': self.bytes_read,
                'bytes_written': self.bytes_written, 'reads': self.reads,
                'writes': self.writes, 'sha256': self.sha256}


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run of one program in the sandbox."""
    reason: Reason
    exit_code: int          # None when killed or never started
    signal: int             # 0 unless killed by a signal
    message: str
    cpu_user_ms: int
    cpu_sys_ms: int
    wall_ms: int
    max_rss_kb: int
    seed: int
    channels: tuple
    launcher_status: LauncherStatus = LauncherStatus.OK

    @classmethod
    def from_report(cls, data, launcher_status=LauncherStatus.OK):
        """Build from the launcher's JSON report (bytes, str or dict)."""
        if isinstance(data, (bytes, str)):
            data = json.loads(data)
        channels = tuple(ChannelReport(**c) for c in data['channels'])
        return cls(reason=Reason(data['reason']),
                   exit_code=data['exit_code'], signal=data['signal'],
                   message=data['message'],
                   cpu_user_ms=data['cpu_user_ms'],
                   cpu_sys_ms=data['cpu_sys_ms'],
                   wall_ms=data['wall_ms'], max_rss_kb=data['max_rss_kb'],
                   seed=data['seed'], channels=channels,
                   launcher_status=LauncherStatus(launcher_status))

    @property
    def ok(self):
        return self.reason is Reason.OK

    def channel(self, path):
        """The report of one channel by guest path (KeyError if absent)."""
        for c in self.channels:
            if c.path == path:
                return c
        raise KeyError(path)

    def to_dict(self):
        # As dataclasses.asdict, in field order, without its deep copies
        # (the other fields are all str, int or None).
        return {'reason': self.reason.value, 'exit_code': self.exit_code,
                'signal': self.signal, 'message': self.message,
                'cpu_user_ms': self.cpu_user_ms,
                'cpu_sys_ms': self.cpu_sys_ms, 'wall_ms': self.wall_ms,
                'max_rss_kb': self.max_rss_kb, 'seed': self.seed,
                'channels': [c.to_dict() for c in self.channels],
                'launcher_status': int(self.launcher_status)}

    def deterministic(self):
        """The report without host timings: equal for equal runs."""
        d = self.to_dict()
        for k in TIMING_FIELDS:
            d.pop(k)
        return d

    @property
    def shell_status(self):
        """The status a shell would show: exit code, or 128 + signal."""
        if self.exit_code is not None:
            return self.exit_code
        if self.signal:
            return 128 + self.signal
        return None
