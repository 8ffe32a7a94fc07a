"""Shared test support for logging: put the package logger back after a test, and a PHI check."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import pytest

from modic_core import logs


def assert_no_phi(text: str, phi: Iterable[str]) -> None:
    """Fail naming the first identifier of ``phi`` found in ``text``."""
    for s in phi:
        assert s not in text, s


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the package logger (handlers, level, debug): undo it after the test."""
    root = logging.getLogger("modic_core")
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logs._State.debug = False
