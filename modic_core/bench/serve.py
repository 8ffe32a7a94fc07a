"""Start and stop the dashboard as a real Streamlit server on 127.0.0.1 (browser benchmark and tests)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["free_port", "start_streamlit", "stop"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(app_root: Path, log_path: Path, *, env: Mapping[str, str] | None = None,
                    command: Sequence[str] | None = None, timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Run ``command`` (default ``-m streamlit run app.py``) with Python in ``app_root`` on a free
    port, headless, and wait until ``/_stcore/health`` answers. Returns (process, URL); raises
    RuntimeError with the log's tail when it exits early or stays unhealthy for ``timeout_s``."""
    port = free_port()
    options = ["--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    env = dict(env if env is not None else os.environ)
    env.setdefault("PYTHONPATH", str(app_root))
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, *(command or ["-m", "streamlit", "run", "app.py"]), *options],
                                cwd=app_root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{Path(log_path).read_text()[-3000:]}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Terminate the server, killing it after 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
