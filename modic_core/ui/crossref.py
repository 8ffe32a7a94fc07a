"""What the case viewer's picture needs to relate its T1 and T2 panels: where the T2 has data and
which original T2 slice lies at each T1 slice (:mod:`modic_core.pairing.slice_map`), cached per study."""
from __future__ import annotations

from typing import Any

import streamlit as st

from modic_core.export.render import slice_lr_label
from modic_core.pairing.slice_map import t2_coverage, t2_slice_map

__all__ = ["t2_overlay"]


@st.cache_data(max_entries=16, show_spinner=False)
def t2_overlay(key: tuple, _study) -> dict[str, Any]:
    """``{"cover": [bool per T1 slice], "where": [phrase or None per T1 slice]}`` for ``_study``
    (a :class:`~modic_core.volume.Study` whose ``t2`` is on the T1 grid), computed once per ``key``.

    ``cover`` is False where the T2 shown has no data (outside its slab or field of view); ``where``
    names the original T2 slice at each T1 slice, e.g. "T2 slice 4 of 8 (3.5 mm L) lies here"
    (None for every slice when the study keeps no native T2)."""
    cover = t2_coverage(_study.t2.array)
    native = getattr(_study, "t2_native", None)
    if native is None:
        return {"cover": cover, "where": [None] * len(cover)}
    where = [info.sentence(slice_lr_label(native, info.index)) for info in t2_slice_map(_study.t1, native)]
    return {"cover": cover, "where": where}
