// The ROI signal probe of the case viewer's picture (issue 26 item 4), beside viewer.js (same globals: spec, state,
// $, panels, schedule, report, syncTimer). "Probe (m)" in the toolbar (or the key m) turns Probe mode on: a drag on
// either panel draws a rectangle, reported at once as state.roi = {z, x0, y0, x1, y1, n} (slice 0-based; T1
// pixel-edge coordinates, pixel i spans [i, i+1); n counts the rectangles). The server reads it
// (modic_core/ui/probe.py probe_roi) and sends spec.roi = {n, label, line, ...}; the label is drawn by the
// rectangle and the line under the picture. viewer.js calls probeLayout(layout) before each draw.
"use strict";
let probeDrag = null;  // {panel, x0, y0, x1, y1} while the pointer is down in Probe mode

function probeAt(e) {
  // {panel, x, y} of a pointer event in pixel-edge coordinates of the panel under it, or null.
  const gd = $("plot"), fl = gd._fullLayout;
  if (!fl || !spec) return null;
  const rect = gd.getBoundingClientRect(), px = e.clientX - rect.left, py = e.clientY - rect.top;
  for (let c = 0; c < panels().length; c++) {
    const xa = fl[c === 0 ? "xaxis" : `xaxis${c + 1}`], ya = fl[c === 0 ? "yaxis" : `yaxis${c + 1}`];
    if (!xa || !ya) continue;
    if (px >= xa._offset && px <= xa._offset + xa._length && py >= ya._offset && py <= ya._offset + ya._length) {
      return {panel: c, x: xa.p2d(px - xa._offset) + 0.5, y: ya.p2d(py - ya._offset) + 0.5};  // plotly centres pixel i on i
    }
  }
  return null;
}

function setProbe(on) {
  // Probe mode on or off; it and "Drag to window" exclude each other. Off clears the rectangle.
  state.probe = !!on;
  $("probe").checked = state.probe;
  if (state.probe) { state.drag = false; $("drag").checked = false; }
  else if (state.roi) { state.roi = null; clearTimeout(syncTimer); report(); }
  schedule();
}

function toggleProbe() { if (state) setProbe(!state.probe); }

function probeLayout(layout) {
  // The rectangle (being drawn, or the last one on this slice) on every panel, with the server's label.
  if (!state) return;
  if ($("probe")) $("probe").checked = !!state.probe;
  if (state.probe) layout.dragmode = false;
  const r = probeDrag || (state.roi && state.roi.z === state.z ? state.roi : null);
  if (!r) return;
  const got = !probeDrag && spec.roi && state.roi && spec.roi.n === state.roi.n ? spec.roi : null;
  layout.shapes = layout.shapes || [];
  layout.annotations = layout.annotations || [];
  panels().forEach((_, c) => {
    const xref = c === 0 ? "x" : `x${c + 1}`, yref = c === 0 ? "y" : `y${c + 1}`;
    const x0 = Math.min(r.x0, r.x1) - 0.5, x1 = Math.max(r.x0, r.x1) - 0.5;
    const y0 = Math.min(r.y0, r.y1) - 0.5, y1 = Math.max(r.y0, r.y1) - 0.5;
    layout.shapes.push({type: "rect", xref: xref, yref: yref, x0: x0, x1: x1, y0: y0, y1: y1, name: "probe",
                        line: {color: "#00e5ff", width: 2}, fillcolor: "rgba(0,0,0,0)", layer: "above"});
    if (got) {
      layout.annotations.push({xref: xref, yref: yref, x: x1, y: y0, xanchor: "left", yanchor: "bottom", showarrow: false,
                               text: got.label, font: {color: "#00e5ff", size: 12}, bgcolor: "rgba(0,0,0,0.6)", name: "probe"});
    }
  });
  const line = $("probe_line");
  if (line) line.textContent = got ? got.line : (probeDrag || !state.roi ? "" : "Reading the rectangle…");
}

function probeControls() {
  // The toolbar toggle, the key m and the pointer handlers (added once, beside viewer.js' controls()).
  const box = document.createElement("label");
  box.title = "Probe (key m): drag a small rectangle on either image to read its mean T1 and T2 signal against the " +
    "same vertebra's central marrow (the nearest level's centre band), as ratios and in the method's units";
  box.innerHTML = '<input type="checkbox" id="probe" aria-label="Probe (m)"> Probe (m)';
  $("drag").closest(".ctl").appendChild(box);
  $("probe").onchange = (e) => setProbe(e.target.checked);
  $("drag").addEventListener("change", (e) => { if (e.target.checked && state && state.probe) setProbe(false); });
  const line = document.createElement("div");
  line.className = "cap"; line.id = "probe_line";
  $("plot").after(line);
  document.addEventListener("keydown", (e) => {
    const t = e.target && e.target.tagName;
    if (e.key === "m" && !e.ctrlKey && !e.metaKey && !e.altKey && t !== "INPUT" && t !== "TEXTAREA") { toggleProbe(); e.preventDefault(); }
  });
  $("plot").addEventListener("pointerdown", (e) => {
    if (!state || !state.probe) return;
    const at = probeAt(e);
    if (!at) return;
    probeDrag = {panel: at.panel, x0: at.x, y0: at.y, x1: at.x, y1: at.y};
    e.preventDefault(); e.stopPropagation();
  }, true);
  window.addEventListener("pointermove", (e) => {
    if (!probeDrag) return;
    const at = probeAt(e);
    if (at && at.panel === probeDrag.panel) { probeDrag.x1 = at.x; probeDrag.y1 = at.y; schedule(); }
  });
  window.addEventListener("pointerup", () => {
    if (!probeDrag) return;
    const r = probeDrag;
    probeDrag = null;
    if (Math.abs(r.x1 - r.x0) >= 1 && Math.abs(r.y1 - r.y0) >= 1) {
      state.roi = {z: state.z, x0: Math.min(r.x0, r.x1), y0: Math.min(r.y0, r.y1), x1: Math.max(r.x0, r.x1),
                   y1: Math.max(r.y0, r.y1), n: ((state.roi && state.roi.n) || state.roi_n || 0) + 1};
      state.roi_n = state.roi.n;
      clearTimeout(syncTimer); report();  // at once: the server reads the rectangle
    }
    schedule();
  });
}

window.addEventListener("DOMContentLoaded", probeControls);  // viewer.js (loaded after this file) has run by then
