"""The batch mode on Ray (issue 16): same results as the local engine, resume, bad studies, a killed actor, a stall.

One local Ray with 2 CPUs serves the module (started once, shut down at the end).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from modic_core.batch.ray_engine import PipelineStalled, plan_resources
from modic_core.errors import InputError
from tests.shipped import models_ready

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "demo" / "cohort"


# --------------------------------------------------------------------------- resource plan (no Ray needed)


def test_plan_leaves_room_for_the_read_tasks_on_two_cpus():
    p = plan_resources(cpus=2, gpus=0)
    assert p.concurrency == 2 and p.actor_gpus == 0
    # the actors and one read task fit in 2 CPUs together (the default 1 CPU per actor did not)
    assert p.concurrency * p.actor_cpus + p.read_cpus <= 2 + 1e-9 and p.read_cpus >= 0.5
    one = plan_resources(cpus=2, gpus=0, concurrency=1)
    assert one.actor_cpus == 1.0 and one.torch_threads == 1
    big = plan_resources(cpus=64, gpus=8)
    assert (big.concurrency, big.actor_gpus, big.actor_cpus, big.batch_size) == (8, 1.0, 4.0, 8)
    half = plan_resources(cpus=16, gpus=2, gpus_per_worker=0.5)
    assert half.concurrency == 4 and half.concurrency * half.actor_cpus + half.read_cpus <= 16


@pytest.mark.parametrize("kwargs, match", [
    ({"cpus": 2, "gpus": 0, "gpus_per_worker": 1}, "more GPU than the Ray cluster has"),
    ({"cpus": 2, "gpus": 0, "concurrency": 40}, "use at most 15"),
    ({"cpus": 8, "gpus": 1, "concurrency": 3}, "need 3 GPU"),
])
def test_plans_that_cannot_run_are_refused_with_a_sentence(kwargs, match):
    with pytest.raises(InputError, match=match):
        plan_resources(**kwargs)


# --------------------------------------------------------------------------- with Ray



needs_models = pytest.mark.skipif(not models_ready(), reason="shipped weights (weights/) not installed")


def dying_analyzer(marker: Path, *, after_studies: int):
    """A StudyAnalyzer whose first actor to finish ``after_studies`` studies kills its own process
    (SIGKILL) in the middle of a batch, once per marker file: Ray must retry the batch on a new actor.

    Made inside a function, so Ray's pickler ships the class by value to the workers (they need not
    import the test suite)."""
    from modic_core.batch.actors import StudyAnalyzer

    class Dying(StudyAnalyzer):
        n_done = 0

        def analyse(self, cs, analysis):
            outcome = super().analyse(cs, analysis)
            self.n_done += 1
            if self.n_done >= after_studies:
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    return outcome
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
            return outcome

    return Dying


def stuck_analyzer(sleep_s: float):
    """A StudyAnalyzer whose every call first sleeps ``sleep_s`` (a stuck worker, for the stall timeout)."""
    from modic_core.batch.actors import StudyAnalyzer

    class Stuck(StudyAnalyzer):
        def __call__(self, batch):
            time.sleep(sleep_s)
            return super().__call__(batch)

    return Stuck


@pytest.fixture(scope="module")
def ray_2cpu():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    """demo/cohort (3 real SPIDER studies) plus 4 generated single-slice and 1 15-slice phantom studies."""
    from modic_core.bench.batch_scaling import write_phantom_cohort

    root = tmp_path_factory.mktemp("ray_cohort")
    gen = write_phantom_cohort(root / "gen", n_single=4, n_multi=1, seed=3)
    cohort = root / "cohort"
    shutil.copytree(COHORT, cohort)
    shutil.copytree(gen / "studies", cohort / "studies", dirs_exist_ok=True)
    for name in ("studies.csv", "levels.csv"):
        a, b = pd.read_csv(cohort / name, dtype=str), pd.read_csv(gen / name, dtype=str)
        pd.concat([a, b], ignore_index=True).to_csv(cohort / name, index=False)
    return cohort


def _cli(args):
    from modic_core.batch.local import main

    return main([str(a) for a in args])


@needs_models
def test_ray_gives_the_local_results(ray_2cpu, small_cohort, tmp_path):
    from modic_core.batch.local import run_cohort

    local = run_cohort(small_cohort, normalization="zscore", threshold=0.5, batch_size=1)
    out = tmp_path / "r.parquet"
    assert _cli([small_cohort, "--out", out, "--engine", "ray", "--n-boot", "10"]) == 0
    rows = pd.read_parquet(out)
    status = pd.read_csv(out.with_name("r.status.csv"), dtype=str, keep_default_na=False)
    assert len(status) == 8 and (status["status"] == "ok").all()
    assert sorted(status["study_id"]) == sorted(s["study_id"] for s in local.status)
    a = pd.DataFrame(local.rows).sort_values(["study_id", "level"]).reset_index(drop=True)
    b = rows.sort_values(["study_id", "level"]).reset_index(drop=True)
    assert len(a) == len(b) > 20
    assert list(a["study_id"]) == list(b["study_id"]) and list(a["level"]) == list(b["level"])
    assert list(a["prediction"]) == list(b["prediction"])  # same grades
    for k in ("x0", "y0", "x1", "y1"):
        assert (a[k].astype(float) - b[k].astype(float)).abs().max() < 1.0, k  # same boxes within 1 px
    for k in ("p_mc0", "p_mc1", "p_mc2"):
        assert (a[k].astype(float) - b[k].astype(float)).abs().max() < 1e-3, k
    metrics = json.loads(out.with_name("r.metrics.json").read_text())
    assert metrics["schema"] == "cohort_metrics" and metrics["classification"]["n_discs"] > 0
    progress = json.loads(out.with_name("r.progress.json").read_text())
    assert (progress["state"], progress["done_ok"], progress["failed"], progress["left"]) == ("finished", 8, 0, 0)
    assert len(progress["worker_peak_mb"]) >= 1 and min(progress["worker_peak_mb"].values()) > 100


@needs_models
def test_interrupted_run_resumes_and_a_bad_study_in_the_middle_is_recorded(ray_2cpu, small_cohort, tmp_path):
    from modic_core.batch.local import open_cohort
    from modic_core.batch.ray_engine import run_ray
    from modic_core.batch.sink import ResultSink, read_done

    cohort = tmp_path / "cohort"
    shutil.copytree(small_cohort, cohort)
    (cohort / "studies" / "4" / "t1.mha").write_bytes(b"not an image")  # the second study of eight
    out = tmp_path / "r.parquet"
    seen = []

    def interrupt(done, total, sid):
        seen.append(sid)
        if done == 5:
            raise KeyboardInterrupt  # the driver is stopped mid-run

    with open_cohort(cohort) as studies:
        sink = ResultSink(out, total=len(studies), engine="ray", flush_studies=2)
        with pytest.raises(KeyboardInterrupt):
            run_ray(studies, sink=sink, normalization="zscore", threshold=0.5, progress=interrupt)
    written = read_done(out)
    assert 2 <= len(written) <= 5  # flushed parts survive; the buffered study is redone

    assert _cli([cohort, "--out", out, "--engine", "ray", "--n-boot", "10"]) == 0
    status = pd.read_csv(out.with_name("r.status.csv"), dtype=str, keep_default_na=False)
    rows = pd.read_parquet(out)
    assert sorted(status["study_id"]) == sorted(s.study_id for s in studies)  # each study once
    assert not rows.duplicated(["study_id", "level"]).any()
    st = status.set_index("study_id")
    assert st.loc["4", "status"] == "error" and "[T1 file]" in st.loc["4", "message"]
    assert (status.loc[status["study_id"] != "4", "status"] == "ok").all()
    assert "4" not in set(rows["study_id"])
    for sid, n in zip(status["study_id"], status["n_levels"].astype(int)):
        assert (rows["study_id"] == sid).sum() == n
    progress = json.loads(out.with_name("r.progress.json").read_text())
    assert progress["done_before"] == len(written) and progress["failed"] == (0 if "4" in written else 1)
    assert progress["done_before"] + progress["done_ok"] + progress["failed"] == 8 and progress["left"] == 0


@needs_models
def test_an_actor_killed_mid_run_loses_and_duplicates_nothing(ray_2cpu, small_cohort, tmp_path):
    from modic_core.batch.local import open_cohort
    from modic_core.batch.ray_engine import run_ray
    from modic_core.batch.sink import ResultSink

    out = tmp_path / "r.parquet"
    marker = tmp_path / "killed"
    with open_cohort(small_cohort) as studies:
        sink = ResultSink(out, total=len(studies), engine="ray", flush_studies=1)
        run = run_ray(studies, sink=sink, normalization="zscore", threshold=0.5, batch_size=2,
                      analyzer=dying_analyzer(marker, after_studies=1))
    assert marker.is_file()  # an actor process did die (SIGKILL) in the middle of a batch
    assert run.counts == {"ok": 8}
    status = pd.read_csv(out.with_name("r.status.csv"), dtype=str, keep_default_na=False)
    rows = pd.read_parquet(out)
    assert sorted(status["study_id"]) == sorted(s.study_id for s in studies)
    assert not rows.duplicated(["study_id", "level"]).any()
    for sid, n in zip(status["study_id"], status["n_levels"].astype(int)):
        assert n > 0 and (rows["study_id"] == sid).sum() == n


@needs_models
def test_a_stuck_pipeline_fails_with_a_message(ray_2cpu, small_cohort, tmp_path):
    from modic_core.batch.local import open_cohort
    from modic_core.batch.ray_engine import run_ray
    from modic_core.batch.sink import ResultSink

    out = tmp_path / "r.csv"
    with open_cohort(COHORT) as studies:
        sink = ResultSink(out, total=len(studies), engine="ray")
        with pytest.raises(PipelineStalled, match="made no progress for 6 s"):
            run_ray(studies, sink=sink, normalization="zscore", threshold=0.5, stall_timeout_s=6,
                    analyzer=stuck_analyzer(60))
    assert json.loads(out.with_name("r.progress.json").read_text())["state"] == "stalled"


def test_engine_flags_need_ray_and_parquet_output_must_be_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        _cli([COHORT, "--out", tmp_path / "r.csv", "--concurrency", "2"])
    assert ex.value.code == 2 and "need --engine ray" in capsys.readouterr().err
    (tmp_path / "f.parquet").write_text("x")
    assert _cli([COHORT, "--out", tmp_path / "f.parquet"]) == 2
    assert "a Parquet output is a folder" in capsys.readouterr().err


def test_batch_scaling_figures_are_a_valid_document_and_say_what_was_measured(tmp_path):
    from modic_core.schema import BatchScaling

    path = ROOT / "benchmarks" / "batch_scaling.json"
    if not path.is_file():
        pytest.skip("make bench has not written benchmarks/batch_scaling.json")
    doc = BatchScaling.load(path)
    assert json.loads(doc.save(tmp_path / "copy.json").read_text()) == json.loads(path.read_text())
    single = doc.cohorts["single_slice"]
    assert single["studies"] >= 200 and set(single["engines"]) == {"local", "ray"}
    for fig in single["engines"].values():
        assert fig["ok"] == fig["studies"] and fig["studies_per_minute"] > 0
    split = doc.cost_split_s["single_slice"]
    assert abs(split["total"] - sum(split[k] for k in ("read", "detect", "classify", "write"))) < 1e-3
    assert doc.projection["gpu_measured"] is False and (doc.gpu or "").startswith("not measured")


def failing_analyzer():
    """A StudyAnalyzer in whose process the detector's grid preparation raises, quoting a path and
    header values (as :func:`tests.batch.test_study._fail_deep` does in this process)."""
    from modic_core.batch.actors import StudyAnalyzer

    class Failing(StudyAnalyzer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            from modic_core.detection import infer

            def broken(*_a, **_k):
                raise ValueError("cannot resample /data/Jane_Doe_JD-99421/t1/IM00001.dcm (PatientName=DOE^JANE, PatientID=JD-99421)")

            infer.to_detector_grid = broken

    return Failing


@needs_models
def test_a_deep_failure_in_an_actor_is_recorded_as_the_local_engine_records_it(ray_2cpu, tmp_path):
    from modic_core.batch.ray_engine import run_ray
    from modic_core.batch.local import open_cohort
    from modic_core.batch.sink import ResultSink
    from tests.batch.test_study import PHI, _phi_cohort

    cohort = _phi_cohort(tmp_path / "cohort")
    out = tmp_path / "r.csv"
    with open_cohort(cohort) as studies:
        run = run_ray(studies, sink=ResultSink(out, total=1, engine="ray"), normalization="zscore", threshold=0.5,
                      analyzer=failing_analyzer())
    assert run.counts == {"failed": 1}
    msg = pd.read_csv(out.with_name("r.status.csv"), dtype=str, keep_default_na=False).loc[0, "message"]
    assert msg.startswith("ValueError: cannot resample [path] (PatientName=[redacted], PatientID=[redacted]) "
                          "(at modic_core.detection.infer:detect_many:")
    assert not any(s in msg for s in PHI)
