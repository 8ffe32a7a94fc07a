"""A batch's studies from a PACS (``modic-batch --dicomweb URL [--query KEY=VALUE ...]``).

:func:`archive_studies` lists the studies matching the query (QIDO-RS) that hold a sagittal T1/T2 pair
(:meth:`~modic_core.pacs.Archive.propose_pair`) as :class:`PacsStudy` records, which the batch treats like
cohort studies: ``study_id`` is the StudyInstanceUID (results and resume are keyed by it) and
:meth:`PacsStudy.load` retrieves the two series when the study's turn comes (WADO-RS, the upload limits): in
this process with ``--engine local``, in the Ray read tasks with ``--engine ray``.
A PACS study has no labels, so no metrics are computed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modic_core.errors import InputError
from modic_core.pacs import DicomwebConfig, dicomweb_config, open_archive
from modic_core.pacs.config import public_url
from modic_core.volume import Study

__all__ = ["ITEM_PREFIX", "QUERY_KEYS", "PacsStudy", "archive_studies", "parse_query"]

#: Study attributes a ``--query`` may match (DICOM PS3.18 QIDO-RS study matching keys, and StudyDescription).
QUERY_KEYS = ("PatientID", "PatientName", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
              "ReferringPhysicianName", "StudyID", "StudyInstanceUID", "StudyDescription")


#: How a PACS study's series travel in a Ray dataset row's ``t1``/``t2`` cells: ``dicomweb|URL|SERIES_UID``
#: (the URL without user information; the sign-in is read from the environment by the read task).
ITEM_PREFIX = "dicomweb|"


@dataclass
class PacsStudy:
    """One archive study of a batch, read when its turn comes (in this process, or in a Ray read task).

    ``t1_path``/``t2_path`` are the row cells of :func:`modic_core.batch.ray_engine.run_ray`
    (``dicomweb|URL|SERIES_UID``, see :func:`from_item`); the batch's redaction of messages uses them too.
    """

    study_id: str
    config: DicomwebConfig
    t1_series: str
    t2_series: str
    manufacturer: str = ""
    field_strength_t: float | None = None
    levels: list = field(default_factory=list)
    t2_aligned: bool | None = None

    @property
    def t1_path(self) -> str:
        return f"{ITEM_PREFIX}{public_url(self.config.url)}|{self.t1_series}"

    @property
    def t2_path(self) -> str:
        return f"{ITEM_PREFIX}{public_url(self.config.url)}|{self.t2_series}"

    @classmethod
    def from_item(cls, study_id: str, t1: str, t2: str) -> PacsStudy:
        """The study of a Ray row (its ``t1``/``t2`` cells); the sign-in comes from this process's environment."""
        _, url, t1_series = t1.split("|", 2)
        t2_series = t2.rsplit("|", 1)[-1]
        config = dicomweb_config(url)
        assert config is not None  # a URL was given
        return cls(study_id=str(study_id), config=config, t1_series=t1_series, t2_series=t2_series)

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
