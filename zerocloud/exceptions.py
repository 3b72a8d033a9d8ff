# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The exception tree.

Every error zerocloud raises on purpose derives from :class:`ZeroCloudError`;
those that describe bad input also derive from the matching builtin so that
callers who only know Python's own exceptions still catch them::

    ZeroCloudError
     +-- ConfigError(ValueError)        bad filter or CLI configuration
     +-- JobError(ValueError)           bad job description (.status)
     +-- ValidationError(ValueError)    the validator refused a program
     +-- SpecError(ValueError)          bad execution request (node spec, tar)
     +-- SandboxError                   the sandbox could not run a program
          +-- LauncherNotFound          no usable zvm binary, none buildable
          +-- ManifestError(ValueError) a run cannot become a manifest
"""

__all__ = ['ZeroCloudError', 'ConfigError', 'JobError', 'ValidationError',
           'SpecError', 'SandboxError', 'LauncherNotFound', 'ManifestError']


class ZeroCloudError(Exception):
    """Root of every zerocloud error."""


class ConfigError(ZeroCloudError, ValueError):
    """An option has a bad value."""


class JobError(ZeroCloudError, ValueError):
    """A job description is malformed.

    ``status`` is the HTTP status a proxy answers with: 400 for a bad job,
    413 for one too large, 422 for a body that is not JSON.
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class ValidationError(ZeroCloudError, ValueError):
    """A program failed static validation; the message says why."""


class SpecError(ZeroCloudError, ValueError):
    """An execution request (its tar or its node spec) is malformed.

    ``status`` is the HTTP status the object filter answers with: 400, 413
    when a member is larger than configured, 501 for a feature this object
    server does not run.
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class SandboxError(ZeroCloudError):
    """The sandbox could not run a program (not: the program failed)."""


class LauncherNotFound(SandboxError):
    """No zvm launcher binary is available."""


class ManifestError(SandboxError, ValueError):
    """A node spec cannot be expressed as a launcher manifest."""
