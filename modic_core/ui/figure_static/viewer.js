// Streamlit components v1 protocol by hand (no npm bundle): ready -> render(args) -> setComponentValue.
// The server sends each series once per study as 16-bit codes (zlib, base64; value = offset + code * scale,
// modic_core/export/display.py) and each level's Grad-CAM as small patches. Slice, window/level, boxes,
// Grad-CAM and opacity are drawn here; the view goes back to the server once the input rests.
"use strict";
const send = (type, data) => window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
const $ = (id) => document.getElementById(id);
const KEEP = 4;          // series kept per browser tab (two studies)
const KEEP_SLICES = 96;  // rendered slices kept (series x window x slice)
let spec = null, state = null, revision = null, syncTimer = null, frame = null;
const held = new Map();      // series key -> {codes: Uint16Array, nz, ny, nx, stride, offset, scale}
const pending = new Map();   // series key -> Promise while decoding
const rendered = new Map();  // "key|z|lo|hi" -> data URI
const canvas = document.createElement("canvas");

function onSlice(lv, z) { return lv.z0 <= z && z <= lv.z1; }
function panels() { return Object.keys(spec.series); }  // "T1" (and "T2"), in panel order

async function decode(payload) {
  const bin = Uint8Array.from(atob(payload.data), (c) => c.charCodeAt(0));
  const stream = new Blob([bin]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buf = await new Response(stream).arrayBuffer();
  const [nz, ny, nx] = payload.shape;
  return {codes: new Uint16Array(buf), nz: nz, ny: ny, nx: nx, stride: payload.stride, offset: payload.offset,
          scale: payload.scale};
}

function keep(key, payload) {
  // Hold a series (decoding it if it came with this render); true when it is new here (the server should hear of it).
  if (held.has(key)) { const s = held.get(key); held.delete(key); held.set(key, s); return false; }
  if (!payload || pending.has(key)) return false;
  pending.set(key, decode(payload).then((s) => {
    pending.delete(key); held.set(key, s);
    while (held.size > KEEP) held.delete(held.keys().next().value);
    schedule(); report();
  }));
  return true;
}

function sliceUri(name, z) {
  // The slice through the series' current window, as a PNG data URI (cached per series, slice and window).
  const key = spec.series[name].key, s = held.get(key), win = state.win[name];
  if (!s || !win) return null;
  const id = `${key}|${z}|${win[0]}|${win[1]}`;
  if (rendered.has(id)) return rendered.get(id);
  const lo = (win[0] - s.offset) / s.scale, hi = (win[1] - s.offset) / s.scale, k = 255 / Math.max(hi - lo, 1e-6);
  const lut = new Uint8ClampedArray(65536);
  for (let c = 0; c < 65536; c++) lut[c] = (c - lo) * k;
  canvas.width = s.nx; canvas.height = s.ny;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(s.nx, s.ny), px = img.data;
  const n = s.nx * s.ny, base = z * n;
  for (let i = 0; i < n; i++) { const v = lut[s.codes[base + i]], j = 4 * i; px[j] = v; px[j + 1] = v; px[j + 2] = v; px[j + 3] = 255; }
  ctx.putImageData(img, 0, 0);
  const uri = canvas.toDataURL("image/png");
  rendered.set(id, uri);
  while (rendered.size > KEEP_SLICES) rendered.delete(rendered.keys().next().value);
  return uri;
}

function figure() {
  // A deep copy of the server's figure with this slice's images and the picture controls applied. Plotly writes
  // the user's zoom into the layout objects it is given; had those been the spec's own, the next spec's axis ranges
  // would look like an app change and plotly would drop the zoom despite uirevision.
  const z = state.z, fig = structuredClone(spec.figure), n = spec.levels.length, names = panels();
  const showHeat = spec.graded && state.cam && state.opacity > 0;
  let panel = 0;
  fig.data = fig.data.filter((t) => !(t.type === "image" && t.name === "Grad-CAM"));  // drawn per level (layout images)
  for (const c of fig.data) {
    if (c.type === "image") {  // the grey images
      const name = names[panel]; panel += 1;
      const s = held.get(spec.series[name].key);
      const uri = sliceUri(name, z);
      if (uri) c.source = uri; else c.visible = false;  // not decoded yet: an empty image would break plotly
      if (s && s.stride > 1) { c.dx = s.stride; c.dy = s.stride; c.x0 = (s.stride - 1) / 2; c.y0 = (s.stride - 1) / 2; }
    } else if (c.type === "scatter") {  // the Grad-CAM colour bar
      c.visible = showHeat && n > 0;
    }
  }
  const layout = fig.layout;
  for (const [i, s] of (layout.shapes || []).entries()) {
    s.visible = state.boxes; s.line.dash = onSlice(spec.levels[i % n], z) ? "solid" : "dot";
  }
  const notes = layout.annotations || [], first = notes.length - (spec.tags ? n : 0);
  notes.forEach((a, i) => {
    if (i >= first) { a.visible = state.boxes; a.opacity = onSlice(spec.levels[i - first], z) ? 1.0 : 0.55; }
  });
  const images = [];
  if (showHeat && spec.heat) {
    names.forEach((_, c) => {
      const xref = c === 0 ? "x" : `x${c + 1}`, yref = c === 0 ? "y" : `y${c + 1}`;
      for (const patches of spec.heat) for (const p of patches) {
        if (p.z !== z) continue;
        images.push({source: p.uri, xref: xref, yref: yref, x: p.x, y: p.y, sizex: p.w, sizey: p.h, xanchor: "left",
                     yanchor: "top", sizing: "stretch", opacity: state.opacity, layer: "above"});
      }
    });
  }
  layout.images = images;
  if (!showHeat) layout.margin.r = 10;
  if (state.drag) layout.dragmode = false;
  if (typeof workstationLayout === "function") workstationLayout(layout, z);  // workstation.js: size, T2 coverage
  return [fig.data, layout];
}

function esc(t) { return String(t).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

function cell(col, r) {
  const v = r[col];
  if (col === "level") return `<span class="chip" style="background:${esc(r.color)}">${esc(v)}</span>`;
  if (col.startsWith("P(")) {
    if (v === null || v === undefined) return "—";
    return `<span class="bar"><span style="width:${(100 * v).toFixed(0)}%"></span></span> ${v.toFixed(2)}`;
  }
  if (col === "confidence") return v === null ? "—" : v.toFixed(3);  // 3 decimals: 0.998 is hidden at threshold 1.00
  if (col === "uncertain") return v ? "<b>uncertain</b>" : "";
  return esc(v === null || v === undefined ? "—" : v);
}

const HEAD = {level: "Level", confidence: "Detector confidence", prediction: "Prediction", uncertain: "Uncertain",
              "grade set": "Grade set", "true grade": "True grade", "call meaning": "Call meaning (CV)"};
const HELP = {uncertain: "uncertain_help", "grade set": "set_help", "call meaning": "meaning_help", "T1 endplate/centre": "probe_help", "T2 endplate/centre": "probe_help"};

function levelTable() {
  // Every level, top to bottom; a click focuses one (the server shows its crops).
  const t = spec.table;
  if (!t.rows.length) return "<i>No level at this threshold.</i>";
  const cols = t.columns;
  const head = cols.map((c) => `<th${HELP[c] && spec[HELP[c]] ? ` title="${esc(spec[HELP[c]])}"` : ""}>${esc(HEAD[c] || c)}</th>`).join("") +
    "<th>Slices</th>";
  const body = t.rows.map((r) => {
    const here = r.slices[0] <= state.z && state.z <= r.slices[1];
    const where = here ? "on this slice" : `${r.slices[0] + 1}–${r.slices[1] + 1}`;
    return `<tr role="row" data-level="${esc(r.level)}" class="${r.level === spec.focus ? "focus" : ""}">` +
      cols.map((c) => `<td>${cell(c, r)}</td>`).join("") + `<td class="where">${where}</td></tr>`;
  }).join("");
  return `<table id="level_table"><thead><tr role="row">${head}</tr></thead><tbody>${body}</tbody></table>` +
    (spec.graded ? '<div class="cap">Click a row to see the level\'s T1, T2 and Grad-CAM crops below. Detector confidence: ' +
     "how sure the detector is that the box is an intervertebral level (the threshold applies to it); the " +
     "probabilities are the classifier's, calibrated.</div>" : "");
}

function fmt(v, step) { const d = Math.max(0, -Math.floor(Math.log10(step))); return v.toFixed(Math.min(d, 4)); }

function windowControls() {
  // One row per series: level and width sliders (the series' own units) and the current values.
  for (const name of panels()) {
    const w = spec.windows[name], win = state.win[name];
    const level = $(`level_${name}`), width = $(`width_${name}`);
    const span = w.max - w.min;
    level.min = String(w.min); level.max = String(w.max); level.step = String(w.step);
    width.min = String(w.step); width.max = String(span); width.step = String(w.step);
    level.value = String((win[0] + win[1]) / 2); width.value = String(win[1] - win[0]);
    $(`wl_${name}`).textContent = `L ${fmt((win[0] + win[1]) / 2, w.step)} · W ${fmt(win[1] - win[0], w.step)}`;
  }
  wlShow(false);  // wl.js: typed level/width, marked preset
}

function draw() {
  frame = null;
  const [data, layout] = figure();
  probeLayout(layout);  // probe.js: the ROI rectangle and its reading
  if (typeof zoomLayout === "function") zoomLayout(layout);  // workstation.js: the user's zoom survives redraws
  Plotly.react($("plot"), data, layout, spec.config);
  $("levels").innerHTML = levelTable();
  $("caption").textContent = typeof workstationCaption === "function" ? workstationCaption(state.z) : spec.captions[state.z];
  $("slice_num").textContent = spec.nz > 1 ? `${state.z + 1} / ${spec.nz}` : "";
  $("opacity_num").textContent = state.opacity.toFixed(2);
  $("opacity").disabled = !spec.graded || !state.cam;
  $("loading").style.display = panels().every((nm) => held.has(spec.series[nm].key)) ? "none" : "";
  windowControls();
  if (window.drawFocus) drawFocus();  // the focused level's crops (focus.js)
  if (typeof afterDraw === "function") afterDraw();  // workstation.js
}

function schedule() { if (frame === null) frame = requestAnimationFrame(draw); }

function report() {
  send("streamlit:setComponentValue", {value: Object.assign({have: Array.from(held.keys())}, state), dataType: "json"});
}

function sync() {
  // The server learns the view (for the PDF, the focus crops and the checkerboard) once the input rests.
  clearTimeout(syncTimer);
  syncTimer = setTimeout(report, spec.sync_ms);
}

function setWindow(name, lo, hi) {
  const w = spec.windows[name];
  lo = Math.max(w.min - (w.max - w.min), lo); hi = Math.min(w.max + (w.max - w.min), hi);
  if (!(hi - lo >= w.step)) hi = lo + w.step;  // never a zero width
  state.win[name] = [lo, hi];
}

function preset(which) {
  for (const name of panels()) {
    const p = spec.windows[name].presets;
    const win = p[which] || p.default;
    setWindow(name, win[0], win[1]);
  }
  schedule(); sync();
}

function buildWindowRows() {
  const box = $("wl_rows");
  box.innerHTML = "";
  for (const name of panels()) {
    const row = document.createElement("div");
    row.className = "ctl";
    row.innerHTML = `<b>${name}</b>
      <label>level <input type="range" id="level_${name}" aria-label="${name} window level"></label>
      <label>width <input type="range" id="width_${name}" aria-label="${name} window width"></label>
      <span class="cap" id="wl_${name}"></span>`;
    box.appendChild(row);
    const move = () => {
      const l = parseFloat($(`level_${name}`).value), w = parseFloat($(`width_${name}`).value);
      setWindow(name, l - w / 2, l + w / 2); schedule(); sync();
    };
    row.querySelector(`#level_${name}`).oninput = move;
    row.querySelector(`#width_${name}`).oninput = move;
  }
}

function dragWindow() {
  // "Drag to window": horizontal drag changes the width, vertical the level, of the panel under the pointer.
  let start = null;
  $("plot").addEventListener("pointerdown", (e) => {
    if (!state || !state.drag) return;
    const rect = $("plot").getBoundingClientRect(), names = panels();
    const name = names.length > 1 && e.clientX > rect.left + rect.width / 2 ? names[1] : names[0];
    start = {x: e.clientX, y: e.clientY, name: name, win: state.win[name].slice()};
    e.preventDefault();
  });
  window.addEventListener("pointermove", (e) => {
    if (!start) return;
    const w = spec.windows[start.name], k = (w.max - w.min) / 600;
    const level = (start.win[0] + start.win[1]) / 2 - (e.clientY - start.y) * k;
    const width = Math.max(w.step, start.win[1] - start.win[0] + (e.clientX - start.x) * k);
    setWindow(start.name, level - width / 2, level + width / 2); schedule();
  });
  window.addEventListener("pointerup", () => { if (start) { start = null; sync(); } });
}

function controls() {
  $("slice").oninput = (e) => { state.z = parseInt(e.target.value, 10) - 1; schedule(); sync(); };
  $("boxes").onchange = (e) => { state.boxes = e.target.checked; schedule(); sync(); };
  $("cam").onchange = (e) => { state.cam = e.target.checked; schedule(); sync(); };
  $("opacity").oninput = (e) => { state.opacity = parseFloat(e.target.value); schedule(); sync(); };
  $("drag").onchange = (e) => { state.drag = e.target.checked; schedule(); };
  $("wl_full").onclick = () => preset("full");
  $("wl_reset").onclick = () => preset("default");
  $("levels").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-level]");
    if (!row || !spec.graded) return;
    state.focus = row.dataset.level === spec.focus ? null : row.dataset.level;
    state.focus_n = (state.focus_n || 0) + 1;
    spec.focus = state.focus; schedule();  // focus.js draws the crops at once
    clearTimeout(syncTimer); report();  // at once: the server adds the level's sentence
  });
  dragWindow();
}

window.addEventListener("message", (event) => {
  const msg = event.data;
  if (!msg || msg.type !== "streamlit:render") return;
  const fresh = spec === null || revision !== msg.args.spec.revision;
  spec = msg.args.spec;
  if (state === null || fresh) {  // a new study: the server's state; otherwise ours stays
    if (state !== null && typeof cine === "function") cine(false);  // workstation.js: a new study stops the cine
    state = Object.assign({drag: false}, JSON.parse(JSON.stringify(spec.state))); revision = spec.revision;
    buildWindowRows();
    wlBuild();  // wl.js: preset buttons, typed level/width, reset
  }
  const added = panels().map((nm) => keep(spec.series[nm].key, spec.series[nm].codes)).some(Boolean);
  const missing = panels().some((nm) => !held.has(spec.series[nm].key) && !pending.has(spec.series[nm].key));
  state.z = Math.min(Math.max(state.z, 0), spec.nz - 1);
  $("slice_box").style.display = spec.nz > 1 ? "" : "none";
  $("slice").max = String(spec.nz); $("slice").value = String(state.z + 1);
  $("boxes").checked = state.boxes; $("cam").checked = state.cam; $("cam").disabled = !spec.graded;
  $("opacity").value = String(state.opacity); $("drag").checked = !!state.drag;
  draw();
  send("streamlit:setFrameHeight", {height: document.body.scrollHeight + 8});
  if (missing) { clearTimeout(syncTimer); report(); }  // e.g. a reloaded frame: ask for the series now
  else if (added) sync();
});
controls();
send("streamlit:componentReady", {apiVersion: 1});
