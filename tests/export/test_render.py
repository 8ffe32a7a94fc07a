"""Slice-viewer helpers: window/level, compositing, boxes, crops, figures."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.analysis.report import LevelResult
from modic_core.export.render import (
    Window,
    box_label,
    box_on_slice,
    compose_rgb,
    crop,
    crop_bounds,
    crop_figure,
    default_slice,
    slice_figure,
    slice_heatmap,
    slice_positions_mm,
    to_display,
    window_defaults,
    window_slider_range,
)


def level(name="L4-L5", pred="MC2", box=(10, 20, 30, 28), z=(2, 4), heat=None):
    probs = {"MC0": 0.1, "MC1": 0.2, "MC2": 0.7}
    return LevelResult(name, box, 0.9, probs, pred, z, heat)


def test_window_defaults_ignore_background_and_outliers():
    rng = np.random.default_rng(0)
    img = np.zeros((3, 64, 64), np.float32)
    img[:, 16:48, 16:48] = rng.normal(500, 50, (3, 32, 32))
    img[0, 20, 20] = 1e6  # one hot pixel
    w = window_defaults(img)
    assert 300 < w.low < 450 and 550 < w.high < 700
    assert w.width == pytest.approx(w.high - w.low) and w.level == pytest.approx((w.high + w.low) / 2)


def test_window_defaults_degenerate():
    assert window_defaults(np.full((1, 8, 8), 7.0)).width == pytest.approx(1.0)
    w = Window.from_level_width(100, 50)
    assert (w.low, w.high) == (75, 125)


def test_window_slider_range_covers_data():
    arr = np.linspace(-3.2, 1200.7, 1000).reshape(1, 10, 100)
    lo, hi, step = window_slider_range(arr)
    assert lo <= -3.2 and hi >= 1200.7 and 0 < step <= 10


def test_to_display_maps_window_to_0_255():
    img = np.array([[0.0, 50.0, 100.0, np.nan]])
    out = to_display(img, Window(0, 100))
    assert out.dtype == np.uint8 and list(out[0]) == [0, 127, 255, 0]


def test_compose_rgb_transparent_where_heat_is_zero():
    grey = np.full((4, 4), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    rgb = compose_rgb(grey, heat, opacity=0.6)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[1:, 1:] == 100).all()
    assert not (rgb[0, 0] == 100).all()
    assert (compose_rgb(grey, heat, opacity=0.0) == 100).all()
    with pytest.raises(ValueError):
        compose_rgb(grey, np.zeros((3, 3)), 0.5)


def test_slice_heatmap_max_over_levels_and_shape_checks():
    h1 = np.zeros((5, 8, 8), np.float32)
    h1[2, 1, 1] = 0.5
    h2 = np.zeros((5, 8, 8), np.float32)
    h2[2, 1, 1] = 0.8
    h2[3, 0, 0] = 1.0
    levels = [level(heat=h1), level(heat=h2), level(heat=None), level(heat=np.zeros((5, 4, 4)))]
    out = slice_heatmap(levels, 2, (8, 8))
    assert out[1, 1] == pytest.approx(0.8) and out.sum() == pytest.approx(0.8)
    assert slice_heatmap([level()], 0, (8, 8)) is None
    assert slice_heatmap(levels, 9, (8, 8)) is None


def test_labels_and_slabs():
    lv = level()
    assert box_label(lv) == "L4-L5 · MC2 0.70"
    assert box_on_slice(lv, 3) and not box_on_slice(lv, 5)
    assert default_slice(1, [lv]) == 0
    assert default_slice(15, []) == 7
    assert default_slice(15, [lv, level(z=(4, 6))]) == 4


def test_crop_bounds_square_margin_and_clipping():
    b = crop_bounds((40, 40, 60, 50), (100, 100), margin=0.5)
    ya, yb, xa, xb = b
    assert xa < 40 and xb > 60 and ya < 40 and yb > 50
    assert (yb - ya) == pytest.approx(xb - xa, abs=2)
    assert crop_bounds((0, 0, 10, 10), (50, 50))[0] == 0
    assert crop_bounds((90, 90, 100, 100), (100, 100))[1] == 100
    assert crop(np.arange(100).reshape(10, 10), (2, 4, 3, 6)).shape == (2, 3)


def test_slice_positions_follow_slice_normal():
    from modic_core import Volume
    from modic_core.datasets.synthetic import PIR_DIRECTION

    v = Volume(np.zeros((5, 16, 16), np.float32), (4.0, 1.0, 1.0), direction=PIR_DIRECTION)
    assert list(slice_positions_mm(v)) == [-8.0, -4.0, 0.0, 4.0, 8.0]


def test_slice_figure_boxes_labels_and_colours():
    rgb = np.zeros((40, 50, 3), np.uint8)
    levels = [level("L4-L5", "MC2"), level("L5-S1", "MC0", box=(5, 30, 20, 36), z=(0, 0))]
    fig = slice_figure(rgb, levels, z=3, title="T1", highlight="L4-L5")
    assert len(fig.layout.shapes) == 2 and len(fig.layout.annotations) == 2
    s1, s2 = fig.layout.shapes
    assert s1.line.color == "#FF2E88" and s1.line.width == 4 and s1.line.dash == "solid"
    assert s2.line.color == "#00B4D8" and s2.line.dash == "dot"  # slab 0..0 does not hold slice 3
    assert s1.x0 == pytest.approx(9.5)  # pixel-edge box drawn on pixel centres
    assert fig.layout.annotations[0].text == "L4-L5 · MC2 0.70"
    assert fig.data[0].source.startswith("data:image/png;base64,")
    assert len(slice_figure(rgb, levels, show_boxes=False).layout.shapes) == 0
    assert len(crop_figure(rgb, box_in_crop=(1, 1, 5, 5)).layout.shapes) == 1


# --------------------------------------------------------------------------- the case viewer's figures


def test_orientation_letters_follow_the_direction_matrix():
    from modic_core.export.render import orientation_letters

    # usual sagittal DICOM: columns run anterior -> posterior, rows superior -> inferior
    sag = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    assert orientation_letters(sag) == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    flipped = sag.copy()
    flipped[:, 0] *= -1  # columns posterior -> anterior
    assert orientation_letters(flipped)["left"] == "P" and orientation_letters(flipped)["right"] == "A"


def test_slice_lr_label_uses_patient_x():
    from modic_core.export.render import slice_lr_label
    from modic_core.volume import Volume

    sag = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    vol = Volume(np.zeros((5, 4, 4), np.float32), (3.0, 1.0, 1.0), (6.0, 0.0, 0.0), sag)
    # slice normal is -x (towards the patient's right): slice 0 at x = +6 mm (left), slice 4 at -6 mm (right)
    assert slice_lr_label(vol, 0) == "6.0 mm L"
    assert slice_lr_label(vol, 4) == "6.0 mm R"


def test_window_presets_never_zero_width_and_differ():
    from modic_core.export.render import window_presets

    rng = np.random.default_rng(1)
    img = np.zeros((2, 64, 64), np.float32)
    img[:, 8:56, 8:56] = rng.gamma(2.0, 200.0, (2, 48, 48))
    p = window_presets(img, series="T1")
    assert list(p) == ["default", "Marrow", "Disc", "full"]  # button order; no scanner window given
    assert p["full"].low == pytest.approx(img.min()) and p["full"].high == pytest.approx(img.max())
    assert p["Marrow"].low > p["default"].low and p["Disc"].high < p["default"].high
    assert all(w.width > 0 for w in window_presets(np.full((1, 8, 8), 3.0), series="T2").values())


def test_heat_png_alpha_is_the_map():
    import base64
    import io as _io

    from PIL import Image

    from modic_core.export.render import heat_png

    heat = np.zeros((4, 6), np.float32)
    heat[1, 2] = 1.0
    heat[2, 3] = 0.5
    uri = heat_png(heat)
    img = np.asarray(Image.open(_io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert img.shape == (4, 6, 4)
    assert img[0, 0, 3] == 0 and img[1, 2, 3] == 255 and abs(int(img[2, 3, 3]) - 128) <= 1


def test_viewer_figure_links_both_panels_and_keeps_tags_off_the_image():
    from modic_core.export.render import grey_png, viewer_figure

    g = grey_png(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), Window(0, 4096))
    lv = level()
    fig = viewer_figure(t1=g, t2=g, heat=g, shape_yx=(64, 64), levels=[lv], z=3, opacity=0.3,
                        letters={"left": "A", "right": "P", "top": "S", "bottom": "I"}).to_dict()
    lay = fig["layout"]
    assert lay["xaxis2"]["matches"] == "x" and lay["yaxis2"]["matches"] == "y"
    heat = [t for t in fig["data"] if t.get("name") == "Grad-CAM"]
    assert len(heat) == 2 and all(t["opacity"] == 0.3 for t in heat)  # opacity is a number, not a new image
    tags = [a for a in lay["annotations"] if a.get("bgcolor")]
    assert [a["text"] for a in tags] == ["L4-L5 MC2 0.70"]
    assert tags[0]["xref"] == "x domain" and tags[0]["x"] == 0 and tags[0]["xanchor"] == "right"  # left of the image
    assert any(t.get("marker", {}).get("showscale") for t in fig["data"])  # the colour bar
    one = viewer_figure(t1=g, t2=None, shape_yx=(64, 64), levels=[lv]).to_dict()
    assert "xaxis2" not in one["layout"] and len(one["data"]) == 1


def test_named_presets_follow_the_stated_percentiles_and_the_scanner_window():
    from modic_core.export.render import window_defaults, window_preset_help, window_presets

    rng = np.random.default_rng(2)
    img = np.zeros((2, 32, 32), np.float32)
    img[:, 4:28, 4:28] = rng.uniform(100.0, 1100.0, (2, 24, 24))  # the body: uniform 100..1100
    t2 = window_presets(img, series="T2", scanner=(600.0, 400.0))
    assert list(t2) == ["default", "Marrow", "Fluid / CSF", "full", "Scanner window"]
    assert t2["Fluid / CSF"].low == pytest.approx(150.0, abs=15) and t2["Fluid / CSF"].high == pytest.approx(1099.0, abs=15)
    assert t2["Marrow"] == window_defaults(img, low_pct=2.0, high_pct=95.0)
    assert (t2["Scanner window"].low, t2["Scanner window"].high) == (400.0, 800.0)
    assert "Scanner window" not in window_presets(img, series="T2", scanner=(600.0, 0.0))
    assert "Scanner window" not in window_presets(img, series="T1", scanner=None)
    helps = window_preset_help("T1")
    assert "percentiles 20-99.5" in helps["Marrow"] and "percentiles 2-90" in helps["Disc"]
    assert set(helps) >= {"Marrow", "Disc", "full", "Scanner window"}


def test_orientation_letters_sit_outside_the_images():
    """Issue 26: the letters overlapped the top and bottom boxes; they now sit in the margins around each image."""
    from modic_core.export.render import grey_png, viewer_figure

    g = grey_png(np.zeros((64, 64), dtype=np.float32), Window(0, 1))
    fig = viewer_figure(t1=g, t2=g, shape_yx=(64, 64), levels=[level()],
                        letters={"left": "A", "right": "P", "top": "S", "bottom": "I"}).to_dict()
    letters = [a for a in fig["layout"]["annotations"] if a.get("text") in ("<b>A</b>", "<b>P</b>", "<b>S</b>", "<b>I</b>")]
    assert len(letters) == 8
    for a in letters:
        outside = ((a["x"] == 0 and a["xanchor"] == "right") or (a["x"] == 1 and a["xanchor"] == "left")
                   or (a["y"] == 1 and a["yanchor"] == "bottom") or (a["y"] == 0 and a["yanchor"] == "top"))
        assert outside, a
    assert fig["layout"]["margin"]["b"] >= 20  # room for the bottom letter below the image
