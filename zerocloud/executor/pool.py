# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Admission: how many sandboxes run at once, how many requests wait.

An object server hosts at most ``max_running`` sandboxes and lets at most
``max_queued`` more execution requests wait for one.  Nodes joined to
others by pipes are admitted apart, against ``max_connected``
(:meth:`Pool.gang_admission`): a gang must run all at once, so its nodes
neither wait nor take the ``max_running`` slots.  A request first
enters the house (:meth:`Pool.admission`), which fails at once with
:class:`PoolFull` when ``max_running + max_queued`` requests are already
in; admitted requests read their body and then take a slot for the
blocking work (:meth:`Pool.run`), waiting at most ``queue_timeout``
seconds for one (:class:`PoolFull` again).  The filter answers both with
503 and ``Retry-After``, and the proxy tries the next replica.

Everything here runs on the server's eventlet hub: the counters change
only between green switches, and the slots are a green semaphore.  The
blocking function itself runs in a worker thread through ``execute``
(``eventlet.tpool.execute`` by default), so the hub keeps serving other
requests meanwhile; ``eventlet.tpool`` has 20 threads unless
``EVENTLET_THREADPOOL_SIZE`` says otherwise, which bounds ``max_running``.
"""
import contextlib
import time

from eventlet import semaphore, tpool

from zerocloud.exceptions import ZeroCloudError

__all__ = ['Pool', 'PoolFull']


class PoolFull(ZeroCloudError):
    """No room: the queue is full, or no slot came in time."""


class Abandoned(ZeroCloudError):
    """The request waiting for a slot was given up (its client is gone)
    before it got one."""


#: Seconds between looks at whether a queued request was given up.
ABANDON_POLL = 0.25


class Pool:
    """Bounded slots plus a bounded queue in front of them.

    :param max_running: sandboxes at once.
    :param max_queued: admitted requests that may wait beyond those.
    :param queue_timeout: seconds :meth:`run` waits for a slot.
    :param execute: ``execute(func, *args)`` runs ``func`` off the hub and
        returns its result or raises its exception.
    """

    def __init__(self, max_running, max_queued, queue_timeout,
                 execute=tpool.execute, max_connected=0):
        if max_running < 1 or max_queued < 0 or max_connected < 0:
            raise ValueError('max_running >= 1, max_queued >= 0 and '
                             'max_connected >= 0 please')
        self.max_running = max_running
        self.max_queued = max_queued
        self.max_connected = max_connected
        self.queue_timeout = queue_timeout
        self._execute = execute
        self._slots = semaphore.Semaphore(max_running)
        self.admitted = 0
        self.running = 0
        self.connected = 0

    @contextlib.contextmanager
    def gang_admission(self):
        """Hold one of the ``max_connected`` places of nodes joined by
        pipes, for the whole request.  Such a node never waits: its gang
        holds places elsewhere meanwhile, and waiting while holding is how
        two gangs would deadlock.  No place now: :class:`PoolFull`, and the
        proxy tries another server or refuses the job as a whole.
        """
        if self.connected >= self.max_connected:
            raise PoolFull('all %d sandboxes for connected nodes are in use'
                           % self.max_connected)
        self.connected += 1
        try:
            yield self
        finally:
            self.connected -= 1

    @property
    def capacity(self):
        return self.max_running + self.max_queued

    @contextlib.contextmanager
    def admission(self):
        """Hold a place in the house for the whole request.

        :raises PoolFull: when ``capacity`` requests are already in.
        """
        if self.admitted >= self.capacity:
            raise PoolFull('%d execution requests in progress'
                           % self.admitted)
        self.admitted += 1
        try:
            yield self
        finally:
            self.admitted -= 1

    @contextlib.contextmanager
    def slot(self, timeout=None, given_up=None):
        """Hold a sandbox slot, waiting at most ``timeout`` seconds
        (default ``queue_timeout``) for one, and no longer once
        ``given_up()`` is true.

        :raises PoolFull: when no slot is free in time.
        :raises Abandoned: when ``given_up()`` became true first.
        """
        timeout = self.queue_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            step = left if given_up is None else min(left, ABANDON_POLL)
            if self._slots.acquire(timeout=max(0, step)):
                break
            if given_up is not None and given_up():
                raise Abandoned('given up while waiting for a sandbox')
            if left <= step:
                raise PoolFull('no sandbox free within %s s' % timeout)
        self.running += 1
        try:
            yield self
        finally:
            self.running -= 1
            self._slots.release()

    def execute(self, func, *args):
        """Run ``func(*args)`` in a worker thread (hold a :meth:`slot`)."""
        return self._execute(func, *args)

    def run(self, func, *args, given_up=None):
        """Wait for a slot, run ``func(*args)`` in a worker thread.

        :raises PoolFull: when no slot is free within ``queue_timeout``.
        :raises Abandoned: when ``given_up()`` became true first (a
            request whose proxy hung up must not keep its queue place).
        """
        with self.slot(given_up=given_up):
            return self._execute(func, *args)
