"""The record machinery (modic_core.schema.base): kind/version dispatch and its errors, unions, Literal and tuple
fields, unknown keys, null handling, the one atomic JSON writer."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from modic_core.schema import (
    Benchmark,
    BatchProgress,
    ClassifierTrainingConfig,
    DetectorCard,
    Estimate,
    PairedDiff,
    Record,
    SchemaError,
    Timing,
    load_document,
    write_json_atomic,
)

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, doc: dict) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_unknown_kind_names_the_file_the_kind_and_the_kinds_read(tmp_path):
    p = _write(tmp_path, "mystery.json", {"schema": "mystery_card", "schema_version": 1, "x": 1})
    with pytest.raises(SchemaError) as err:
        load_document(p)
    msg = str(err.value)
    assert "mystery.json" in msg and "'mystery_card'" in msg
    assert "'detector_card' (version 1)" in msg and "'study_report' (version 2)" in msg
    with pytest.raises(SchemaError, match=r"plain\.json: no 'schema' key"):
        load_document(_write(tmp_path, "plain.json", {"x": 1}))


def test_unknown_version_names_the_file_the_kind_and_the_supported_version(tmp_path):
    doc = json.loads((ROOT / "weights" / "detector.json").read_text())
    p = _write(tmp_path, "detector.json", {**doc, "schema_version": 3})
    for read in (load_document, DetectorCard.load):
        with pytest.raises(SchemaError) as err:
            read(p)
        msg = str(err.value)
        assert "detector.json" in msg and "'detector_card' version 3" in msg and "reads version 1" in msg
        assert isinstance(err.value, ValueError)


def test_a_union_field_takes_its_second_member():
    class Either(Record):
        size: int | str
        parts: list[int] | dict[str, int]

    rec = Either.from_dict({"size": "large", "parts": {"a": 1}})  # the old converter only tried int and list
    assert rec.size == "large" and rec.parts == {"a": 1}
    assert Either.from_dict({"size": 3, "parts": [1, 2]}).size == 3
    with pytest.raises(SchemaError, match="'size'"):
        Either.from_dict({"size": 1.5j, "parts": []})


def test_literal_and_tuple_fields_are_checked():
    base = {"engine": "local", "updated": "t", "studies_total": 1, "done_before": 0, "done_ok": 1, "failed": 0, "left": 0}
    assert BatchProgress.body_from_dict({**base, "state": "finished"}).state == "finished"
    with pytest.raises(SchemaError, match="'state'"):
        BatchProgress.body_from_dict({**base, "state": "exploded"}, source="p.json")
    doc = json.loads((ROOT / "benchmarks" / "latest.json").read_text())
    bench = Benchmark.from_dict(doc)
    assert all(isinstance(v, tuple) and len(v) == 2 for v in bench.target_check.values())
    with pytest.raises(SchemaError, match="target_check"):
        Benchmark.from_dict({**doc, "target_check": {"peak_rss_gb": [1.2, True, "extra"]}})


def test_unknown_keys_kept_where_the_record_keeps_them_and_refused_elsewhere():
    est = Estimate.from_dict({"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "display": "x", "new_key": [1, 2]})
    assert est.new_key == [1, 2] and est.to_dict()["new_key"] == [1, 2]
    with pytest.raises(SchemaError, match="unexpected field 'surprise'"):
        Timing.from_dict({"median_s": 1.0, "min_s": 1.0, "max_s": 1.0, "n": 3, "surprise": 1})


def test_optional_fields_and_nulls():
    assert Estimate(value=0.5).to_dict() == {"value": 0.5, "ci_low": None, "ci_high": None, "display": None}
    bare = PairedDiff(metric="m", value_a=1.0, value_b=0.5, diff=0.5)
    assert "frac_diff_le_0" not in bare.to_dict()  # not given: left out (older files read back unchanged)
    given = PairedDiff(metric="m", value_a=1.0, value_b=0.5, diff=0.5, frac_diff_le_0=None)
    assert given.to_dict()["frac_diff_le_0"] is None  # given as undefined: written as null
    assert "frac_diff_le_0" not in bare.replace(diff=0.4).to_dict() and bare.replace(diff=0.4).diff == 0.4


def test_replace_validates():
    cfg = ClassifierTrainingConfig().replace(epochs=3, crop={"size": (48, 48)})
    assert cfg.epochs == 3 and cfg.crop == {"size": [48, 48]}  # tuples as they read back
    with pytest.raises(ValueError):
        cfg.replace(epochs="many")


@pytest.mark.parametrize("bad", [float("nan"), math.inf, -math.inf, np.float64("nan")])
def test_write_json_atomic_refuses_nan_and_inf_and_leaves_the_old_file(tmp_path, bad):
    p = write_json_atomic({"x": 1}, tmp_path / "a.json")
    with pytest.raises(ValueError):
        write_json_atomic({"x": [1.0, bad]}, p)
    assert json.loads(p.read_text()) == {"x": 1}
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]  # no temporary file left


def test_write_json_atomic_writes_numpy_values_as_plain_json(tmp_path):
    p = write_json_atomic({"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3)}, tmp_path / "sub" / "b.json")
    assert json.loads(p.read_text()) == {"i": 3, "f": 0.5, "a": [0, 1, 2]}


def test_a_document_with_nan_is_not_saved(tmp_path):
    est = Estimate(value=float("nan"))
    with pytest.raises(ValueError):
        write_json_atomic(est.to_dict(), tmp_path / "e.json")
    assert not (tmp_path / "e.json").exists()
