"""AppTest tests of every dashboard page, with the analysis double of ``fakes.py``.

The double has StudyAnalysis's interface and caching contract, so these tests check the
dashboard itself (inputs, errors, controls, tables, downloads) whether or not trained models
are installed; ``test_real_models.py`` repeats the main path with the shipped models.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, ROOT, default_method, phantom_files, phantom_zip

from modic_core.export.style import GENERIC_ERROR, NOTICE

pytestmark = pytest.mark.usefixtures("fake_backend")


def new_app(run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    if run:
        at.run()
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def by_prefix(widgets, prefix: str):
    found = [w for w in widgets if (w.key or "").startswith(prefix)]
    assert found, f"no widget with key prefix {prefix!r}"
    return found[0]


def level_table(at: AppTest):
    """The case viewer's per-level table (rendered by the picture component under the images) as a DataFrame."""
    import pandas as pd

    t = viewer_spec(at)["table"]
    return pd.DataFrame([{c: r.get(c) for c in t["columns"]} for r in t["rows"]], columns=t["columns"])


def figure(at: AppTest, i: int = 0) -> dict:
    """The i-th plotly figure on the page (st.plotly_chart), as its JSON spec."""
    import json

    return json.loads(at.get("plotly_chart")[i].proto.spec)


def viewer_spec(at: AppTest) -> dict:
    """What the case viewer's picture component (modic_core/ui/figure.py) received: figure, slices, levels, state."""
    import json

    comps = at.get("component_instance")
    assert len(comps) == 1, f"{len(comps)} picture components"
    return json.loads(comps[0].proto.json_args)["spec"]


def study_fp(at: AppTest) -> str:
    """The fingerprint of the study on screen (the picture component's revision)."""
    return viewer_spec(at)["revision"]


def set_view(at: AppTest, fp: str, **view) -> AppTest:
    """Do what the browser does when the picture's controls move: report the view back (then rerun)."""
    value = {"z": 0, "opacity": 0.45, "boxes": True, "cam": True, **view}
    at.session_state[f"cv_state_{fp}"] = {k: v for k, v in value.items() if k != "have"}
    at.session_state[f"cv_fig_{fp}"] = value  # the component's value, as the browser would send it
    return at.run()


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert errors(at) == []


# --------------------------------------------------------------------------- frame and case viewer


def test_opens_on_first_real_demo_case_without_clicks(fake_backend):
    at = new_app()
    assert_clean(at)
    assert at.selectbox(key="cv_demo").value.startswith("spider-")
    table = level_table(at)
    assert list(table.columns) == ["level", "confidence", "P(MC0)", "P(MC1)", "P(MC2)", "grade set", "prediction", "uncertain",
                                   "call meaning", "T1 endplate/centre", "T2 endplate/centre"]  # issue 26: what the call means (CV), the signal probe's ratios
    assert len(table) == 5  # the double's scores above 0.5
    assert np.allclose(table[["P(MC0)", "P(MC1)", "P(MC2)"]].sum(axis=1), 1.0, atol=0.01)
    fig = viewer_spec(at)["figure"]  # one figure: T1 and T2 side by side on linked axes (zoom and pan act on both)
    assert [t["type"] for t in fig["data"] if t["type"] == "image"] == ["image"] * 4  # 2 panels x (grey + Grad-CAM)
    assert fig["layout"]["xaxis2"]["matches"] == "x" and fig["layout"]["yaxis2"]["matches"] == "y"
    letters = {a["text"] for a in fig["layout"]["annotations"]}
    assert {"<b>A</b>", "<b>P</b>", "<b>S</b>", "<b>I</b>"} <= letters  # orientation letters
    md = markdown_text(at)
    assert md.count(NOTICE) == 1  # the notice is visible, once
    assert "hashed ID" in md and "T1 series, 1 slice" in md and "t1.mha" not in md  # neutral series labels, no file names
    # sidebar: method default, threshold default and minimum, device
    assert at.radio(key="normalization").value == default_method()
    thr = at.slider(key="threshold")
    assert thr.value == 0.5 and thr.min == pytest.approx(0.05)
    assert "Device:" in md
    assert [b.label for b in at.get("download_button")] == ["Per-level table (CSV)", "Report (PDF)", "Save figure (PNG)"]
    assert any("DICOM SR: available when" in c.value for c in at.caption)  # MHA demo: no SR


def test_threshold_redraws_without_network_and_method_switch_reruns_only_classifier(fake_backend):
    at = new_app()
    sa = fake_backend.instances[-1]
    d = default_method()
    assert (sa.detect_runs, dict(sa.classify_runs)) == (1, {d: 1})
    before = level_table(at)

    at.slider(key="threshold").set_value(0.9).run()
    assert_clean(at)
    assert len(level_table(at)) == 3
    at.slider(key="threshold").set_value(0.05).run()
    assert len(level_table(at)) == 6
    assert (sa.detect_runs, dict(sa.classify_runs)) == (1, {d: 1})  # no network for thresholds

    at.slider(key="threshold").set_value(0.5).run()
    at.radio(key="normalization").set_value("percentile").run()
    assert_clean(at)
    after = level_table(at)
    assert list(after["level"]) == list(before["level"])
    assert not np.allclose(after["P(MC0)"], before["P(MC0)"])  # another classifier's output
    assert sa.detect_runs == 1 and dict(sa.classify_runs) == {d: 1, "percentile": 1}
    at.radio(key="normalization").set_value(d).run()
    assert dict(sa.classify_runs) == {d: 1, "percentile": 1}  # cached per method
    assert len(fake_backend.instances) == 1  # one StudyAnalysis for the study


def test_grade_set_column_and_sidebar_coverage_change_sets_without_reanalysis(fake_backend):
    at = new_app()
    assert_clean(at)
    cov = at.select_slider(key="coverage")
    assert cov.label == "Prediction-set coverage" and cov.value == pytest.approx(0.90)
    assert cov.options == ["80 %", "85 %", "90 %", "95 %"] and "true grade is in the set" in cov.help
    table = level_table(at)
    sets = dict(zip(table["level"], table["grade set"]))
    assert sets["L2-L3"] == "MC1 or MC2" and sets["L1-L2"] == "MC2"  # the double's sets at 90 %
    assert table["uncertain"].tolist() == [" or " in s for s in table["grade set"]]
    assert "in the set for about 90\u00a0% of levels" in viewer_spec(at)["set_help"]
    assert any(c.value == "2 levels have more than one grade in their 90 % prediction set: read them yourself."
               for c in at.caption)
    sa = fake_backend.instances[-1]
    runs = (sa.detect_runs, dict(sa.classify_runs))

    at.select_slider(key="coverage").set_value(0.8).run()
    assert_clean(at)
    low = level_table(at)
    assert dict(zip(low["level"], low["grade set"]))["L2-L3"] == "MC2"  # one grade at 80 %: the model's own, always in its set
    assert not low["uncertain"].any() and list(low["P(MC2)"]) == list(table["P(MC2)"])
    assert not any("prediction set: read" in c.value for c in at.caption)
    assert (sa.detect_runs, dict(sa.classify_runs)) == runs and len(fake_backend.instances) == 1  # nothing reran


def test_untrained_method_says_so_and_still_shows_images(fake_backend):
    at = new_app()
    at.radio(key="normalization").set_value("n4_zscore").run()
    assert_clean(at)
    assert any("No classifier has been trained yet" in i.value for i in at.info)
    assert len(at.dataframe) == 0
    assert viewer_spec(at)["heat"] is None and len(at.get("plotly_chart")) == 0  # images, no Grad-CAM


def test_focus_level_shows_crops(fake_backend):
    at = new_app()
    focus = by_prefix(at.selectbox, "cv_focus_")
    assert focus.value == "—"
    focus.set_value("L3-L4").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1  # the crops of T1, T2 and Grad-CAM (T1/T2 are the picture component)
    assert viewer_spec(at)["figure"]["layout"]["shapes"][2]["line"]["width"] == 4  # the focused level's box is bold
    crops = figure(at, 0)
    assert len([t for t in crops["data"] if t["type"] == "image"]) == 3
    assert "**L3-L4:" in markdown_text(at)
    # a threshold that drops the focused level resets the focus instead of failing
    at.slider(key="threshold").set_value(0.95).run()
    assert_clean(at)
    assert by_prefix(at.selectbox, "cv_focus_").value == "—"


def test_viewer_controls_on_3d_demo(fake_backend):
    at = new_app()
    at.selectbox(key="cv_demo").set_value("phantom-dicom").run()
    assert_clean(at)
    spec = viewer_spec(at)
    assert (spec["nz"], spec["state"]["z"], len(spec["heat"])) == (15, 7, 5)  # Grad-CAM patches per level
    t1 = spec["series"]["T1"]["codes"]
    assert t1["shape"] == [15, 192, 192] and t1["stride"] == 1  # the voxels go to the browser once, as 16-bit codes
    assert all(p["uri"].startswith("data:image/png;base64,") for lv in spec["heat"] for p in lv)
    assert spec["captions"][2].startswith("Slice 3 of 15 · ")
    assert {lv["level"] for lv in spec["levels"]} == {a["text"].split()[0] for a in spec["figure"]["layout"]["annotations"]
                                                        if a.get("bgcolor")}  # tags outside the images, one per level
    fp = study_fp(at)
    win = spec["state"]["win"]["T1"]
    set_view(at, fp, z=2, opacity=0.8, cam=False, win={"T1": [win[0], (win[0] + win[1]) / 2], "T2": spec["state"]["win"]["T2"]},
             have=[spec["series"]["T1"]["key"], spec["series"]["T2"]["key"]])  # what the browser reports
    assert_clean(at)
    after = viewer_spec(at)
    assert {k: after["state"][k] for k in ("z", "opacity", "boxes", "cam")} == {"z": 2, "opacity": 0.8, "boxes": True, "cam": False}
    assert after["state"]["win"]["T1"] == [win[0], (win[0] + win[1]) / 2]  # the browser's window reaches the server
    assert after["series"]["T1"]["codes"] is None  # the browser holds the series: not sent again
    assert len(level_table(at)) == 5


def test_switching_demo_cases(fake_backend):
    at = new_app()
    first = level_table(at)
    names = at.selectbox(key="cv_demo").options
    at.selectbox(key="cv_demo").set_value(names[1]).run()
    assert_clean(at)
    assert not level_table(at)["P(MC0)"].equals(first["P(MC0)"])


# --------------------------------------------------------------------------- uploads


def upload(at: AppTest, files) -> AppTest:
    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(files).run()
    return at


def test_upload_dicom_pair_is_paired_automatically(fake_backend):
    at = upload(new_app(), phantom_files())
    assert_clean(at)
    t1 = by_prefix(at.selectbox, "cv_t1_")
    t2 = by_prefix(at.selectbox, "cv_t2_")
    assert "T1 TSE SAG" in t1.format_func(t1.value) and "T2 TSE SAG" in t2.format_func(t2.value)
    assert any("Paired automatically" in c.value for c in at.caption)
    assert len(level_table(at)) == 5
    md = markdown_text(at)
    assert "T1 TSE SAG (synthetic)" in md and "PHANTOM" not in md  # series description yes, patient name never
    assert "Findings (DICOM SR)" in [b.label for b in at.get("download_button")]
    # the user swaps the pair: T2 as T1 is refused with a clear message (both look T2 / T1)
    t1.set_value(t2.value).run()
    assert not at.exception
    assert errors(at) and "same series" in errors(at)[0]


def test_an_uploaded_study_survives_a_visit_to_another_page_until_cleared(fake_backend):
    at = upload(new_app(), phantom_files())
    assert len(level_table(at)) == 5
    at.switch_page("pages/teaching.py").run()
    at.switch_page("pages/case_viewer.py").run()
    assert_clean(at)
    assert any("uploaded before" in i.value for i in at.info)
    assert len(level_table(at)) == 5  # the same study, without uploading it again
    assert "Findings (DICOM SR)" in [b.label for b in at.get("download_button")]
    at.button(key="cv_upload_clear").click().run()
    assert any("Upload a study to analyse it" in i.value for i in at.info) and len(at.dataframe) == 0
    # files removed by the user on the page are gone for good (no study kept from before)
    at = upload(new_app(), phantom_files())
    at.file_uploader(key="cv_upload").set_value([]).run()
    assert any("Upload a study to analyse it" in i.value for i in at.info) and len(at.dataframe) == 0


def test_upload_zip_of_study(fake_backend):
    at = upload(new_app(), [("study.zip", phantom_zip(), "application/zip")])
    assert_clean(at)
    assert len(level_table(at)) == 5


def test_upload_nifti_pair(fake_backend, tmp_path):
    from modic_core.datasets.synthetic import make_phantom

    paths = make_phantom(seed=3, shape=(5, 96, 96), spacing=(4.0, 2.0, 2.0)).write(tmp_path, fmt="nifti")
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in (paths["t1"], paths["t2"])]
    at = upload(new_app(), files)
    assert_clean(at)
    assert len(level_table(at)) == 5


@pytest.mark.parametrize(
    "files, expected",
    [
        ([("image.dcm", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "application/dicom")],
         "not a medical image"),
        ([("notes.zip", b"PK\x03\x04 this is not a zip", "application/zip")], "zip"),
    ],
    ids=["random-bytes-dcm", "broken-zip"],
)
def test_bad_uploads_show_input_errors(fake_backend, files, expected):
    at = upload(new_app(), files)
    assert not at.exception
    errs = errors(at)
    assert len(errs) == 1 and expected in errs[0], errs
    assert "Traceback" not in errs[0]
    assert len(at.dataframe) == 0


def test_single_series_is_shown_view_only_never_graded(fake_backend):
    at = upload(new_app(), phantom_files(("t1",)))  # the T1 series alone
    assert_clean(at)
    assert any("View only" in i.value and "no Modic grade" in i.value for i in at.info)
    fig = viewer_spec(at)["figure"]
    assert len([t for t in fig["data"] if t["type"] == "image"]) == 1  # one series, no Grad-CAM
    tags = [a["text"] for a in fig["layout"]["annotations"] if a.get("bgcolor")]
    assert tags and all(not any(c in t for c in ("MC0", "MC1", "MC2")) for t in tags)  # level names, no grade
    assert [lv.level for lv in fake_backend.instances[-1].detections().filter(0.5)] == tags
    sa = fake_backend.instances[-1]
    assert dict(sa.classify_runs) == {}  # no classifier ran
    assert at.get("download_button") == [] and len(level_table(at)) > 0  # a list of levels, no grades
    assert "prediction" not in level_table(at).columns
    at.slider(key="threshold").set_value(0.9).run()  # the threshold still filters the levels
    assert len(level_table(at)) == 3


def test_view_only_study_refuses_grading():
    from modic_core.datasets.demo import load_demo
    from modic_core.ui.viewonly import is_view_only, single_series_study

    study = single_series_study(load_demo("phantom-dicom").t1, label="T1 series, 15 slices")
    assert is_view_only(study) and study.t2 is study.t1
    at = AppTest.from_string("""
import streamlit as st
from modic_core.ui import runtime as rt
from modic_core.errors import InputError
try:
    rt.analyse(st.session_state["study"], "zscore", 0.5)
    st.write("graded")
except InputError as exc:
    st.write("refused: " + str(exc))
""")
    at.session_state["study"] = study
    at.run()
    assert markdown_text(at).startswith("refused: This upload holds one series only")


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_slip_upload_is_refused(fake_backend):
    at = upload(new_app(), [("evil.zip", _zip({"../../etc/t1.dcm": b"x" * 100}), "application/zip")])
    assert not at.exception
    assert errors(at) and "outside its own folder" in errors(at)[0]


def test_series_of_two_patients_are_refused(fake_backend, tmp_path):
    from modic_core.datasets.synthetic import make_phantom

    files = []
    for seed, series in ((1, "t1"), (2, "t2")):
        out = make_phantom(seed=seed, shape=(3, 64, 64), spacing=(4.0, 4.0, 4.0)).write(tmp_path / str(seed), fmt="dicom")
        files += [(f"{series}_{f.name}", f.read_bytes(), "application/dicom") for f in sorted(out[series].glob("*.dcm"))]
    at = upload(new_app(), files)
    assert not at.exception
    assert errors(at) and "different patients" in errors(at)[0]
    assert "PHANTOM" not in "\n".join(errors(at) + [m.value for m in at.markdown])


def test_upload_over_the_size_limit(fake_backend, monkeypatch):
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", str(100_000 / 2**20))
    at = upload(new_app(), phantom_files())
    assert not at.exception
    assert errors(at) and "too large" in errors(at)[0]


def test_upload_size_limit_matches_streamlit_config():
    import tomllib

    from modic_core.settings import limits

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] * 2**20 == limits().max_upload_bytes
    assert cfg["client"]["showErrorDetails"] == "none"


def test_unexpected_failure_is_generic_and_logs_no_patient_data(fake_backend, monkeypatch, caplog):
    def boom(self, *a, **k):
        raise RuntimeError("PHANTOM^SEED7 /data/patients/John_Doe/t1")

    monkeypatch.setattr(fake_backend, "report", boom)
    caplog.set_level(logging.INFO, logger="modic_core.app")
    at = new_app()
    assert not at.exception
    assert errors(at) == [GENERIC_ERROR]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert "PHANTOM" not in logged and "John" not in logged and "/data" not in logged


def test_two_sessions_get_their_own_results(fake_backend):
    a, b = new_app(), new_app(run=False)
    b.run()
    upload(b, phantom_files())
    a.slider(key="threshold").set_value(0.8).run()
    ta, tb = level_table(a), level_table(b)
    assert_clean(a), assert_clean(b)
    assert len(ta) == 4 and len(tb) == 5  # each session's own threshold
    assert not np.allclose(ta["P(MC0)"].to_numpy()[:4], tb["P(MC0)"].to_numpy()[:4])  # each session's own study
    assert a.markdown[2].value != b.markdown[2].value or "T1 TSE SAG" in markdown_text(b)
    sa = {id(x.study) for x in fake_backend.instances}
    assert len(sa) == 2
    # a method switch in one session does not touch the other
    b.radio(key="normalization").set_value("minmax").run()
    a.run()
    assert a.radio(key="normalization").value == default_method()
    assert level_table(a).equals(ta)


def _record_downloads(monkeypatch) -> dict[str, bytes]:
    """File name -> bytes of every download button's payload built from now on."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    got: dict[str, bytes] = {}
    orig = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            got[filename] = path_or_data
        return orig(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return got


def _record_deferred(monkeypatch) -> dict[str, object]:
    """File name -> the callable of every download built on click (deferred) from now on."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    got: dict[str, object] = {}
    orig = MediaFileManager.add_deferred

    def record(self, data, mimetype, coordinates, file_name=None, **kw):
        got[file_name] = data
        return orig(self, data, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return got


def test_downloads_belong_to_the_study_and_results_on_screen(fake_backend, monkeypatch):
    import io

    import pandas as pd

    got = _record_downloads(monkeypatch)
    deferred = _record_deferred(monkeypatch)
    at = new_app()
    first_fp = study_fp(at)
    upload(at, phantom_files())  # a new study in the same session
    assert_clean(at)
    fp = study_fp(at)
    assert fp != first_fp
    header = next(i for i, el in enumerate(at.main.children.values()) if "(hashed ID)" in str(getattr(el, "value", "")))
    sid = at.main.children[header].value.split("`")[1]
    # the buttons are keyed on the study shown and sit right under its picture (the header, the notes and the
    # picture come first): a new study's run replaces them before analysing, so no button of the previous study
    # stays clickable meanwhile
    after = list(at.main.children.values())[header + 1:header + 4]
    buttons = next(el.get("download_button") for el in after if el.get("download_button"))
    assert [b.key for b in buttons] == [f"cv_dl_csv_{fp}", f"cv_dl_pdf_{fp}", f"cv_dl_png_{fp}", f"cv_dl_sr_{fp}"]
    assert not [b for b in at.get("download_button") if first_fp in b.key]
    # the CSV is the table on screen, of the study on screen
    csv = pd.read_csv(io.BytesIO(deferred[f"modic_{sid}.csv"]()))
    shown = level_table(at)
    assert set(csv["study"].astype(str)) == {sid}
    assert list(csv["level"]) == list(shown["level"])
    assert np.allclose(csv["P(MC0)"], shown["P(MC0)"], atol=1e-3)
    # a threshold change: same study, the CSV follows the rows shown
    at.slider(key="threshold").set_value(0.9).run()
    csv = pd.read_csv(io.BytesIO(deferred[f"modic_{sid}.csv"]()))
    assert len(csv) == len(level_table(at)) == 3 and (csv["threshold"] == 0.9).all()
    # CSV, PDF and SR are built only when clicked (nothing is built on a rerun), for the study on screen
    assert not {f"modic_{sid}.csv", f"modic_{sid}.pdf", f"modic_{sid}_sr.dcm"} & set(got)
    set_view(at, fp, z=3)  # the PDF shows the slice on screen when clicked
    pdf = deferred[f"modic_{sid}.pdf"]()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    sr = deferred[f"modic_{sid}_sr.dcm"]()
    assert sr[128:132] == b"DICM"
    # "Save figure": the view on screen as a PNG named by the hashed study ID and the slice (no PHI)
    png_name = next(n for n in deferred if n.startswith(f"modic_{sid}_slice") and n.endswith(".png"))
    png = deferred[png_name]()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


# (Simultaneous sessions are tested in a real browser, test_browser.py: AppTest swaps a process-wide
# mock runtime per run, so two AppTests cannot run at the same moment.)


# --------------------------------------------------------------------------- other pages


def test_cohort_page_without_comparison(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    at = new_app()
    at.switch_page("pages/cohort_comparison.py").run()
    assert_clean(at)
    assert any("has not been computed yet" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 0


def test_cohort_page_shows_shipped_comparison(fake_backend, weights_with_comparison):
    at = new_app()
    at.switch_page("pages/cohort_comparison.py").run()
    assert_clean(at)
    table = at.dataframe[0].value
    # no method beats z-score with a CI excluding zero: no star, the page says so
    assert list(table["method"]) == ["None (raw intensities)", "Percentile (1st-99th) to [0, 1]", "Z-score (standardization)"]
    assert any("do not differ" in m.value for m in at.info)
    assert (table["Sensitivity MC1"] == "too few cases (n=4)").all()
    assert table["Balanced accuracy"].str.contains("95% CI").all()
    charts = at.get("plotly_chart")
    assert len(charts) == 1 + 2 + 3 + 1  # paired differences, scores, sensitivities, 3 confusion matrices, by scanner
    assert "too few cases (n=4)" in charts[2].proto.spec
    at.radio(key="shipped_gmetric").set_value("mc0_vs_mc2").run()
    assert_clean(at)
    # the sidebar default is the rule's default (z-score here)
    assert at.radio(key="normalization").value == "zscore"
    assert at.dataframe[1].value["group"].tolist()  # the per-scanner table under the chart


def test_cohort_page_runs_a_labelled_cohort_folder(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("MODIC_SERVER_FOLDERS", str(ROOT / "demo"))
    at = new_app()
    at.switch_page("pages/cohort_comparison.py").run()
    at.radio(key="cc_kind").set_value("Folder on the server").run()
    at.text_input(key="cc_folder").set_value(str(ROOT / "demo" / "cohort")).run()
    at.button(key="cc_go").click().run()
    assert_clean(at)
    preds = [d.value for d in at.dataframe if "study_id" in d.value.columns and "p_mc0" in d.value.columns][0]
    assert sorted(set(preds["study_id"])) == ["104", "121", "4"]
    assert len(at.get("plotly_chart")) >= 3
    assert any("3 studies analysed" in m.value for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert "Predictions (CSV)" in labels and "Metrics report (JSON)" in labels


def test_cohort_page_bad_folder_and_zip(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("MODIC_SERVER_FOLDERS", str(tmp_path))
    at = new_app()
    at.switch_page("pages/cohort_comparison.py").run()
    at.radio(key="cc_kind").set_value("Folder on the server").run()
    at.text_input(key="cc_folder").set_value(str(tmp_path / "nowhere")).run()
    at.button(key="cc_go").click().run()
    assert not at.exception and errors(at) and "not found" in errors(at)[0]
    at.radio(key="cc_kind").set_value("Zip upload").run()
    at.file_uploader(key="cc_zip").set_value(("cohort.zip", phantom_zip(), "application/zip")).run()
    at.button(key="cc_go").click().run()
    assert not at.exception and errors(at) and "studies.csv" in errors(at)[0]


def test_teaching_page(fake_backend, monkeypatch):
    import modic_core.ui.teaching as teaching

    # the double's boxes are not where the phantom's discs are: match its first level to the chosen one
    monkeypatch.setattr(teaching, "match_level", lambda levels, box, **k: levels[0] if levels else None)
    at = new_app()
    at.switch_page("pages/teaching.py").run()
    at.radio(key="tp_mode").set_value("Synthetic phantom explorer").run()
    assert_clean(at)
    assert any("SYNTHETIC PHANTOM" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) >= 3
    for grade in (2, 3, 0):
        at.radio(key="tp_grade").set_value(grade).run()
        assert_clean(at)
    at.selectbox(key="tp_level").set_value("L5-S1").run()
    at.radio(key="tp_grade").set_value(1).run()
    assert_clean(at)
    assert any("Type 1" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 6  # T1, T2, signal chart + crops of T1, T2 and Grad-CAM
    assert "Truth: **MC1** at L5-S1" in markdown_text(at)


def test_model_card_without_and_with_records(fake_backend, tmp_path, monkeypatch, weights_with_comparison):
    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert_clean(at)
    text = markdown_text(at)
    for needle in ("SPIDER", "CC BY 4.0", "Sci", "MC3 is excluded", "No external validation", "single mid-sagittal slice",
                   "8-bit", "Intended use" if False else "Not for:"):
        assert needle in text, needle
    assert "4 discs in the evaluated data" in text  # read from the comparison, not typed in
    values = "\n".join(str(v) for d in at.dataframe for v in d.value.to_numpy().ravel())
    assert "0.800 (95% CI 0.700-0.850)" in values  # the detector's metric from its JSON
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path / "empty"))
    at.run()
    assert_clean(at)
    assert any("No model has been trained yet" in i.value for i in at.info)


def test_model_card_shows_the_leave_one_maker_out_check_from_its_json(fake_backend, weights_with_comparison):
    import shutil

    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert any("leave-one-maker-out check has not been run" in i.value for i in at.info)
    shutil.copy(ROOT / "weights" / "detector_transfer.json", weights_with_comparison / "detector_transfer.json")
    at.run()
    assert_clean(at)
    text = markdown_text(at)
    assert "| Philips (37) | the other maker only (23 studies) | T1 |" in text
    assert "L5-S1 wrong, not flagged: without the low-anchor flag" in text
    assert "(23 or 37) than the 5-fold CV models (48)" in "\n".join(c.value for c in at.caption)


def test_model_card_shows_the_prediction_sets_from_their_json(fake_backend, weights_with_comparison):
    import shutil

    from modic_core.evaluation.summary import conformal_table
    from modic_core.schema import ConformalEvaluation

    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert any("prediction sets have not been calibrated" in i.value for i in at.info)
    shutil.copy(ROOT / "weights" / "conformal.json", weights_with_comparison / "conformal.json")
    at.run()
    assert_clean(at)
    text = markdown_text(at)
    doc = ConformalEvaluation.load(ROOT / "weights" / "conformal.json")
    first_row = [line for line in conformal_table(doc).splitlines() if line.startswith("| lac")][0]
    assert first_row in text and "A grade set lists every grade the model cannot rule out" in text
    assert "| Siemens | Philips |" in text and "| label_smoothing_0.1 |" in text  # shift tests and variants
    assert len(at.get("plotly_chart")) >= 1


def test_the_demo_case_and_input_survive_a_visit_to_another_page(fake_backend):
    at = new_app()
    at.selectbox(key="cv_demo").set_value("phantom-dicom").run()
    at.switch_page("pages/teaching.py").run()
    assert_clean(at)
    at.switch_page("pages/case_viewer.py").run()
    assert_clean(at)
    assert at.selectbox(key="cv_demo").value == "phantom-dicom" and at.radio(key="cv_source").value == "Demo case"
    assert viewer_spec(at)["nz"] == 15  # the phantom is on screen again
