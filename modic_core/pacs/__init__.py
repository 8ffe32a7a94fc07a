"""Studies from a PACS over DICOMweb (QIDO-RS search, WADO-RS retrieval, STOW-RS of the SR).

Shown only when ``MODIC_DICOMWEB_URL`` is set (:func:`dicomweb_config`); see ``docs/pacs.md``.
"""
from __future__ import annotations

from modic_core.pacs.archive import Archive, open_archive
from modic_core.pacs.config import DicomwebConfig, dicomweb_config
from modic_core.pacs.errors import PacsError
from modic_core.pacs.records import PairProposal, RetrievedPair, SeriesHit, SrHit, StudyHit

__all__ = ["Archive", "DicomwebConfig", "PacsError", "PairProposal", "RetrievedPair", "SeriesHit", "SrHit", "StudyHit", "dicomweb_config",
           "open_archive"]
