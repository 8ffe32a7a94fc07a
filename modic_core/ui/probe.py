"""The Modic signal probe as the case viewer's per-level table shows it (no Streamlit: plain text cells).

Two columns, one per sequence, each "upper 0.52 · lower 1.01": the endplate / vertebral-centre signal ratio
of the marrow above the disc (upper: the vertebra above) and below it (lower: the vertebra below), as
:mod:`modic_core.analysis.signal_probe` measures them (1.00 = same signal as the vertebra's centre).
"""
from __future__ import annotations

__all__ = ["PROBE_COLUMNS", "PROBE_HELP", "probe_cells"]

#: The table's probe columns (T1, then T2).
PROBE_COLUMNS = ("T1 endplate/centre", "T2 endplate/centre")
#: What the columns mean, one sentence for a caption or tooltip.
PROBE_HELP = ("Endplate/centre: mean marrow signal beside the disc's upper and lower endplate divided by the same "
              "vertebra's central marrow (1.00 = no difference; Modic 1 reads T1 below 1 and T2 above 1).")


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def probe_cells(signal) -> dict[str, str | None]:
    """{column: "upper 0.52 · lower 1.01"} for a level's :class:`~modic_core.analysis.signal_probe.LevelSignal`;
    None cells (shown as "—") for a level without a probe (e.g. not graded)."""
    if signal is None:
        return dict.fromkeys(PROBE_COLUMNS)
    return {col: f"upper {_ratio(getattr(signal, f'upper_ratio_{seq}'))} · lower {_ratio(getattr(signal, f'lower_ratio_{seq}'))}"
            for col, seq in zip(PROBE_COLUMNS, ("t1", "t2"))}
