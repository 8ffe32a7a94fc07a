"""The label store's de-identified copies (modic_core/labels/files.py): written fast enough for a save."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from modic_core.labels import files
from modic_core.volume import Study, Volume


def test_copies_use_the_fast_compression_level_and_read_back_the_same(tmp_path, monkeypatch):
    calls = []
    write = sitk.WriteImage

    def record(image, path, *args, **kwargs):
        calls.append(kwargs)
        return write(image, path, *args, **kwargs)

    monkeypatch.setattr(sitk, "WriteImage", record)
    rng = np.random.default_rng(0)
    t1 = Volume(rng.random((3, 16, 12), dtype=np.float32), spacing=(3.0, 0.5, 0.5))
    t2 = Volume(rng.random((3, 16, 12), dtype=np.float32), spacing=(3.0, 0.5, 0.5))
    study = Study(t1=t1, t2=t2)
    rel = files.write_copy(study, root=tmp_path, key="k")
    assert [c.get("compressionLevel") for c in calls] == [files.COMPRESSION_LEVEL] * 2 == [1, 1]
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / rel["t1"])))
    assert np.array_equal(back, t1.array)
