"""Our temporary folders record their owner; the start-up sweep removes only the stale ones
(modic_core/io/tempdirs.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from modic_core.io import tempdirs
from modic_core.io.tempdirs import FIGURE_PREFIX, OWNER_FILE, UPLOAD_PREFIX, is_stale, process_temp_dir, sweep_stale
from modic_core.io.upload import temporary_folder

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _folder(root: Path, name: str, *, owner: str | None = None, age_s: float = 0.0, payload: bool = True) -> Path:
    d = root / name
    d.mkdir()
    if payload:
        (d / "slice.dcm").write_bytes(b"x" * 1000)
    if owner is not None:
        (d / OWNER_FILE).write_text(owner)
    if age_s:
        t = time.time() - age_s
        os.utime(d, (t, t))
    return d


def test_only_stale_folders_of_ours_are_removed(tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("not ours")
    (outside / OWNER_FILE).write_text(f"pid={_dead_pid()} start=\n")
    me = f"pid={os.getpid()} start={tempdirs._start_ticks(os.getpid()) or ''}\n"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [
            _folder(root, UPLOAD_PREFIX + "dead", owner=f"pid={_dead_pid()} start=\n"),
            _folder(root, FIGURE_PREFIX + "dead", owner=f"pid={_dead_pid()} start=123\n"),
            _folder(root, UPLOAD_PREFIX + "old_no_owner", age_s=2 * DAY),
            _folder(root, UPLOAD_PREFIX + "garbled_old", owner="pid=abc", age_s=2 * DAY),
        ]
        live = [
            _folder(root, UPLOAD_PREFIX + "mine", owner=me),
            _folder(root, UPLOAD_PREFIX + "other_live", owner=f"pid={sleeper.pid} start=\n", age_s=3 * DAY),
            _folder(root, UPLOAD_PREFIX + "fresh_no_owner"),  # being made right now
            _folder(root, "modic_cohort_old", age_s=3 * DAY),  # not a prefix we sweep
            _folder(root, "unrelated_upload_x", age_s=3 * DAY),
        ]
        if tempdirs._start_ticks(os.getpid()) is not None:  # Linux: a reused pid is not the owner
            stale.append(_folder(root, UPLOAD_PREFIX + "reused_pid", owner=f"pid={os.getpid()} start=1\n"))
        link = root / (UPLOAD_PREFIX + "x")
        link.symlink_to(outside, target_is_directory=True)
        (stale[0] / "escape").symlink_to(outside, target_is_directory=True)  # a link inside a stale folder
        plain_file = root / (UPLOAD_PREFIX + "file")
        plain_file.write_text("a file, not a folder")

        removed = sweep_stale(root=root, max_age_s=DAY)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.is_dir() for p in live)
    assert link.is_symlink() and (outside / "keep.txt").read_text() == "not ours"  # never followed
    assert plain_file.is_file()


def test_a_folder_left_by_a_killed_upload_is_swept_and_a_running_one_is_not(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = ("import sys, time\nfrom modic_core.io.upload import temporary_folder\n"
            "with temporary_folder() as d:\n    (d / 'part_0').mkdir()\n    print(d, flush=True)\n    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        left = Path(child.stdout.readline().strip())
        assert left.parent == tmp_path and left.name.startswith(UPLOAD_PREFIX)
        assert sweep_stale(root=tmp_path) == []  # its process still runs
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.stdout.close()
    assert left.is_dir()  # SIGKILL: no cleanup ran
    assert sweep_stale(root=tmp_path) == [left]
    assert not left.exists()


def test_upload_folders_record_their_owner_and_survive_a_sweep_while_in_use(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with temporary_folder() as d:
        assert d.parent == tmp_path
        assert (d / OWNER_FILE).read_text().startswith(f"pid={os.getpid()} ")
        assert not is_stale(d, max_age_s=0)
        assert sweep_stale(root=tmp_path, max_age_s=0) == []
        assert d.is_dir()
    assert not d.exists()


def test_sweep_runs_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_swept", False)
    first = _folder(tmp_path, UPLOAD_PREFIX + "a", owner=f"pid={_dead_pid()} start=\n")
    assert tempdirs.sweep_once() == [first]
    _folder(tmp_path, UPLOAD_PREFIX + "b", owner=f"pid={_dead_pid()} start=\n")
    assert tempdirs.sweep_once() == []


def test_one_process_folder_for_concurrent_first_calls_removed_at_exit(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_process_dirs", {})
    filled = []

    def slow_fill(d):
        filled.append(d)
        time.sleep(0.2)
        (d / "index.html").write_text("<html></html>")

    got, start = [], threading.Barrier(6)

    def first_load():
        start.wait()
        got.append(process_temp_dir(FIGURE_PREFIX, fill=slow_fill))

    threads = [threading.Thread(target=first_load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    folders = [p for p in tmp_path.iterdir() if p.name.startswith(FIGURE_PREFIX)]
    assert len(folders) == 1 and set(got) == set(folders) and len(filled) == 1
    assert (folders[0] / "index.html").is_file()  # filled before anyone got it
    tempdirs._remove_at_exit(folders[0], os.getpid() + 1)  # a forked child's exit leaves it
    assert folders[0].is_dir()
    tempdirs._remove_at_exit(folders[0], os.getpid())
    assert not folders[0].exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_process_folder_is_removed_when_the_process_exits(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = ("from modic_core.io.tempdirs import process_temp_dir\n"
            "print(process_temp_dir('modic_figure_'), flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    made = Path(out.stdout.strip())
    assert made.parent == tmp_path and made.name.startswith(FIGURE_PREFIX)
    assert not made.exists()
