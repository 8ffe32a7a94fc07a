"""Fixtures shared by every test folder.

The product's data folder (label store) is a throw-away temp folder for the whole test session, so no
test (nor an app a browser test starts, which inherits the environment) writes into the checkout's
``data/``; tests that need their own store set ``MODIC_DATA_DIR`` themselves.
"""
import os
import tempfile

from tests.logging_support import restore_logging  # noqa: F401 - a fixture, registered by being named here
from tests.postgres_support import postgres_server  # noqa: F401 - a fixture (one server per session)
from tests.orthanc_support import orthanc_server  # noqa: F401 - a fixture (one archive per session)

os.environ["MODIC_DATA_DIR"] = tempfile.mkdtemp(prefix="modic_test_data_")
os.environ.pop("MODIC_DATABASE_URL", None)
os.environ.pop("MODIC_AUTH_FILE", None)
