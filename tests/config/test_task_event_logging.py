"""Celery's routine task lines follow TASK_EVENT_LOG_LEVEL (DEBUG in development, INFO otherwise);
a task's failure keeps its own level."""
import logging

import pytest

from core.logging import TaskEventLevel


def _record(name: str, level: int, msg: str, args) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.fixture
def beat_logger():
    logger = logging.getLogger("celery.beat")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(before)


def test_development_demotes_beats_and_workers_routine_lines_below_info(beat_logger):
    sending = _record("celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)", ("usage-flush", "x"))
    assert TaskEventLevel("DEBUG").filter(sending) is False  # dropped while the level is INFO
    assert sending.levelname == "DEBUG"
    beat_logger.setLevel(logging.DEBUG)
    assert TaskEventLevel("DEBUG").filter(_record("celery.beat", logging.INFO, sending.msg, sending.args)) is True


def test_info_keeps_them_and_other_messages_are_untouched(beat_logger):
    sending = _record("celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)", ("usage-flush", "x"))
    assert TaskEventLevel("INFO").filter(sending) is True and sending.levelname == "INFO"
    failed = _record("celery.app.trace", logging.ERROR, "Task %(name)s[%(id)s] %(description)s: %(exc)s", ())
    assert TaskEventLevel("DEBUG").filter(failed) is True and failed.levelno == logging.ERROR
