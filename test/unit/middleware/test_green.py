# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
import logging

import eventlet
from swift.common.utils import get_logger

from zerocloud.middleware.green import keeping_txn


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append((record.getMessage(),
                           getattr(record, 'txn_id', None)))


def test_a_spawned_thread_logs_with_its_request_s_transaction_id():
    logger = get_logger({}, log_route='test-green')
    lines = Lines()
    logger.logger.addHandler(lines)
    try:
        logger.txn_id = 'tx-the-job'

        def work(what):
            logger.warning('node %s: unreachable', what)
        eventlet.spawn(work, 'bare').wait()
        eventlet.spawn(keeping_txn(logger, work), 'kept').wait()
        assert logger.txn_id == 'tx-the-job'
    finally:
        logger.logger.removeHandler(lines)
        logger.txn_id = None
    assert lines.lines == [('node bare: unreachable', None),
                           ('node kept: unreachable', 'tx-the-job')]


def test_a_plain_logger_is_left_alone():
    def work():
        return 7
    assert keeping_txn(logging.getLogger('plain'), work) is work
