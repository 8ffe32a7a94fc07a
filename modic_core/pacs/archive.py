"""A DICOMweb archive (a PACS): search (QIDO-RS), retrieve a T1/T2 pair (WADO-RS), store the SR (STOW-RS).

:func:`open_archive` makes an :class:`Archive` from a :class:`~modic_core.pacs.config.DicomwebConfig`.
Every failure is a :class:`~modic_core.pacs.errors.PacsError` (one sentence, no credentials, no patient data);
nothing the archive answers is logged beyond the HTTP status and the step.

Retrieved bytes are treated like an upload: the instance count of each series is checked against
``MODIC_MAX_SLICES`` before anything is fetched, the bytes of both series are counted while they stream
(refused past ``MODIC_MAX_UPLOAD_MB``), and the files are then read by the same DICOM loaders as uploads
(header checks before any pixel is decoded, parse-time limit) in a private temporary folder removed after.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from dicomweb_client.api import DICOMwebClient

from modic_core.errors import InputError
from modic_core.export.dicom_sr import read_series_headers
from modic_core.io.dicom import guess_sequence, orientation_name, salted_hash
from modic_core.io.sources import load_series
from modic_core.io.upload import temporary_folder
from modic_core.logs import get_logger
from modic_core.pacs import dicom_json as dj
from modic_core.pacs.config import DicomwebConfig
from modic_core.pacs.errors import PacsError
from modic_core.pacs.http import make_session, pacs_errors, quiet_library_loggers, with_retries
from modic_core.pacs.multipart import ByteBudget, boundary_of, write_parts
from modic_core.pacs.records import PairProposal, RetrievedPair, SeriesHit, SrHit, StudyHit
from modic_core.pairing.choice import PairCandidate, best_pair, is_confident
from modic_core.pairing.study import make_study
from modic_core.settings import limits
from modic_core.volume import Study

__all__ = ["Archive", "SR_DESCRIPTION_PREFIX", "open_archive"]

LOG = get_logger(__name__)
T = TypeVar("T")
#: The SeriesDescription of every SR this app writes begins so (:func:`modic_core.export.dicom_sr.series_description`).
SR_DESCRIPTION_PREFIX = "Modic SR"
#: Most results one search returns.
MAX_SEARCH_RESULTS = 500
_STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
                 "StudyDescription", "NumberOfStudyRelatedSeries")
_SERIES_FIELDS = ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality", "NumberOfSeriesRelatedInstances")
_HEADER_FIELDS = ("ImageOrientationPatient", "RepetitionTime", "EchoTime", "InversionTime", "ScanningSequence")
_ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _check_uid(value: str, what: str) -> str:
    if not isinstance(value, str) or not (0 < len(value) <= 64) or not set(value) <= set("0123456789."):
        raise PacsError(f"The {what} is not a DICOM UID (digits and dots, at most 64 characters).")
    return value


def _check_text(value: str | None, what: str) -> str | None:
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if len(value) > 64 or any(ord(ch) < 32 for ch in value) or "\\" in value:
        raise PacsError(f"The {what} to search for must be one line of at most 64 characters.")
    return value


def open_archive(config: DicomwebConfig) -> Archive:
    """An :class:`Archive` for ``config`` (no request is sent until the first call)."""
    return Archive(config)


class Archive:
    """One DICOMweb archive. Thread-safe for reading as ``requests`` sessions are; make one per worker."""

    def __init__(self, config: DicomwebConfig) -> None:
        quiet_library_loggers()
        self.config = config
        self._base = config.url.rstrip("/")
        self._session = make_session(config)
        try:
            self._client = DICOMwebClient(self._base, session=self._session, timeout=config.timeout_s)
        except ValueError:
            raise PacsError("The DICOMweb URL cannot be used; give it as http(s)://host[:port]/path.") from None
        self._client.set_http_retry_params(retry=False)  # retried here (with_retries), connection failures too

    def __repr__(self) -> str:
        return f"Archive({self.config!r})"

    # ------------------------------------------------------------------------------------------- plumbing

    def _call(self, what: str, call: Callable[[], T]) -> T:
        with pacs_errors(what, timeout_s=self.config.timeout_s):
            return with_retries(call, retries=self.config.retries)

    def _json_list(self, what: str, call: Callable[[], Any]) -> list[dict]:
        answer = self._call(what, call)
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise PacsError(f"The PACS answered with something that is not DICOM JSON while {what}; check that "
                            "MODIC_DICOMWEB_URL points at its DICOMweb service.")
        return answer

    def _stream(self, url: str, folder: Path, *, budget: ByteBudget, what: str, prefix: str) -> list[Path]:
        """GET ``url`` as multipart DICOM, writing each instance to ``folder`` (bytes counted as they arrive)."""
        def attempt() -> list[Path]:
            for old in folder.glob(f"{prefix}_*.dcm"):  # a retried transfer starts again
                budget.used -= old.stat().st_size
                old.unlink()
            with self._session.get(url, headers={"Accept": _ACCEPT_DICOM}, stream=True,
                                   timeout=self.config.timeout_s) as response:
                response.raise_for_status()
                boundary = boundary_of(response.headers.get("Content-Type"))
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and budget.used + int(declared) > budget.limit:
                    budget.take(int(declared))  # refused before reading the body
                return write_parts(response.iter_content(chunk_size=1 << 16), boundary, folder, budget=budget,
                                   prefix=prefix)
        return self._call(what, attempt)

    # ------------------------------------------------------------------------------------------- search

    def search_studies(self, *, patient_id: str | None = None, patient_name: str | None = None,
                       date_from: date | None = None, date_to: date | None = None, accession: str | None = None,
                       modality: str | None = None, limit: int = 50) -> list[StudyHit]:
        """Studies matching every given criterion (QIDO-RS), at most ``limit`` (1..500), newest first.

        ``patient_name`` may use DICOM wildcards (``DOE*``); dates are inclusive. With no criterion at
        all a PacsError asks for one (an archive may hold millions of studies).
        """
        filters: dict[str, str] = {}
        for key, value, what in (("PatientID", patient_id, "patient ID"), ("PatientName", patient_name, "patient name"),
                                 ("AccessionNumber", accession, "accession number"),
                                 ("ModalitiesInStudy", modality, "modality")):
            checked = _check_text(value, what)
            if checked:
                filters[key] = checked
        if date_from or date_to:
            if date_from and date_to and date_from > date_to:
                raise PacsError("The start date of the search is after its end date; please swap them.")
            filters["StudyDate"] = (f"{date_from:%Y%m%d}" if date_from else "") + "-" + \
                                   (f"{date_to:%Y%m%d}" if date_to else "")
        if not filters:
            raise PacsError("Please give at least one search criterion (patient ID or name, dates, accession "
                            "number or modality).")
        limit = max(1, min(int(limit), MAX_SEARCH_RESULTS))
        answer = self._json_list("searching for studies", lambda: self._client.search_for_studies(
            search_filters=filters, fields=list(_STUDY_FIELDS), limit=limit))
        hits = [h for h in (self._study_hit(item) for item in answer[:limit]) if h is not None]
        return sorted(hits, key=lambda h: h.study_date or date.min, reverse=True)

    @staticmethod
    def _study_hit(item: dict) -> StudyHit | None:
        uid = dj.uid(item, "StudyInstanceUID")
        if uid is None:
            return None
        return StudyHit(study_uid=uid, patient_id=dj.text(item, "PatientID"), patient_name=dj.text(item, "PatientName"),
                        study_date=dj.yyyymmdd(dj.first(item, "StudyDate")), accession=dj.text(item, "AccessionNumber"),
                        modalities=dj.texts(item, "ModalitiesInStudy"), description=dj.text(item, "StudyDescription"),
                        n_series=dj.integer(item, "NumberOfStudyRelatedSeries"))

    def list_series(self, study_uid: str) -> list[SeriesHit]:
        """The series of one study by series number, with plane and sequence guessed from one image's header
        (ImageOrientationPatient, description, TR/TE/TI) the way uploads are."""
        study_uid = _check_uid(study_uid, "study UID")
        answer = self._json_list("listing the series of the study", lambda: self._client.search_for_series(
            study_uid, fields=list(_SERIES_FIELDS), limit=limits().max_series + 1))
        if len(answer) > limits().max_series:
            raise PacsError(f"The study holds more than {limits().max_series} series (MODIC_MAX_SERIES); "
                            "it cannot be listed.")
        hits = [h for h in (self._series_hit(study_uid, item) for item in answer) if h is not None]
        return sorted(hits, key=lambda h: (h.number is None, h.number or 0, h.description))

    def _series_hit(self, study_uid: str, item: dict) -> SeriesHit | None:
        series_uid = dj.uid(item, "SeriesInstanceUID")
        if series_uid is None:
            return None
        description = dj.text(item, "SeriesDescription")
        modality = dj.text(item, "Modality", limit=16)
        plane = sequence = None
        if modality in ("MR", ""):
            header = self._first_header(study_uid, series_uid)
            iop = dj.floats(header, "ImageOrientationPatient")
            if iop and len(iop) == 6:
                row, col = iop[:3], iop[3:]
                normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                          row[0] * col[1] - row[1] * col[0])
                if any(abs(v) > 1e-6 for v in normal):
                    plane = orientation_name(normal)
            guess = guess_sequence(description, scanning_sequence=" ".join(dj.texts(header, "ScanningSequence")),
                                   tr=_float(dj.first(header, "RepetitionTime")), te=_float(dj.first(header, "EchoTime")),
                                   ti=_float(dj.first(header, "InversionTime")))
            sequence = guess if guess in ("T1", "T2") else None
        return SeriesHit(series_uid=series_uid, number=dj.integer(item, "SeriesNumber"), description=description,
                         modality=modality, plane=plane, n_instances=dj.integer(item, "NumberOfSeriesRelatedInstances"),
                         sequence=sequence)

    def _first_header(self, study_uid: str, series_uid: str) -> dict:
        """Header fields (orientation, timing) of one instance of the series (QIDO, else its metadata)."""
        found = self._json_list("reading a series header", lambda: self._client.search_for_instances(
            study_uid, series_uid, fields=list(_HEADER_FIELDS), limit=1))
        if not found:
            return {}
        item = found[0]
        if dj.first(item, "ImageOrientationPatient") is None:
            sop = dj.uid(item, "SOPInstanceUID")
            if sop:
                meta = self._call("reading a series header", lambda: self._client.retrieve_instance_metadata(
                    study_uid, series_uid, sop))
                if isinstance(meta, dict):
                    item = meta
        return item

    def propose_pair(self, series: Sequence[SeriesHit]) -> PairProposal | None:
        """The T1 and T2 series to grade, by the upload pairing rule (:mod:`modic_core.pairing.choice`);
        None when the study holds no sagittal T1/T2 pair (fewer than two MR series, or the best pair is not
        sagittal, or its T1 looks T2-weighted or its T2 T1-weighted)."""
        mr = [s for s in series if s.modality in ("MR", "")]
        if len(mr) < 2:
            return None
        candidates = [PairCandidate(sequence=s.sequence or "unknown", orientation=s.plane or "unknown",
                                    description=s.description, n_slices=s.n_instances or 0) for s in mr]
        i, j = best_pair(candidates)
        a, b = mr[i], mr[j]
        if a.plane not in ("sagittal", None) or b.plane not in ("sagittal", None) or a.sequence == "T2" \
                or b.sequence == "T1":
            return None
        confident = is_confident(candidates[i], candidates[j])
        reason = ("Paired automatically by sequence type (T1, T2) and orientation (sagittal)." if confident else
                  "The T1 and T2 series could not be recognised with certainty from their descriptions, timing "
                  "and orientation; please check the two choices.")
        return PairProposal(t1=a, t2=b, reason=reason, confident=confident)

    # ------------------------------------------------------------------------------------------- retrieve

    def _series_url(self, study_uid: str, series_uid: str) -> str:
        return f"{self._base}/studies/{study_uid}/series/{series_uid}"

    def _check_instance_count(self, study_uid: str, series_uid: str) -> None:
        max_slices = limits().max_slices
        found = self._json_list("counting the images of a series", lambda: self._client.search_for_instances(
            study_uid, series_uid, fields=["SOPInstanceUID"], limit=max_slices + 1))
        if len(found) > max_slices:
            raise PacsError(f"A chosen series holds more than {max_slices} images (MODIC_MAX_SLICES); "
                            "please choose another series.")
        if not found:
            raise PacsError("The PACS holds no images for a chosen series; please choose another series.")

    def retrieve_pair(self, study_uid: str, t1_series_uid: str, t2_series_uid: str) -> Study:
        """The two series only, streamed into a private temporary folder (bytes of both counted against
        ``MODIC_MAX_UPLOAD_MB`` as they arrive), read with the upload loaders and paired (:func:`make_study`).
        The folder is removed before this returns; the Study's ``study_id`` is an opaque hash."""
        return self.retrieve(study_uid, t1_series_uid, t2_series_uid).study

    def retrieve(self, study_uid: str, t1_series_uid: str, t2_series_uid: str) -> RetrievedPair:
        """As :meth:`retrieve_pair`, with the series' DICOM headers for the SR's evidence."""
        study_uid = _check_uid(study_uid, "study UID")
        t1_series_uid = _check_uid(t1_series_uid, "T1 series UID")
        t2_series_uid = _check_uid(t2_series_uid, "T2 series UID")
        if t1_series_uid == t2_series_uid:
            raise PacsError("The same series was chosen as T1 and T2; please choose two different series.")
        budget = ByteBudget(limits().max_upload_bytes, what="the upload limit (MODIC_MAX_UPLOAD_MB)")
        volumes, headers = {}, {}
        with temporary_folder() as tmp:
            for key, series_uid in (("t1", t1_series_uid), ("t2", t2_series_uid)):
                self._check_instance_count(study_uid, series_uid)
                folder = tmp / key
                folder.mkdir()
                paths = self._stream(self._series_url(study_uid, series_uid), folder, budget=budget,
                                     what=f"retrieving the {key.upper()} series", prefix="im")
                if not paths:
                    raise PacsError(f"The PACS sent no images for the {key.upper()} series.")
                if len(paths) > limits().max_slices:
                    raise PacsError(f"The {key.upper()} series sent by the PACS holds more than "
                                    f"{limits().max_slices} images (MODIC_MAX_SLICES).")
                try:
                    volumes[key] = load_series(folder)
                except PacsError:
                    raise
                except InputError as exc:
                    raise PacsError(f"The {key.upper()} series from the PACS cannot be used: {exc}") from None
                headers[key] = tuple(read_series_headers(folder))
        sources = {"t1": "PACS T1 series", "t2": "PACS T2 series"}
        study = make_study(volumes["t1"], volumes["t2"], sources=sources, study_id=f"pacs-{salted_hash(study_uid)}")
        return RetrievedPair(study=study, t1_headers=headers["t1"], t2_headers=headers["t2"])

    def retrieve_study(self, study_uid: str, t1_series_uid: str | None = None,
                       t2_series_uid: str | None = None) -> RetrievedPair:
        """The study's T1/T2 pair: the given series, or the pair :meth:`propose_pair` finds; PacsError when only
        one series is given or the study holds no sagittal T1/T2 pair."""
        if (t1_series_uid is None) != (t2_series_uid is None):
            raise PacsError("Give both the T1 and the T2 series (--t1-series and --t2-series), or neither "
                            "(the pair is then proposed).")
        if t1_series_uid is None or t2_series_uid is None:
            proposal = self.propose_pair(self.list_series(study_uid))
            if proposal is None:
                raise PacsError("This study holds no sagittal T1/T2 pair of series; Modic grading needs a sagittal "
                                "T1 and a sagittal T2 of the same examination.")
            t1_series_uid, t2_series_uid = proposal.t1.series_uid, proposal.t2.series_uid
        return self.retrieve(study_uid, t1_series_uid, t2_series_uid)

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """The DICOM file of one instance (e.g. an SR), at most ``MODIC_MAX_UPLOAD_MB`` bytes."""
        parts = [_check_uid(study_uid, "study UID"), _check_uid(series_uid, "series UID"),
                 _check_uid(sop_uid, "SOP instance UID")]
        url = f"{self._base}/studies/{parts[0]}/series/{parts[1]}/instances/{parts[2]}"
        budget = ByteBudget(limits().max_upload_bytes, what="the upload limit (MODIC_MAX_UPLOAD_MB)")
        with temporary_folder() as tmp:
            paths = self._stream(url, tmp, budget=budget, what="retrieving a stored report", prefix="sr")
            if len(paths) != 1:
                raise PacsError(f"The PACS sent {len(paths)} files where one was asked for.")
            return paths[0].read_bytes()

    # ------------------------------------------------------------------------------------------- store / SRs

    def store_sr(self, sr_bytes: bytes, *, study_uid: str) -> str:
        """Store the DICOM SR ``sr_bytes`` (STOW-RS) into ``study_uid``; returns its SOP Instance UID.

        The SR must belong to that study (its StudyInstanceUID); the archive's answer is checked for a
        failed instance."""
        import pydicom  # lazy: pydicom is heavy; only DICOM work needs it

        study_uid = _check_uid(study_uid, "study UID")
        try:
            ds = pydicom.dcmread(io.BytesIO(sr_bytes))
            sop_uid, own_study = str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)
        except Exception:  # noqa: BLE001 - any parse failure is the same sentence
            raise PacsError("The report to store is not a readable DICOM file.") from None
        if own_study != study_uid:
            raise PacsError("The report belongs to another study than the one it is to be stored in.")
        answer = self._call("storing the report", lambda: self._client.store_instances([ds], study_uid))
        failed = getattr(answer, "FailedSOPSequence", None) if answer is not None else None
        if failed:
            raise PacsError("The PACS refused to store the report (it listed it as failed); ask its administrator.")
        return sop_uid

    def find_srs(self, study_uid: str) -> list[SrHit]:
        """The SRs this app wrote in ``study_uid`` (modality SR, SeriesDescription starting "Modic SR"),
        newest first."""
        study_uid = _check_uid(study_uid, "study UID")
        studies = self._json_list("looking for stored reports", lambda: self._client.search_for_studies(
            search_filters={"StudyInstanceUID": study_uid}, fields=["StudyDate"], limit=1))
        study_date = dj.yyyymmdd(dj.first(studies[0], "StudyDate")) if studies else None
        return self._srs_in(study_uid, study_date)

    def _srs_in(self, study_uid: str, study_date: date | None) -> list[SrHit]:
        series = self._json_list("looking for stored reports", lambda: self._client.search_for_series(
            study_uid, search_filters={"Modality": "SR"}, fields=["SeriesDescription", "Modality"]))
        hits: list[SrHit] = []
        for item in series:
            series_uid = dj.uid(item, "SeriesInstanceUID")
            if series_uid is None or not dj.text(item, "SeriesDescription").startswith(SR_DESCRIPTION_PREFIX):
                continue
            if dj.text(item, "Modality", limit=16) not in ("SR", ""):
                continue
            instances = self._json_list("looking for stored reports", lambda s=series_uid: self._client.search_for_instances(
                study_uid, s, fields=["ContentDate", "ContentTime"], limit=100))
            for inst in instances:
                sop = dj.uid(inst, "SOPInstanceUID")
                if sop:
                    hits.append(SrHit(study_uid=study_uid, series_uid=series_uid, sop_uid=sop, study_date=study_date,
                                      content_datetime=dj.dt(dj.first(inst, "ContentDate"),
                                                             dj.first(inst, "ContentTime"))))
        return sorted(hits, key=lambda h: (h.content_datetime is not None, h.content_datetime), reverse=True)

    def earlier_srs(self, patient_id: str, *, before_study_uid: str) -> list[SrHit]:
        """This app's SRs in the patient's studies dated before ``before_study_uid``'s study date, newest
        first (empty when that study's date is unknown)."""
        patient_id = _check_text(patient_id, "patient ID")
        before_study_uid = _check_uid(before_study_uid, "study UID")
        if not patient_id:
            return []
        studies = self._json_list("looking for earlier reports", lambda: self._client.search_for_studies(
            search_filters={"PatientID": patient_id}, fields=["StudyDate"], limit=MAX_SEARCH_RESULTS))
        dated = {uid: dj.yyyymmdd(dj.first(s, "StudyDate")) for s in studies
                 if (uid := dj.uid(s, "StudyInstanceUID")) is not None}
        ref = dated.get(before_study_uid)
        if ref is None:
            return []
        out: list[SrHit] = []
        for uid, day in sorted(dated.items(), key=lambda kv: kv[1] or date.min, reverse=True):
            if uid != before_study_uid and day is not None and day < ref:
                out += self._srs_in(uid, day)
        return out

    def iter_studies(self, filters: dict[str, str], *, page: int = 100) -> Iterator[str]:
        """Study UIDs matching raw QIDO ``filters`` (attribute keyword -> value), page by page (for the batch)."""
        offset = 0
        while True:
            answer = self._json_list("searching for studies", lambda o=offset: self._client.search_for_studies(
                search_filters=dict(filters), fields=["StudyInstanceUID"], limit=page, offset=o))
            for item in answer:
                uid = dj.uid(item, "StudyInstanceUID")
                if uid:
                    yield uid
            if len(answer) < page:
                return
            offset += len(answer)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, (dict, list, bool)) else None
    except (TypeError, ValueError):
        return None


