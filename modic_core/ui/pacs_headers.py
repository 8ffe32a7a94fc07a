"""The DICOM headers (no pixels) of a series held in a PACS, for the DICOM SR that references its images.

The SR (:func:`modic_core.export.dicom_sr.dicom_sr_bytes`) needs the T1 and T2 series' headers: the images'
UIDs and positions, and the patient and study attributes it must carry. The retrieved pixels are read and the
files removed by :meth:`modic_core.pacs.Archive.retrieve_pair`, so the headers are asked for separately with
WADO-RS's series metadata (DICOM JSON), through the archive's own session rules (authentication, TLS,
timeout, retries, every failure one :class:`~modic_core.pacs.PacsError` sentence). Bulk data (pixels and any
other BulkDataURI element) is dropped before the JSON becomes pydicom datasets. At most
``MODIC_MAX_SLICES`` instances are taken. The result is ``(name, bytes)`` header-only uploads, the form
:func:`~modic_core.export.dicom_sr.read_series_headers` reads.
"""
from __future__ import annotations

import io

from modic_core.pacs import DicomwebConfig, PacsError
from modic_core.pacs.http import make_session, pacs_errors, with_retries
from modic_core.settings import limits

__all__ = ["series_header_uploads"]

_PIXEL_DATA = "7FE00010"


def _header_bytes(item: dict) -> bytes:
    """One instance's DICOM JSON (bulk data left out) as a small DICOM file (explicit VR little endian)."""
    import pydicom  # lazy: pydicom is heavy; only DICOM work needs it
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    kept = {tag: el for tag, el in item.items()
            if tag.upper() != _PIXEL_DATA and not (isinstance(el, dict) and "BulkDataURI" in el)}
    ds = pydicom.Dataset.from_json(kept)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def series_header_uploads(config: DicomwebConfig, study_uid: str, series_uid: str) -> list[tuple[str, bytes]]:
    """The headers of every instance of one series as ``(name, bytes)`` uploads (names are counters, never
    UIDs). Raises PacsError when the archive fails or answers something that is not DICOM JSON."""
    from dicomweb_client.api import DICOMwebClient  # lazy: only the PACS input needs it

    what = "reading the series headers for the report"
    client = DICOMwebClient(config.url.rstrip("/"), session=make_session(config), timeout=config.timeout_s)
    client.set_http_retry_params(retry=False)  # retried by with_retries, as every archive call
    with pacs_errors(what, timeout_s=config.timeout_s):
        answer = with_retries(lambda: client.retrieve_series_metadata(study_uid, series_uid), retries=config.retries)
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise PacsError(f"The PACS answered with something that is not DICOM JSON while {what}.")
        if len(answer) > limits().max_slices:
            raise PacsError(f"A chosen series holds more than {limits().max_slices} images (MODIC_MAX_SLICES).")
        return [(f"{k:05d}.dcm", _header_bytes(item)) for k, item in enumerate(answer)]
