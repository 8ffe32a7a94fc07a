"""Pure, testable helpers behind the Streamlit dashboard (``app.py`` and ``pages/``).

The pages only lay out widgets and call these helpers; the maths and the figure building
live here and in the rest of :mod:`modic_core`:

- :mod:`.style` -- colours per class, the notice, texts shared by the pages;
- :mod:`.viewer` -- window/level defaults, slice compositing, plotly slice and crop figures;
- :mod:`.uploads` -- automatic T1/T2 pairing of uploaded series and loading the chosen pair;
- :mod:`.backend` -- the analysis backend seam (the shipped pipeline, or a double installed by tests);
- :mod:`.session` -- hashed study IDs, the per-session analysis store (bounded in bytes), the models' status;
- :mod:`.guard` -- shows input errors as messages and never lets a traceback reach the page;
- :mod:`.comparison` -- the shipped comparison (a typed :mod:`modic_core.schema` record), tables and plotly charts;
- :mod:`.export` -- CSV export of a study's table, the PDF report;
- :mod:`.modelinfo` -- the shipped model cards (typed records) as rows for the model card;
- :mod:`.teaching` -- the synthetic phantoms of the teaching page;
- :mod:`.teaching_cases` -- teaching cases with known truth (real, lesion-inserted, phantom), examples or failures;
- :mod:`.quiz` -- the teaching quiz's neutral names, score and crops;
- :mod:`.naming` -- the case viewer's "Correct level names" panel (the correction is :mod:`modic_core.analysis.naming_correction`).

Nothing here imports streamlit at module level, except :mod:`.guard` lazily.
"""
from __future__ import annotations
