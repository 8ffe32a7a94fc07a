"""Which original T2 slice lies at each T1 slice, and where the resampled T2 has no data."""
from __future__ import annotations

import numpy as np

from modic_core.pairing.slice_map import T2SliceInfo, t2_coverage, t2_slice_map
from modic_core.volume import Volume

SAG = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: +x along P, +y along I, slices along L


def _vol(nz: int, dz: float, x0: float, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    return Volume(rng.random((nz, 8, 8)).astype(np.float32), (dz, 1.0, 1.0), (x0, 0.0, 0.0), SAG.copy())


def test_t2_with_fewer_thicker_slices_names_the_nearest_one_and_the_slab_edges():
    t1 = _vol(12, 1.0, -5.5)              # slice centres at x = -5.5 ... +5.5 mm
    t2 = _vol(4, 2.0, -3.0, seed=1)       # slice centres at x = -3, -1, 1, 3 mm: slab -4 ... +4 mm
    infos = t2_slice_map(t1, t2)
    assert len(infos) == 12 and all(isinstance(i, T2SliceInfo) and i.count == 4 for i in infos)
    assert [i.index for i in infos] == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    assert [i.inside for i in infos] == [False, False, True, True, True, True, True, True, True, True, False, False]
    assert infos[5].distance_mm == 0.5  # x = -0.5 mm is 0.5 mm from the T2 slice at -1 mm
    assert infos[5].sentence("1.0 mm R") == "nearest original T2 slice 2 of 4 (1.0 mm R), 0.5 mm away"
    assert infos[0].sentence("3.0 mm R").startswith("outside the T2 slab (nearest: T2 slice 1 of 4")


def test_same_grid_says_the_t2_slice_lies_here():
    t1 = _vol(5, 3.0, -6.0)
    infos = t2_slice_map(t1, _vol(5, 3.0, -6.0, seed=2))
    assert [i.index for i in infos] == [0, 1, 2, 3, 4] and all(i.inside and i.distance_mm == 0 for i in infos)
    assert infos[2].sentence("0.0 mm L/R (x = 0)") == "T2 slice 3 of 5 (0.0 mm L/R (x = 0)) lies here"


def test_coverage_is_false_on_all_zero_or_nan_slices():
    a = np.random.default_rng(3).random((4, 6, 6)).astype(np.float32) + 0.1
    a[0] = 0.0
    a[3] = np.nan
    a[2, :3] = 0.0  # partly covered still counts
    assert t2_coverage(a) == [False, True, True, False]
