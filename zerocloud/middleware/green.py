# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Green threads that log as their request does.

Swift's logger keeps the transaction id (and the client's address) per
green thread, so a line logged by a thread a request spawned (a node's
request, the rendezvous, the commit) carried no ``txn`` and could not be
tied to its job.  :func:`keeping_txn` wraps a function to run with the
spawning thread's values."""
import functools


def keeping_txn(logger, func):
    """``func``, run with the calling green thread's transaction id and
    client address set on ``logger`` (``func`` itself for a logger that
    keeps none, as a plain ``logging`` one in unit tests)."""
    if not isinstance(getattr(type(logger), 'thread_locals', None),
                      property):
        return func
    saved = logger.thread_locals

    @functools.wraps(func)
    def run(*args, **kwargs):
        logger.thread_locals = saved
        return func(*args, **kwargs)
    return run
