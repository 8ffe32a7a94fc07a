"""Run the real dashboard (``streamlit run app.py ...``) with the analysis double of ``fakes.py``.

    python tests/app/serve_fake.py [streamlit run options...]

Streamlit runs the app's scripts in this process, so the backend installed here through
:func:`modic_core.ui.backend.set_backend_factory` is the one the pages use; app.py itself never
imports the tests. The browser test uses this when no trained models are installed.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from streamlit.web import cli

    from tests.app import fakes

    fakes.install()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())
