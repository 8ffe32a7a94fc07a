"""modic_core.logs (issue 24): the PHI filter on messages, arguments, exceptions and stacks; opt-in
tracebacks; configure_logging's file; and print kept for the commands' own results."""
from __future__ import annotations

import ast
import io
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from modic_core import logs
from modic_core.boxes import box_iou
from modic_core.ui import guard
from modic_core.logs import PhiFilter, configure_logging, describe_exception, get_logger, scrub, sensitive

from tests.logging_support import assert_no_phi

ROOT = Path(__file__).resolve().parents[1]
PHI = ("Jane", "JANE", "Doe", "DOE", "JD-99421", "19650412", "1965", "4471")


def _no_phi(text: str) -> None:
    assert_no_phi(text, PHI)


@pytest.mark.parametrize("text, expected", [
    ("reading /home/jane/DOE_JANE_MRN4471_t1.mha failed", "reading [path] failed"),
    ("C:\\Users\\jane\\x.dcm and \\\\server\\share\\doe", "[path] and [path]"),
    ("cannot read Jane_Doe/t1/IM00001.dcm", "cannot read [path]"),
    ("upload DOE_JANE_MRN4471.zip refused", "upload [file] refused"),
    ("PatientName='DOE^JANE' PatientID=JD-99421", "PatientName=[redacted] PatientID=[redacted]"),
    ("patient id: JD-99421, accession number A-4471", "patient id: [redacted], accession number [redacted]"),
    ("(PatientID=JD-99421)", "(PatientID=[redacted])"),
    ("(0010,0010) DOE^JANE^Q", "(0010,0010) [redacted]"),
    ("name DOE^JANE record MRN 4471, MRN4471", "name [name] record MRN [redacted], [id]"),
    ("born 19650412, 1965-04-12 or 12.04.1965", "born [date], [date] or [date]"),
])
def test_scrub_replaces_identifiers_dates_and_paths(text, expected):
    assert scrub(text) == expected
    assert scrub(expected) == expected  # a record scrubbed twice (logger and handler filters) is unchanged


@pytest.mark.parametrize("text", [
    "T1/T2 alignment ok (moved 3 mm), MC0/MC2 uncertain, ~5 s, 3/4 studies done",
    "ValueError while exporting at modic_core.normalization.methods:_need_mask:12",
    "batched analysis of 2 studies failed; patient names are never logged",
])
def test_scrub_leaves_ordinary_sentences_alone(text):
    assert scrub(text) == text


def test_sensitive_names_are_scrubbed_only_inside_their_scope(tmp_path):
    t1 = tmp_path / "Jane_Doe_4471" / "t1.mha"
    with sensitive([t1, tmp_path / "Jane_Doe_4471" / "t2.mha"]):
        assert scrub("t1.mha of Jane_Doe_4471 is unreadable") == "[file] of [redacted] is unreadable"
    assert scrub("Jane_Doe_4471") == "Jane_Doe_4471"


def _record(msg, *args, exc_info=None, stack_info=None):
    return logging.LogRecord("modic_core.x", logging.ERROR, __file__, 1, msg, args, exc_info, sinfo=stack_info)


def _raise_deep():
    raise OSError("cannot open /data/Jane_Doe/IM1.dcm for PatientID=JD-99421")


def _exc_info():
    try:
        _raise_deep()
    except OSError:
        return sys.exc_info()


def test_filter_scrubs_message_and_args():
    rec = _record("study %s: %s", "/home/jane/Doe/t1.mha", {"PatientName": "DOE^JANE"})
    assert PhiFilter(debug=False).filter(rec) is True  # never drops a record
    assert rec.args == () and rec.getMessage() == "study [path]: {'PatientName': [redacted]}"
    _no_phi(logging.Formatter().format(rec))


def test_filter_reduces_an_exception_to_one_line_without_debug():
    rec = _record("analysis failed", exc_info=_exc_info(), stack_info="Stack (most recent call last):\n /home/jane/Doe.py")
    PhiFilter(debug=False).filter(rec)
    text = logging.Formatter().format(rec)
    line = _raise_deep.__code__.co_firstlineno + 1
    assert text == f"analysis failed [OSError: cannot open [path] for PatientID=[redacted] (at test_logs.py:_raise_deep:{line})]"
    assert "Traceback" not in text and "Stack" not in text


def test_filter_keeps_a_scrubbed_traceback_with_debug():
    rec = _record("analysis of %s failed", "/home/jane/Doe/t1.mha", exc_info=_exc_info())
    PhiFilter(debug=True).filter(rec)
    text = logging.Formatter().format(rec)
    assert "Traceback (most recent call last)" in text and 'File "test_logs.py", line' in text and "in _raise_deep" in text
    assert "OSError: cannot open [path] for PatientID=[redacted]" in text
    _no_phi(text)


def test_describe_exception_names_the_innermost_package_frame():
    from modic_core.settings import _env_float

    try:
        import os

        os.environ["MODIC_X_TEST"] = "Doe"
        _env_float("MODIC_X_TEST", 1.0)
    except ValueError as exc:
        line = describe_exception(exc)
    finally:
        del os.environ["MODIC_X_TEST"]
    assert line.startswith("ValueError: The environment variable MODIC_X_TEST='Doe' is not a number. (at modic_core.settings:_env_float:")


def test_records_are_scrubbed_before_any_handler_even_unconfigured(caplog):
    caplog.set_level(logging.INFO, logger="modic_core")
    get_logger("modic_core.somewhere").warning("reading %s", "/home/jane/DOE_JANE.mha")
    assert "reading [path]" in caplog.text
    _no_phi(caplog.text)


def test_configure_logging_writes_the_file_with_tracebacks_only_in_debug(tmp_path, restore_logging):
    log = get_logger("modic_core.test_logs")
    for debug in (False, True):
        path = tmp_path / f"run_{debug}.log"
        configure_logging(debug=debug, log_file=path, stream=io.StringIO())
        try:
            _raise_deep()
        except OSError:
            log.exception("study s1 failed")
        text = path.read_text()
        assert "study s1 failed" in text and "OSError: cannot open [path]" in text
        assert ("Traceback (most recent call last)" in text) is debug
        _no_phi(text)
    configure_logging(log_file=tmp_path / "again.log", stream=io.StringIO())
    assert sum(getattr(h, "_modic_handler", False) for h in logging.getLogger("modic_core").handlers) == 2  # replaced, not added


def test_modic_debug_setting(monkeypatch):
    from modic_core import settings

    for value, on in (("1", True), ("true", True), ("0", False), ("", False), ("no", False)):
        monkeypatch.setenv("MODIC_DEBUG", value)
        assert settings.debug() is on
    monkeypatch.delenv("MODIC_DEBUG")
    assert settings.debug() is False


# Functions whose print() is a command's own result (its table, JSON, "wrote X", its error sentence).
COMMAND_OUTPUT = {"main", "analyze_main", "_run_locked", "_write_metrics", "_print", "row", "rescore", "run_learning_curve", "_summary"}


def test_progress_and_diagnostics_go_to_the_logger_not_print():
    """print() stays only where a command writes its result; progress, warnings and training notes are logged."""
    def walk(node, fn, main_block, where, offenders):
        for ch in ast.iter_child_nodes(node):
            f = ch.name if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
            mb = main_block or (isinstance(ch, ast.If) and "__main__" in ast.unparse(ch.test))
            if isinstance(ch, ast.Call) and isinstance(ch.func, ast.Name) and ch.func.id == "print":
                if f not in COMMAND_OUTPUT and not mb:
                    offenders.append(f"{where}:{ch.lineno} in {f}")
            walk(ch, f, mb, where, offenders)

    offenders: list[str] = []
    for path in sorted((ROOT / "modic_core").rglob("*.py")):
        walk(ast.parse(path.read_text()), "<module>", False, path.relative_to(ROOT), offenders)
    assert offenders == []


def test_failure_location_is_one_helper_for_the_page_guard_and_the_batch():
    """The page guard's location trail and the batch status line read frames the same way (one helper):
    the product's frame first, then the library the failure came from."""
    try:
        box_iou(np.zeros((2, 3)), np.zeros((1, 4)))  # boxes need 4 coordinates
    except ValueError as exc:
        trail = logs.failure_location(exc)
        assert trail.startswith("modic_core.boxes:box_iou:")
        assert guard.failure_location(exc) == trail
        assert logs.describe_exception(exc).endswith(f"(at {trail.split(' ')[0]})")
