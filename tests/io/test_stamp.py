"""file_stamp: a cache key that changes with the file."""
from __future__ import annotations

import os

from modic_core.io.stamp import file_stamp


def test_stamp_changes_with_the_file_and_names_a_missing_one(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x\n")
    first = file_stamp(f, tmp_path / "missing.csv")
    assert first[1] == (str(tmp_path / "missing.csv"), None, None)
    f.write_text("x,y\n")
    os.utime(f, ns=(first[0][1] + 10**9, first[0][1] + 10**9))
    assert file_stamp(f)[0] != first[0]
