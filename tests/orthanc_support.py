"""A throw-away Orthanc archive with its DICOMweb plugin, for the PACS tests.

Started once per test session (``/usr/sbin/Orthanc CONFIG.json``, Debian's ``orthanc`` and ``orthanc-dicomweb``)
with temporary storage, a free 127.0.0.1 HTTP port, remote access and the DICOM port off, and HTTP basic
authentication on (user :data:`USER`), so every test goes through sign-in. Without the binary or the plugin the
tests are skipped with the reason, unless ``MODIC_REQUIRE_ORTHANC`` is set (CI): then they fail. Registered for
every folder in ``tests/conftest.py``. :func:`upload` adds DICOM files through Orthanc's REST API (test set-up
only); :func:`clear` empties the archive.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "modic-test", "orthanc-test-secret"


@dataclass(frozen=True)
class OrthancServer:
    """A running Orthanc: ``base`` is its REST root, ``dicomweb`` its DICOMweb root (``base + /dicom-web``)."""

    base: str
    dicomweb: str
    auth: tuple[str, str] = (USER, PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable() -> str | None:
    if not ORTHANC.exists():
        return f"Orthanc not found at {ORTHANC} (apt: orthanc)"
    if not PLUGIN.exists():
        return f"the Orthanc DICOMweb plugin not found at {PLUGIN} (apt: orthanc-dicomweb)"
    return None


def _config(folder: Path, port: int) -> dict:
    return {
        "Name": "MODIC-TEST", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
        "HttpPort": port, "HttpServerEnabled": True, "RemoteAccessAllowed": False, "DicomServerEnabled": False,
        "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD}, "HttpDescribeErrors": False,
        "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                                               "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        "StorageCompression": False, "ConcurrentJobs": 1, "HttpThreadsCount": 8, "LimitFindResults": 0,
        "LimitFindInstances": 0, "KeepAlive": True, "StableAge": 1, "SaveJobs": False,
    }


@pytest.fixture(scope="session")
def orthanc_server():
    """An :class:`OrthancServer` for the whole session (stopped and its storage removed afterwards)."""
    reason = _unavailable()
    if reason:
        if os.environ.get("MODIC_REQUIRE_ORTHANC"):
            pytest.fail(f"MODIC_REQUIRE_ORTHANC is set but {reason}.")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="modic-orthanc-"))
    port = _free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(_config(folder, port)))
    log = (folder / "orthanc.log").open("wb")
    proc = subprocess.Popen([str(ORTHANC), str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {proc.returncode}: {(folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{base}/system", auth=(USER, PASSWORD), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not answer /system within 60 s")
            time.sleep(0.2)
        yield OrthancServer(base=base, dicomweb=f"{base}/dicom-web")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def upload(server: OrthancServer, paths) -> None:
    """Store DICOM files in the archive (Orthanc's REST ``POST /instances``; test set-up only)."""
    with requests.Session() as s:
        s.auth = server.auth
        for path in paths:
            r = s.post(f"{server.base}/instances", data=Path(path).read_bytes(),
                       headers={"Content-Type": "application/dicom"}, timeout=60)
            r.raise_for_status()


def clear(server: OrthancServer) -> None:
    """Delete every study in the archive."""
    with requests.Session() as s:
        s.auth = server.auth
        for study in s.get(f"{server.base}/studies", timeout=30).json():
            s.delete(f"{server.base}/studies/{study}", timeout=60).raise_for_status()
