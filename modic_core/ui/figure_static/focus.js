// The focused level's crops (T1, T2 and Grad-CAM over T1), drawn here from what this page already holds: the
// series' 16-bit codes through the current window and the level's Grad-CAM patches. A click on a table row shows
// them at once (no server round trip for the pictures); the server then only adds the level's sentence.
// Called from viewer.js's draw(); reads its globals (spec, state, held, $, send, onSlice). Sets state.crops so the
// server knows this page draws the crops (modic_core/ui/viewer.py then draws none).
"use strict";
const FOCUS_PX = 240;              // displayed size of a crop's longer side, CSS pixels
const FOCUS_HEAT_OPACITY = 0.6;    // as the server's crops (modic_core/export/render.py focus_figure)
const focusImages = new Map();     // Grad-CAM patch URI -> loaded Image

function focusBounds(box, ny, nx) {
  // [y0, y1, x0, x1]: crop_bounds(box, (ny, nx), margin=0.8, min_size=40) of modic_core/export/render.py.
  const [x0, y0, x1, y1] = box, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const half = Math.max(Math.max(x1 - x0, y1 - y0, 1) * 2.6, 40) / 2;
  let ya = Math.max(Math.floor(cy - half), 0), yb = Math.min(Math.ceil(cy + half), ny);
  let xa = Math.max(Math.floor(cx - half), 0), xb = Math.min(Math.ceil(cx + half), nx);
  if (yb <= ya) { ya = 0; yb = ny; }
  if (xb <= xa) { xa = 0; xb = nx; }
  return [ya, yb, xa, xb];
}

function focusSlice(lv) {
  // The current slice when the level's slab holds it, else the slab's middle (Python's round: halves to even).
  if (onSlice(lv, state.z)) return state.z;
  const m = (lv.z0 + lv.z1) / 2, f = Math.floor(m);
  return m - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(m);
}

function focusGrey(ctx, name, z, b, k) {
  // The series' crop b at slice z through its current window, scaled by k; false when the series is not held yet.
  const s = spec.series[name] && held.get(spec.series[name].key), win = state.win[name];
  if (!s || !win) return false;
  const st = s.stride || 1, [ya, yb, xa, xb] = b;
  const ra = Math.floor(ya / st), rb = Math.min(Math.ceil(yb / st), s.ny);
  const ca = Math.floor(xa / st), cb = Math.min(Math.ceil(xb / st), s.nx);
  const w = cb - ca, h = rb - ra;
  if (w <= 0 || h <= 0) return false;
  const lo = (win[0] - s.offset) / s.scale, g = 255 / Math.max((win[1] - s.offset) / s.scale - lo, 1e-6);
  const tmp = document.createElement("canvas");
  tmp.width = w; tmp.height = h;
  const img = tmp.getContext("2d").createImageData(w, h), px = img.data, base = z * s.ny * s.nx;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const v = Math.min(255, Math.max(0, (s.codes[base + (ra + r) * s.nx + ca + c] - lo) * g)), j = 4 * (r * w + c);
      px[j] = v; px[j + 1] = v; px[j + 2] = v; px[j + 3] = 255;
    }
  }
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.drawImage(tmp, (ca * st - xa) * k, (ra * st - ya) * k, w * st * k, h * st * k);
  return true;
}

function focusHeat(ctx, patches, z, b, k) {
  // The level's Grad-CAM patches of slice z over the crop; a patch not loaded yet redraws the crops when it is.
  const [ya, , xa] = b;
  ctx.globalAlpha = FOCUS_HEAT_OPACITY;
  for (const p of patches || []) {
    if (p.z !== z) continue;
    let im = focusImages.get(p.uri);
    if (!im) { im = new Image(); im.onload = () => drawFocus(); im.src = p.uri; focusImages.set(p.uri, im); }
    if (im.complete && im.naturalWidth) ctx.drawImage(im, (p.x + 0.5 - xa) * k, (p.y + 0.5 - ya) * k, p.w * k, p.h * k);
  }
  ctx.globalAlpha = 1;
}

function drawFocus() {
  state.crops = true;
  let box = $("focus_crops");
  if (!box) {
    box = document.createElement("div");
    box.id = "focus_crops";
    box.style.cssText = "display:flex;gap:10px;flex-wrap:wrap;margin-top:8px";
    $("levels").after(box);
  }
  const i = spec.levels.findIndex((lv) => lv.level === spec.focus), lv = spec.levels[i];
  const row = (spec.table.rows || []).find((r) => r.level === spec.focus);
  const t1 = spec.series.T1 && held.get(spec.series.T1.key);
  if (!spec.graded || !lv || !lv.box || !row || !t1) {
    if (box.innerHTML) { box.innerHTML = ""; send("streamlit:setFrameHeight", {height: document.body.scrollHeight + 8}); }
    return;
  }
  const nx = t1.nx * (t1.stride || 1), ny = t1.ny * (t1.stride || 1);
  const xr = spec.figure.layout.xaxis && spec.figure.layout.xaxis.range, yr = spec.figure.layout.yaxis && spec.figure.layout.yaxis.range;
  const b = focusBounds(lv.box, yr ? Math.round(yr[0] + 0.5) : ny, xr ? Math.round(xr[1] + 0.5) : nx);
  const z = focusSlice(lv), k = FOCUS_PX / Math.max(b[1] - b[0], b[3] - b[2]);
  const panes = [["T1", `T1 · ${lv.level}`, false]].concat(spec.series.T2 ? [["T2", `T2 · ${lv.level}`, false]] : [])
    .concat([["T1", `Grad-CAM (${row.prediction}) on T1`, true]]);
  box.innerHTML = panes.map((p, j) => `<figure style="margin:0"><figcaption class="cap">${esc(p[1])}</figcaption>` +
    `<canvas data-pane="${j}" aria-label="${esc(p[1])} crop"></canvas></figure>`).join("") +
    `<div class="cap" style="flex-basis:100%">${esc(lv.level)}: crops of slice ${z + 1}` +
    (z !== state.z ? " (the slab's middle; this slice is outside it)" : "") + "</div>";
  panes.forEach((p, j) => {
    const cv = box.querySelector(`canvas[data-pane="${j}"]`);
    cv.width = Math.round((b[3] - b[2]) * k); cv.height = Math.round((b[1] - b[0]) * k);
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    focusGrey(ctx, p[0], z, b, k);
    if (p[2]) focusHeat(ctx, spec.heat && spec.heat[i], z, b, k);
    ctx.strokeStyle = row.color || "#ffd400"; ctx.lineWidth = 2;
    ctx.strokeRect((lv.box[0] - b[2]) * k, (lv.box[1] - b[0]) * k, (lv.box[2] - lv.box[0]) * k, (lv.box[3] - lv.box[1]) * k);
  });
  send("streamlit:setFrameHeight", {height: document.body.scrollHeight + 8});
}
