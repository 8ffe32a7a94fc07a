// Reading-workstation handling of the case viewer's picture (loaded after viewer.js; uses its globals spec, state,
// schedule, sync, report, preset, panels, $): the wheel pages slices (ctrl/cmd + wheel zooms both panels), keys
// (listed in the "?" overlay), cine, full screen, a linked cross-hair between T1 and T2 and the plot's size (as
// large as the window allows). Everything here acts in the browser; the view still reaches the server through sync().
"use strict";
const CINE_MS = 125;        // ~8 slices per second
const WHEEL_STEP = 50;      // wheel delta (pixels) per slice for small (trackpad) deltas; a mouse notch is one slice
const ZOOM_RATE = 0.0015;   // ctrl+wheel: range factor exp(deltaY * rate)
const MIN_PLOT = 300, MAX_PLOT = 1400;  // plot height bounds (CSS px)
const ws = {cine: null, xref: true, wheel: 0, focus: null, focusSeen: undefined, frameH: 0};
const KEYS = [
  ["Wheel, ↑ / ↓", "previous / next slice"], ["PageUp / PageDown", "5 slices back / on"], ["Home / End", "first / last slice"],
  ["ctrl/cmd + wheel", "zoom both images (drag pans)"], ["1 · 2 · 3 · 4", "window presets, in button order (T1: marrow · disc · full · scanner; T2: marrow · fluid · full · scanner)"], ["0", "default window"], ["m", "probe mode: drag a small box to read its signal"],
  ["b", "boxes on/off"], ["g", "Grad-CAM on/off"], ["n / p", "next / previous level (shows its crops)"],
  ["c", "cine (plays the slices) on/off"], ["x", "cross-reference cursor on/off"], ["f", "full screen on/off"],
  ["r", "reset zoom and window"], ["?", "this list"], ["Esc", "close this list, stop cine"],
];

function gd() { return $("plot"); }

function setSlice(z) {
  // Show slice z (clamped); the view reaches the server once the input rests.
  if (!spec || !state || spec.nz < 1) return;
  const next = Math.min(Math.max(z, 0), spec.nz - 1);
  if (next === state.z) return;
  state.z = next; $("slice").value = String(next + 1);
  schedule(); if (ws.cine === null) sync();
}

function plotHeight() {
  // The plot as tall as its panels' aspect asks, but no taller than what is left of the window below the plot's
  // top (the Streamlit page's window when reachable, this frame's in full screen); never under MIN_PLOT.
  const lay = spec.figure.layout, m = lay.margin, el = gd();
  const xr = lay.xaxis.range, yr = lay.yaxis.range, ratio = lay.yaxis.scaleratio || 1;
  const dom = lay.xaxis.domain || [0, 1];
  const panelW = Math.max((el.clientWidth || document.body.clientWidth) - m.l - m.r, 100) * (dom[1] - dom[0]);
  const want = panelW * Math.abs(yr[0] - yr[1]) / Math.abs(xr[1] - xr[0]) * ratio + m.t + m.b;
  let room = null;
  const top = el.getBoundingClientRect().top + window.scrollY;
  if (document.fullscreenElement) room = window.innerHeight - top - 4;
  else {
    try {  // same origin: the component frame sits in the Streamlit page
      const host = window.frameElement.getBoundingClientRect().top + window.parent.scrollY;
      room = window.parent.innerHeight - host - top - 12;
    } catch (e) { room = null; }
  }
  const h = room === null ? Math.min(want, lay.height || 560) : Math.min(want, room);
  return Math.round(Math.min(Math.max(h, MIN_PLOT), MAX_PLOT));
}

function workstationLayout(layout, z) {
  // Hook of viewer.js figure(): the plot's height and the "T2 does not cover this slice" label.
  layout.height = plotHeight();
  layout.margin.r = Math.max(layout.margin.r, 24);  // room for the right-hand orientation letter
  const t2 = spec.t2, names = panels();
  if (names.length > 1 && t2 && t2.cover && t2.cover[z] === false) {
    layout.annotations = (layout.annotations || []).concat([{
      xref: "x2 domain", yref: "y2 domain", x: 0.5, y: 0.5, text: "T2 does not cover this slice", showarrow: false,
      font: {color: "#FFD54F", size: 15}, bgcolor: "rgba(0,0,0,0.65)", borderpad: 6, name: "t2_uncovered"}]);
  }
}

function workstationCaption(z) {
  // Hook of viewer.js draw(): the slice caption plus which original T2 slice lies here.
  const where = spec.t2 && spec.t2.where ? spec.t2.where[z] : null;
  const gone = spec.t2 && spec.t2.cover && spec.t2.cover[z] === false;
  return spec.captions[z] + (where ? ` · ${where}` : "") + (gone ? " · T2: no data on this slice" : "");
}

function afterDraw() {
  trackZoom();
  // Hook of viewer.js draw(): the frame follows the plot's height; the toolbar's toggles show their state.
  $("cine").setAttribute("aria-pressed", ws.cine !== null ? "true" : "false");
  $("cine").textContent = ws.cine !== null ? "■ Stop" : "▶ Cine";
  $("cine").disabled = spec.nz < 2;
  $("xref").checked = ws.xref;
  $("fullscreen").textContent = document.fullscreenElement ? "Exit full screen" : "Full screen";
  const h = document.body.scrollHeight + 8;
  if (h !== ws.frameH && !document.fullscreenElement) { ws.frameH = h; send("streamlit:setFrameHeight", {height: h}); }
}

// ------------------------------------------------------------------ zoom

function axisAt(e) {
  // The panel under the pointer: {x, y} in image (column, row) coordinates, its axes, or null.
  const fl = gd()._fullLayout;
  if (!fl) return null;
  const rect = gd().getBoundingClientRect(), px = e.clientX - rect.left, py = e.clientY - rect.top;
  for (let c = 0; c < panels().length; c++) {
    const xa = fl[c === 0 ? "xaxis" : `xaxis${c + 1}`], ya = fl[c === 0 ? "yaxis" : `yaxis${c + 1}`];
    if (!xa || !ya) continue;
    if (px >= xa._offset && px <= xa._offset + xa._length && py >= ya._offset && py <= ya._offset + ya._length) {
      return {c: c, x: xa.p2d(px - xa._offset), y: ya.p2d(py - ya._offset), xa: xa, ya: ya};
    }
  }
  return null;
}

function zoomAt(e) {
  // ctrl/cmd + wheel: zoom about the pointer; T2 follows through the matched axes.
  const at = axisAt(e);
  if (!at) return;
  const f = Math.exp(e.deltaY * ZOOM_RATE), xr = at.xa.range, yr = at.ya.range;
  Plotly.relayout(gd(), {
    "xaxis.range": [at.x - (at.x - xr[0]) * f, at.x + (xr[1] - at.x) * f],
    "yaxis.range": [at.y - (at.y - yr[0]) * f, at.y + (yr[1] - at.y) * f],
  });
}

function zoomLayout(layout) {
  // Hook of viewer.js draw(): the zoom/pan the user made is kept across redraws. Plotly keeps GUI edits through
  // uirevision, but a ctrl+wheel zoom is an API relayout, which the next Plotly.react would undo.
  if (!ws.zoom || ws.zoom.revision !== revision) { ws.zoom = null; return; }  // another study: its own view
  layout.xaxis = Object.assign({}, layout.xaxis, {range: ws.zoom.x.slice(), autorange: false});
  layout.yaxis = Object.assign({}, layout.yaxis, {range: ws.zoom.y.slice(), autorange: false});
}

function trackZoom() {
  // Once the plot exists: remember the axes' ranges after every zoom or pan, forget them on a reset.
  const g = gd();
  if (ws.tracking || typeof g.on !== "function") return;
  ws.tracking = true;
  g.on("plotly_relayout", (ev) => {
    if (!ev) return;
    if (ev["xaxis.autorange"] || ev["yaxis.autorange"]) { ws.zoom = null; return; }
    const keys = Object.keys(ev);
    if (!keys.some((k) => k.startsWith("xaxis") || k.startsWith("yaxis"))) return;
    const fl = g._fullLayout;
    ws.zoom = {x: fl.xaxis.range.slice(), y: fl.yaxis.range.slice(), revision: revision};
  });
  g.on("plotly_doubleclick", () => { ws.zoom = null; });
}

function resetView() {
  const lay = spec.figure.layout;
  ws.zoom = null;
  Plotly.relayout(gd(), {"xaxis.range": lay.xaxis.range.slice(), "yaxis.range": lay.yaxis.range.slice()});
  preset("default");
}

function onWheel(e) {
  if (!spec || !state) return;
  if (e.ctrlKey || e.metaKey) { e.preventDefault(); zoomAt(e); return; }
  if (spec.nz < 2) return;  // one slice: the page scrolls as usual
  e.preventDefault();
  const dy = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaY;
  if (Math.abs(dy) >= WHEEL_STEP) { ws.wheel = 0; setSlice(state.z + Math.sign(dy)); return; }
  ws.wheel += dy;
  if (Math.abs(ws.wheel) >= WHEEL_STEP) { setSlice(state.z + Math.sign(ws.wheel)); ws.wheel = 0; }
}

// ------------------------------------------------------------------ cine, levels, full screen, help

function cine(on) {
  if (on === (ws.cine !== null)) return;
  if (on && spec.nz > 1) {
    ws.cine = setInterval(() => { state.z = (state.z + 1) % spec.nz; $("slice").value = String(state.z + 1); schedule(); }, CINE_MS);
  } else if (ws.cine !== null) {
    clearInterval(ws.cine); ws.cine = null; sync();
  }
  schedule();
}

function currentFocus() {
  // The focused level: ours until the server's answer (a new spec.focus) arrives.
  return ws.focus !== null && ws.focusSeen === spec.focus ? ws.focus : spec.focus;
}

function stepLevel(dir) {
  // n / p: focus the next / previous level (top to bottom), as a click on its table row does, and show its slab.
  const rows = spec.table.rows;
  if (!spec.graded || !rows.length) return;
  const names = rows.map((r) => r.level), i = names.indexOf(currentFocus());
  const j = i < 0 ? (dir > 0 ? 0 : names.length - 1) : (i + dir + names.length) % names.length;
  const r = rows[j];
  ws.focusSeen = spec.focus; ws.focus = r.level;
  if (!(r.slices[0] <= state.z && state.z <= r.slices[1])) {
    state.z = Math.round((r.slices[0] + r.slices[1]) / 2); $("slice").value = String(state.z + 1);
  }
  state.focus = r.level; state.focus_n = (state.focus_n || 0) + 1;
  schedule(); clearTimeout(syncTimer); report();  // at once: the server draws the level's crops
}

function fullScreen() {
  if (document.fullscreenElement) document.exitFullscreen();
  else if (document.body.requestFullscreen) document.body.requestFullscreen().catch(() => {});
}

function help(show) {
  const box = $("help");
  box.hidden = show === undefined ? !box.hidden : !show;
}

function buildHelp() {
  $("help_rows").innerHTML = KEYS.map(([k, what]) => `<tr><th>${esc(k)}</th><td>${esc(what)}</td></tr>`).join("");
}

function onKey(e) {
  if (!spec || !state || e.altKey || e.ctrlKey || e.metaKey) return;
  const t = e.target, tag = t && t.tagName;
  const typing = tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["checkbox", "button", "range"].includes(t.type));
  if (typing) return;
  const onRange = tag === "INPUT" && t.type === "range";  // a focused slider keeps its own arrows, Home and End
  const page = Math.max(1, Math.min(5, spec.nz - 1));
  const nav = {ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page};
  let done = true;
  if (e.key in nav && !(onRange && e.key.startsWith("Arrow"))) setSlice(state.z + nav[e.key]);
  else if (e.key === "Home" && !onRange) setSlice(0);
  else if (e.key === "End" && !onRange) setSlice(spec.nz - 1);
  else if (["1", "2", "3", "4"].includes(e.key)) applyPreset(parseInt(e.key, 10) - 1);  // wl.js
  else if (e.key === "0") preset("default");
  else if (e.key === "b") $("boxes").click();
  else if (e.key === "g") { if (!$("cam").disabled) $("cam").click(); }
  else if (e.key === "n") stepLevel(1);
  else if (e.key === "p") stepLevel(-1);
  else if (e.key === "c") cine(ws.cine === null);
  else if (e.key === "x") { ws.xref = !ws.xref; crossHair(null); schedule(); }
  else if (e.key === "f") fullScreen();
  else if (e.key === "r") resetView();
  else if (e.key === "?") help();
  else if (e.key === "Escape") { help(false); cine(false); }
  else done = false;
  if (done) e.preventDefault();
}

// ------------------------------------------------------------------ linked cursor

function crossHair(e) {
  // Hovering one panel draws a cross-hair at the same (column, row) on the other: T2 is on the T1 grid, so the
  // same image coordinates are the same patient position.
  const v = $("xref_v"), h = $("xref_h");
  const at = e && ws.xref && panels().length > 1 ? axisAt(e) : null;
  if (!at) { v.hidden = true; h.hidden = true; return; }
  const fl = gd()._fullLayout, o = 1 - at.c;
  const xa = fl[o === 0 ? "xaxis" : `xaxis${o + 1}`], ya = fl[o === 0 ? "yaxis" : `yaxis${o + 1}`];
  const rect = gd().getBoundingClientRect(), left = rect.left + window.scrollX, top = rect.top + window.scrollY;
  const px = xa._offset + xa.d2p(at.x), py = ya._offset + ya.d2p(at.y);
  Object.assign(v.style, {left: `${left + px}px`, top: `${top + ya._offset}px`, height: `${ya._length}px`});
  Object.assign(h.style, {left: `${left + xa._offset}px`, top: `${top + py}px`, width: `${xa._length}px`});
  v.hidden = px < xa._offset || px > xa._offset + xa._length;
  h.hidden = py < ya._offset || py > ya._offset + ya._length;
  v.dataset.panel = h.dataset.panel = panels()[o];
  v.dataset.x = String(at.x); h.dataset.y = String(at.y);
}

function keyHint() {
  $("key_hint").textContent = document.hasFocus() ? "Keys on (?: list)" : "Click the picture for keys";
}

function workstation() {
  const plot = gd();
  plot.addEventListener("wheel", onWheel, {passive: false, capture: true});
  plot.addEventListener("pointerdown", () => { window.focus(); keyHint(); }, true);
  plot.addEventListener("mousemove", crossHair);
  plot.addEventListener("mouseleave", () => crossHair(null));
  document.addEventListener("keydown", onKey);
  window.addEventListener("focus", keyHint); window.addEventListener("blur", keyHint);
  document.addEventListener("fullscreenchange", () => { ws.frameH = 0; schedule(); });
  window.addEventListener("resize", () => { if (spec) schedule(); });
  $("cine").onclick = () => cine(ws.cine === null);
  $("xref").onchange = (e) => { ws.xref = e.target.checked; crossHair(null); };
  $("fullscreen").onclick = fullScreen;
  $("help_btn").onclick = () => help();
  $("help_close").onclick = () => help(false);
  buildHelp(); keyHint();
}

workstation();
