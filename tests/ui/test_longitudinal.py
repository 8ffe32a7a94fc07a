"""Earlier results (issue 27 item 4): the per-level table beside today's grades, and reading the earlier SRs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from modic_core.errors import InputError
from modic_core.export.sr_read import SrFindings, SrLevel
from modic_core.pacs import PacsError
from modic_core.pacs.records import SrHit
from modic_core.ui.longitudinal import MAX_EARLIER, earlier_rows, read_earlier
from tests.export.test_sr_read import hand_made_sr


@dataclass
class Level:
    level: str
    prediction: str
    prediction_set: tuple[str, ...] = ()
    graded: bool = True


def findings(day: date | None, *levels: SrLevel) -> SrFindings:
    return SrFindings(study_uid="1.2", sop_uid="1.2.3", study_date=day, content_datetime=None, levels=levels)


def test_rows_per_level_oldest_first_then_today():
    today = [Level("L4-L5", "MC2", ("MC0", "MC2")), Level("L5-S1", "MC0"), Level("L3-L4", "not graded", graded=False)]
    newer = findings(date(2023, 2, 1), SrLevel("L4-L5", "MC0", {}, ("MC0",)), SrLevel("L2-L3", "MC1", {}))
    older = findings(date(2021, 7, 9), SrLevel("L4-L5", "MC0", {}, ("MC0", "MC2")))
    rows = earlier_rows(today, [newer, older])
    assert list(rows[0]) == ["Level", "Earlier (2021-07-09)", "Earlier (2023-02-01)", "Today"]
    assert rows == [
        {"Level": "L4-L5", "Earlier (2021-07-09)": "MC0 (uncertain)", "Earlier (2023-02-01)": "MC0",
         "Today": "MC2 (uncertain)"},
        {"Level": "L5-S1", "Earlier (2021-07-09)": "—", "Earlier (2023-02-01)": "—", "Today": "MC0"},
        {"Level": "L3-L4", "Earlier (2021-07-09)": "—", "Earlier (2023-02-01)": "—", "Today": "not graded"},
        {"Level": "L2-L3", "Earlier (2021-07-09)": "—", "Earlier (2023-02-01)": "MC1", "Today": "—"},  # earlier only
    ]


def test_two_reports_of_one_day_and_an_unknown_date_get_their_own_columns():
    day = date(2022, 1, 1)
    rows = earlier_rows([Level("L4-L5", "MC0")], [findings(day), findings(day), findings(None)])
    assert list(rows[0]) == ["Level", "Earlier (2022-01-01)", "Earlier (2022-01-01, 2)", "Earlier (date unknown)", "Today"]


class Archive:
    def __init__(self, hits, bad=()):
        self.hits, self.bad, self.asked = hits, set(bad), []

    def earlier_srs(self, patient_id, *, before_study_uid):
        return self.hits

    def retrieve_instance(self, study_uid, series_uid, sop_uid):
        self.asked.append(sop_uid)
        if sop_uid in self.bad:
            raise PacsError("The PACS does not hold what was asked for while retrieving a stored report (HTTP 404); "
                            "it may have been moved or deleted.")
        return b"not dicom" if sop_uid == "9.9" else hand_made_sr(study_date=None)


def test_newest_report_of_each_recent_study_is_read_and_failures_are_notes():
    hits = [SrHit("1.1", "1.1.1", "1.1.1.2", date(2023, 1, 1), None),  # newest SR of the newest study
            SrHit("1.1", "1.1.1", "1.1.1.1", date(2023, 1, 1), None),  # an older SR of that study: not read
            SrHit("1.2", "1.2.1", "9.9", date(2022, 1, 1), None),  # not DICOM
            SrHit("1.3", "1.3.1", "404", date(2021, 1, 1), None),  # gone
            SrHit("1.4", "1.4.1", "1.4.1.1", date(2020, 1, 1), None)]  # beyond MAX_EARLIER studies
    archive = Archive(hits, bad={"404"})
    found, notes = read_earlier(archive, "P1", "1.9")
    assert MAX_EARLIER == 3 and archive.asked == ["1.1.1.2", "9.9", "404"]
    assert len(found) == 1 and found[0].study_date == date(2023, 1, 1)  # the SR had none: the archive's date
    assert [lv.level for lv in found[0].levels] == ["L4-L5", "L3-L4"]
    assert any(n.startswith("An earlier report could not be read and is left out: This file") for n in notes)
    assert any("HTTP 404" in n for n in notes)
    assert any(n.startswith("An earlier report (2023-01-01): Measurement group 2 has no level name") for n in notes)
    assert not any("P1" in n for n in notes)
    assert issubclass(PacsError, InputError)
