"""modic_core.export.figure_png: the view on screen as one PNG for slides."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from modic_core.export.figure_png import DPI, LABEL_W_IN, PANEL_W_IN, figure_png
from modic_core.export.render import Window
from modic_core.datasets.demo import load_demo
from tests.export.test_documents import make_report


def test_png_has_both_panels_at_the_stated_resolution_and_no_patient_text():
    study = load_demo("phantom-dicom")
    report = make_report(study)
    png = figure_png(study=study, levels=report.levels, z=7, window_t1=Window(0, 800), window_t2=Window(0, 800),
                     heat_opacity=0.45, study_label="abc123", method="Z-score")
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG"
    # two panels of PANEL_W_IN plus the label column and margins, at DPI
    assert im.width >= int((2 * PANEL_W_IN + LABEL_W_IN) * DPI)
    grey = np.asarray(im.convert("L"), dtype=float)
    assert grey.std() > 10  # not a blank picture
