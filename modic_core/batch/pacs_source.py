"""A batch's studies from a PACS (``modic-batch --dicomweb URL [--query KEY=VALUE ...]``).

:func:`archive_studies` lists the studies matching the query (QIDO-RS) that hold a sagittal T1/T2 pair
(:meth:`~modic_core.pacs.Archive.propose_pair`) as :class:`PacsStudy` records, which the batch treats like
cohort studies: ``study_id`` is the StudyInstanceUID (results and resume are keyed by it) and
:meth:`PacsStudy.load` retrieves the two series when the study's turn comes (WADO-RS, the upload limits).
A PACS study has no labels, so no metrics are computed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modic_core.errors import InputError
from modic_core.pacs import DicomwebConfig, open_archive
from modic_core.volume import Study

__all__ = ["QUERY_KEYS", "PacsStudy", "archive_studies", "parse_query"]

#: Study attributes a ``--query`` may match (DICOM PS3.18 QIDO-RS study matching keys, and StudyDescription).
QUERY_KEYS = ("PatientID", "PatientName", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
              "ReferringPhysicianName", "StudyID", "StudyInstanceUID", "StudyDescription")


@dataclass
class PacsStudy:
    """One archive study of a batch, read when its turn comes. ``t1_path``/``t2_path`` are neutral labels
    (the batch's log and status redaction use them; there are no files)."""

    study_id: str
    config: DicomwebConfig
    t1_series: str
    t2_series: str
    t1_path: Path = Path("PACS T1 series")
    t2_path: Path = Path("PACS T2 series")
    manufacturer: str = ""
    field_strength_t: float | None = None
    levels: list = field(default_factory=list)
    t2_aligned: bool | None = None

    def load(self) -> Study:
        """The paired study, retrieved from the archive (PacsError, an InputError, when it cannot be)."""
        pair = open_archive(self.config).retrieve(self.study_id, self.t1_series, self.t2_series)
        return pair.study


def parse_query(items: Sequence[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` as QIDO filters; InputError for an unknown key or a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise InputError(f"--query needs KEY=VALUE, e.g. ModalitiesInStudy=MR; got {item[:40]!r}.")
        if key not in QUERY_KEYS:
            raise InputError(f"--query cannot match {key[:40]!r}; use one of {', '.join(QUERY_KEYS)}.")
        out[key] = value
    return out


def archive_studies(config: DicomwebConfig, query: dict[str, str]) -> list[PacsStudy]:
    """The studies matching ``query`` that hold a sagittal T1/T2 pair, in the archive's order."""
    archive = open_archive(config)
    out = []
    for study_uid in dict.fromkeys(archive.iter_studies(query)):
        proposal = archive.propose_pair(archive.list_series(study_uid))
        if proposal is not None:
            out.append(PacsStudy(study_id=study_uid, config=config, t1_series=proposal.t1.series_uid,
                                 t2_series=proposal.t2.series_uid))
    return out
