"""Issue #22 items 3-4: uploads that mix studies are never graded without the user's choice.

- more than two series: a list that tells them apart, pickers, and "Grade this pair" before anything is graded;
- a pair from two studies or with differing age/sex: the values on the page, "Grade anyway", and the
  choice (not the values) on the report and in its JSON record.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path

import pydicom
import pytest
from streamlit.testing.v1 import AppTest

from modic_core.analysis.pairing_override import graded_anyway, override_sentence
from modic_core.analysis.report import StudyReport
from modic_core.io import SeriesInfo, list_series
from modic_core.io.series_preview import ShownIdentity, shown_identity
from modic_core.io.upload import materialize_uploads, stored_paths
from modic_core.pairing.identity import identity_differences
from modic_core.schema import StudyReportRecord
from modic_core.text import markdown_inert
from modic_core.ui.picker import identity_sentence, needs_choice, picker_option_label, series_rows
from modic_core.volume import VolumeMeta
from tests.app.helpers import APP, phantom_files

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- inputs


def mha_study(tmp: Path, seed: int) -> list[tuple[str, bytes, str]]:
    """One study's t1.mha and t2.mha (a small seeded phantom) as browser uploads."""
    from modic_core.datasets.synthetic import make_phantom

    paths = make_phantom(seed=seed, shape=(3, 96, 96), spacing=(4.0, 2.0, 2.0)).write(tmp / str(seed), fmt="mha")
    return [(p.name, p.read_bytes(), "application/octet-stream") for p in (paths["t1"], paths["t2"])]


def two_studies_dicom(*, t2_age: str = "053Y", t2_study: bool = True) -> list[tuple[str, bytes, str]]:
    """The demo phantom's DICOM pair, its T2 edited to look like another examination (study UID, date, age)."""
    out = []
    for name, data, mime in phantom_files():
        ds = pydicom.dcmread(io.BytesIO(data))
        if name.startswith("t1_"):
            ds.PatientAge, ds.StudyDate = "045Y", "20160608"
        else:
            ds.PatientAge, ds.StudyDate = t2_age, "20160309"
            if t2_study:
                ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.77"
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append((name, buf.getvalue(), mime))
    return out


@pytest.fixture
def fake_backend():
    from tests.app import fakes

    fakes.uninstall()
    fakes.install()
    yield fakes.FakeStudyAnalysis
    fakes.uninstall()


def upload(files) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(files).run()
    return at


def graded(at: AppTest) -> bool:
    return len(at.get("component_instance")) == 1 and bool(at.get("download_button"))


def by_prefix(widgets, prefix: str):
    found = [w for w in widgets if (w.key or "").startswith(prefix)]
    assert found, f"no widget with key prefix {prefix!r}"
    return found[0]


# --------------------------------------------------------------------------- pure helpers


def test_identity_differences_name_the_checks_not_the_values():
    a = VolumeMeta(study_hash="s1", date_hash="d1", demographics_hash="a1")
    assert identity_differences(a, a) == ()
    b = VolumeMeta(study_hash="s2", date_hash="d1", demographics_hash="a2")
    assert identity_differences(a, b) == ("study", "age/sex")
    assert identity_differences(a, VolumeMeta()) == ()  # no identity (MHA/NIfTI): nothing to compare


def test_grade_anyway_is_recorded_on_the_report_and_its_json_record():
    report = StudyReport(levels=[], normalization="zscore", threshold=0.5, warnings=["The T1 and T2 series come from different studies."])
    assert graded_anyway(report, differed=()) is report
    out = graded_anyway(report, differed=("study",))
    assert out.pairing_override == "study" and report.pairing_override == ""  # a copy: the cached report is untouched
    assert out.warnings[-1] == "Graded although T1 and T2 come from different studies (user's choice)."
    assert graded_anyway(out, differed=("study",)).warnings == out.warnings  # said once
    record = StudyReportRecord.from_dict(out.to_dict())
    assert record.pairing_override == "study" and out.warnings[-1] in record.warnings
    assert StudyReportRecord.from_dict(report.to_dict()).pairing_override == ""
    assert override_sentence(("study", "age/sex")) == ("Graded although T1 and T2 come from different studies and "
                                                       "differ in patient age or sex (user's choice).")
    with pytest.raises(ValueError, match="unknown"):
        graded_anyway(report, differed=("weight",))


def test_shown_identity_keeps_dicom_forms_only():
    assert ShownIdentity("045Y", "F", "20160608").text() == "45Y F, study of 2016-06-08"
    assert identity_sentence(ShownIdentity("045Y", "", "20160608"), ShownIdentity("053Y", "", "20160309")) == \
        "T1: 45Y, study of 2016-06-08; T2: 53Y, study of 2016-03-09"
    assert ShownIdentity().text() == "no age, sex or date given"


def test_shown_identity_reads_the_upload_and_drops_free_text():
    files = two_studies_dicom()
    files = [(n, d.replace(b"O ", b"**") if n.startswith("t2_") else d) for n, d, _ in files]  # a sex tag that is not F/M/O
    infos = list_series(files)
    values = shown_identity(files, [i.key for i in infos])
    t1, t2 = (values[i.key] for i in infos)
    assert (t1.age, t1.study_date) == ("045Y", "20160608") and (t2.age, t2.study_date) == ("053Y", "20160309")
    assert "*" not in t2.text()


def test_stored_paths_match_what_materialize_writes(tmp_path):
    names = ["t1.mha", "t2.mha", ".hidden", "t1.mha", "a/t2.mha", "s.zip"]
    assert stored_paths(names) == ["t1.mha", "t2.mha", None, "dup_2/t1.mha", "dup_2/t2.mha", None]
    written = materialize_uploads([(n, b"x") for n in names[:5]], tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(p for p in stored_paths(names[:5]) if p)


def test_rows_tell_two_studies_mha_files_apart(tmp_path):
    files = [(n, d) for n, d, _ in mha_study(tmp_path, 3) + mha_study(tmp_path, 4)]  # the second study dropped on the first
    infos = list_series(files)
    assert needs_choice(infos) and not needs_choice(infos[:2])
    rows = series_rows(infos, files, [""] * len(infos))
    assert sorted(r["upload"] for r in rows) == [1, 2, 3, 4]  # same names, told apart by their place in the upload
    assert [r["file"] for r in rows].count("t1.mha") == 2
    labels = [picker_option_label(i, r) for i, r in zip(infos, rows)]
    assert len(set(labels)) == 4 and all("of the upload" in lab for lab in labels)


def test_option_labels_are_plain_text():
    info = SeriesInfo(0, "k", "**bold** [x](http://e.org)", 3, "sagittal", "T1", None, None, 8, 8, "dicom", 7)
    row = series_rows([info], [], [""])[0]
    assert row["series"].startswith("**bold**")  # kept verbatim: shown in a dataframe and selectbox options only
    assert picker_option_label(info, row).startswith("1: **bold**")


# --------------------------------------------------------------------------- the page (AppTest)


def test_four_mha_files_of_two_studies_are_not_graded_until_the_user_chooses(fake_backend, tmp_path):
    at = upload(mha_study(tmp_path, 3) + mha_study(tmp_path, 4))
    assert not at.exception and not at.error
    assert not any("Paired automatically" in c.value for c in at.caption)
    assert any("holds 4 series" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert len(at.dataframe) == 1 and len(table) == 4  # the list of series
    assert sorted(table["upload"]) == [1, 2, 3, 4] and all(str(p).startswith("data:image/png;base64,") for p in table["picture"])
    assert not graded(at)
    t1, t2 = by_prefix(at.selectbox, "cv_t1_"), by_prefix(at.selectbox, "cv_t2_")
    options = [t1.format_func(i) for i in range(4)]
    second_t1 = next(i for i, o in enumerate(options) if "file 3 of the upload" in o)
    second_t2 = next(i for i, o in enumerate(options) if "file 4 of the upload" in o)
    assert "t1.mha" in options[second_t1] and "t2.mha" in options[second_t2]
    t1.set_value(second_t1).run()  # the user picks the second study's pair
    t2.set_value(second_t2).run()
    assert not graded(at)  # a changed choice is still not graded before the click
    by_prefix(at.button, "cv_choose_").click().run()
    assert not at.exception and graded(at)
    by_prefix(at.selectbox, "cv_t1_").set_value(next(i for i in range(4) if i not in (second_t1, second_t2))).run()
    # another choice: asked again
    assert not graded(at) and by_prefix(at.button, "cv_choose_")


def test_two_mha_files_are_paired_with_a_note_not_silently(fake_backend, tmp_path):
    at = upload(mha_study(tmp_path, 3))
    assert not at.exception and graded(at)
    assert any("no patient or study identity" in i.value for i in at.info)
    assert not any("Paired automatically" in c.value for c in at.caption)


def test_two_studies_need_grade_anyway_with_values_on_the_page_only(fake_backend, caplog):
    caplog.set_level(logging.DEBUG)
    at = upload(two_studies_dicom())
    assert not at.exception and not graded(at)
    text = "\n".join(w.value for w in at.warning)
    assert "come from different studies" in text and "differ in patient age or sex" in text
    assert "T1: 45Y O, study of 2016-06-08; T2: 53Y O, study of 2016-03-09" in text
    at.button(key=[b.key for b in at.button if (b.key or "").startswith("cv_anyway_")][0]).click().run()
    assert not at.exception and graded(at)
    shown = [w.value for w in at.warning]
    assert any(s.startswith("Graded although T1 and T2 come from different studies, were acquired on different dates "
                            "and differ in patient age or sex (user's choice).") for s in shown)
    assert "45Y" not in caplog.text and "2016" not in caplog.text  # the values never reach the logs


def test_same_study_dicom_pair_needs_no_click(fake_backend):
    at = upload(phantom_files())
    assert not at.exception and graded(at)
    assert not [b for b in at.button if (b.key or "").startswith(("cv_anyway_", "cv_choose_"))]


def test_series_descriptions_from_tags_are_shown_verbatim_not_as_markdown(fake_backend):
    files = []
    for name, data, mime in phantom_files():
        ds = pydicom.dcmread(io.BytesIO(data))
        if name.startswith("t1_"):
            ds.SeriesDescription = "**T1** :red[sag] [x](http://e.org)"
        buf = io.BytesIO()
        ds.save_as(buf)
        files.append((name, buf.getvalue(), mime))
    at = upload(files)
    assert not at.exception and graded(at)
    header = next(m.value for m in at.markdown if m.value.startswith("**Study**"))
    # markdown-inert: escaped, the URL broken by a word joiner (shown as typed, no link)
    assert "**T1:** " + markdown_inert("**T1** :red[sag] [x](http://e.org) (T1 series, 15 slices)") in header
