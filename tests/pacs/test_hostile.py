"""A hostile or broken archive (a tiny HTTP server on 127.0.0.1) always ends in one clear PacsError:
wrong content types, bad JSON, truncated multipart bodies, 401/403/500, a hang past the timeout, an endless
series; busy answers (503) are retried. Credentials and searched identifiers never reach errors or logs."""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modic_core.pacs import DicomwebConfig, PacsError, open_archive

STUDY, T1, T2 = "1.2.3.4", "1.2.3.4.1", "1.2.3.4.2"
SECRET, TOKEN, PATIENT = "hunter2-pw-x", "tok-9f8e7d", "PAT-SECRET-77"
BOUNDARY = "modicBOUNDARY"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: truncation is possible

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):  # noqa: N802 - the http.server name
        server = self.server
        server.requests.append(self.path)
        mode = server.mode
        if mode == "busy_once" and len(server.requests) == 1:
            return self._send(503, b"busy", "text/plain")
        if isinstance(mode, int):
            return self._send(mode, b"<html>no</html>", "text/html")
        if mode == "hang":
            time.sleep(3)
            return self._send(200, b"[]", "application/dicom+json")
        path = self.path.split("?")[0]
        if path.endswith("/studies") or path.endswith("/series") or path.endswith("/instances"):
            if mode == "html":
                return self._send(200, b"<html>Sign in</html>", "text/html")
            if mode == "bad_json":
                return self._send(200, b"{not json", "application/dicom+json")
            if mode == "json_text":
                return self._send(200, json.dumps("just text").encode(), "application/dicom+json")
            items = [{"00080018": {"vr": "UI", "Value": [f"1.2.3.4.9.{i}"]}} for i in range(3)]
            if path.endswith("/studies"):
                items = [{"0020000D": {"vr": "UI", "Value": [STUDY]}, "00100010": {"vr": "PN", "Value": [[1]]},
                          "00080020": {"vr": "DA", "Value": ["notadate"]}}, {"bogus": 1}]
            return self._send(200, json.dumps(items).encode(), "application/dicom+json")
        # WADO-RS retrieval of a series
        if mode == "html":
            return self._send(200, b"<html>Sign in</html>", "text/html")
        part = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").encode() + b"\0" * 1000 + b"\r\n"
        if mode == "truncated":
            return self._send(200, part + part[:500], f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
        if mode == "endless":
            self.send_response(200)
            self.send_header("Content-Type", f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
            self.end_headers()
            chunk = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").encode() + b"\0" * 65536 + b"\r\n"
            try:
                for _ in range(2000):  # 128 MiB if nobody stops reading
                    self.wfile.write(chunk)
                    server.sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        return self._send(200, part + f"--{BOUNDARY}--\r\n".encode(),
                          f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')


@pytest.fixture()
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.mode, server.requests, server.sent = None, [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _archive(server, **kw):
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("retries", 0)
    return open_archive(DicomwebConfig(url=f"http://127.0.0.1:{server.server_address[1]}/dicom-web",
                                       username="reader", password=SECRET, **kw))


def _clean(message: str) -> None:
    assert SECRET not in message and TOKEN not in message and PATIENT not in message
    assert "Traceback" not in message and "127.0.0.1" not in message


@pytest.mark.parametrize(("status", "words"), [(401, "HTTP 401"), (403, "HTTP 403"), (500, "HTTP 500")])
def test_error_statuses_are_one_sentence(hostile, status, words, caplog):
    hostile.mode = status
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PacsError, match=words) as err:
        _archive(hostile).search_studies(patient_id=PATIENT)
    _clean(str(err.value))
    assert err.value.__cause__ is None and err.value.__suppress_context__
    _clean(caplog.text)


@pytest.mark.parametrize("mode", ["html", "bad_json", "json_text"])
def test_answers_that_are_not_dicom_json(hostile, mode):
    hostile.mode = mode
    with pytest.raises(PacsError, match="not DICOM|not DICOMweb") as err:
        _archive(hostile).search_studies(patient_id=PATIENT)
    _clean(str(err.value))


def test_wrong_content_type_on_retrieval(hostile):
    hostile.mode = None
    archive = _archive(hostile)
    hostile.mode = "html"
    with pytest.raises(PacsError):  # the instance count (QIDO) already fails on HTML
        archive.retrieve_pair(STUDY, T1, T2)
    with pytest.raises(PacsError, match="instead of DICOM files"):
        archive.retrieve_instance(STUDY, T1, "1.2.3.4.9.0")


def test_hostile_study_values_are_made_harmless(hostile):
    hits = _archive(hostile).search_studies(patient_id="X")
    assert [(h.study_uid, h.patient_name, h.study_date) for h in hits] == [(STUDY, "", None)]


def test_truncated_multipart_body(hostile):
    hostile.mode = "truncated"
    with pytest.raises(PacsError, match="truncated"):
        _archive(hostile).retrieve_pair(STUDY, T1, T2)


def test_a_complete_but_damaged_series_is_refused_as_unreadable(hostile):
    with pytest.raises(PacsError, match="T1 series from the PACS cannot be used"):
        _archive(hostile).retrieve_pair(STUDY, T1, T2)


def test_an_endless_series_stops_at_the_upload_limit(hostile, monkeypatch):
    hostile.mode = "endless"
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", "1")
    with pytest.raises(PacsError, match="larger than 1 MiB"):
        _archive(hostile).retrieve_pair(STUDY, T1, T2)
    time.sleep(0.5)
    assert hostile.sent < 32 * 2**20  # reading stopped near the limit, not at the 128 MiB the server offered


def test_a_hang_ends_at_the_timeout(hostile):
    hostile.mode = "hang"
    start = time.monotonic()
    with pytest.raises(PacsError, match="did not answer within 0.5 s"):
        _archive(hostile, timeout_s=0.5).search_studies(patient_id=PATIENT)
    assert time.monotonic() - start < 2.5


def test_busy_answers_are_retried(hostile):
    hostile.mode = "busy_once"
    assert len(_archive(hostile, retries=1).search_studies(patient_id="X")) == 1
    assert len(hostile.requests) == 2
    hostile.mode, hostile.requests = "busy_once", []
    with pytest.raises(PacsError, match="HTTP 503"):
        _archive(hostile, retries=0).search_studies(patient_id="X")


def test_an_unreachable_archive(hostile):
    port = hostile.server_address[1]
    hostile.shutdown()
    hostile.server_close()
    archive = open_archive(DicomwebConfig(url=f"http://127.0.0.1:{port}/dicom-web", token=TOKEN, retries=0,
                                          timeout_s=2))
    with pytest.raises(PacsError, match="could not be reached") as err:
        archive.search_studies(patient_id=PATIENT)
    _clean(str(err.value))


def test_bearer_token_is_sent_and_never_shown(hostile, caplog):
    caplog.set_level(logging.DEBUG)
    seen = {}
    original = _Handler.do_GET

    def spy(handler):
        seen["auth"] = handler.headers.get("Authorization")
        return original(handler)

    _Handler.do_GET = spy
    try:
        archive = open_archive(DicomwebConfig(url=f"http://127.0.0.1:{hostile.server_address[1]}/dicom-web",
                                              token=TOKEN, retries=0))
        archive.search_studies(patient_id=PATIENT)
    finally:
        _Handler.do_GET = original
    assert seen["auth"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(archive) and TOKEN not in str(archive.config)
    _clean(caplog.text)
