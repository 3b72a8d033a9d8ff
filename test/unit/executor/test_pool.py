# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import threading
import time

import eventlet
import pytest

from zerocloud.executor.pool import Abandoned, Pool, PoolFull


def test_admission_is_bounded_by_running_plus_queued():
    pool = Pool(1, 1, 1)
    with pool.admission(), pool.admission():
        assert pool.admitted == 2
        with pytest.raises(PoolFull):
            with pool.admission():
                pass
    assert pool.admitted == 0
    with pool.admission():
        pass


def test_run_returns_and_raises_what_the_function_does():
    pool = Pool(2, 0, 1)
    assert pool.run(lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ZeroDivisionError):
        pool.run(lambda: 1 / 0)
    assert pool.running == 0


def test_run_uses_a_worker_thread_and_the_hub_keeps_going():
    pool = Pool(1, 0, 1)
    main = threading.get_ident()
    ticks = []
    ticker = eventlet.spawn(lambda: [ticks.append(eventlet.sleep(0.01))
                                     for _ in range(20)])
    ident = pool.run(lambda: (time.sleep(0.1), threading.get_ident())[1])
    assert ident != main
    assert len(ticks) >= 3      # green threads ran during the blocking call
    ticker.kill()


def test_no_slot_in_time_is_pool_full():
    pool = Pool(1, 1, 0.2)
    gate = threading.Event()
    first = eventlet.spawn(pool.run, gate.wait, 5)
    while pool.running == 0:
        eventlet.sleep(0.01)
    with pytest.raises(PoolFull):
        pool.run(lambda: None)
    gate.set()
    assert first.wait() is True
    assert pool.run(lambda: 'free again') == 'free again'


def test_a_queued_request_given_up_leaves_the_queue():
    # Reviewer L: a request whose proxy hung up kept its queue place until
    # a slot freed, then took the slot only to abort.
    pool = Pool(1, 1, 60)
    gate = threading.Event()
    first = eventlet.spawn(pool.run, gate.wait, 5)
    while pool.running == 0:
        eventlet.sleep(0.01)
    gone = []
    eventlet.spawn_after(0.2, gone.append, True)
    ran = []
    with eventlet.Timeout(5):
        with pytest.raises(Abandoned):
            pool.run(ran.append, 1, given_up=lambda: bool(gone))
    assert not ran and pool.running == 1
    gate.set()
    assert first.wait() is True
    assert pool.run(lambda: 'free', given_up=lambda: False) == 'free'
    assert pool.running == 0


def test_bad_sizes():
    with pytest.raises(ValueError):
        Pool(0, 1, 1)
    with pytest.raises(ValueError):
        Pool(1, -1, 1)
