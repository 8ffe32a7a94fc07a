"""The model card's Grad-CAM audit figure reads every number from weights/gradcam_audit.json."""
from __future__ import annotations

from pathlib import Path

from modic_core.ui.modelinfo import gradcam_chart, load_gradcam_audit

ROOT = Path(__file__).resolve().parents[2]


def test_chart_shows_the_shipped_audit(tmp_path):
    assert load_gradcam_audit(tmp_path) is None
    doc = load_gradcam_audit(ROOT / "weights")
    fig = gradcam_chart(doc)
    names = [t.name for t in fig.data]
    assert names[:3] == ["marrow bands", "disc band", "outside the bands"] and len(names) == 5
    labels = list(fig.data[0].x)
    assert sum("★" in x for x in labels) == 1 and any(x.startswith(doc.chosen) and "★" in x for x in labels)
    row = doc.row(doc.rule_method, doc.chosen, "MC2")
    i = next(k for k, x in enumerate(labels) if x.startswith(doc.chosen + " "))
    assert fig.data[0].y[i] == row.marrow.value and fig.data[3].y[i] == row.marrow_denser.value
    assert fig.data[0].error_y.array[i] == row.marrow.ci_high - row.marrow.value
