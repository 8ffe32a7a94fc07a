"""Fixtures shared by every test folder."""
from tests.logging_support import restore_logging  # noqa: F401 - a fixture, registered by being named here
