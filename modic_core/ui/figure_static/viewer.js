// Streamlit components v1 protocol by hand (no npm bundle): ready -> render(args) -> setComponentValue.
"use strict";
const send = (type, data) => window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
const $ = (id) => document.getElementById(id);
const KEEP = 4;  // slice sets (series x window) kept per study
let spec = null, state = null, revision = null, syncTimer = null;
let cache = new Map();  // key -> [data URI per slice]

function onSlice(lv, z) { return lv.z0 <= z && z <= lv.z1; }

function slices(which) {
  const key = spec[which + "_key"];
  return key === null ? null : (cache.get(key) || null);
}

function figure() {
  // A copy of the server's figure with this slice's images and the picture controls applied.
  const z = state.z, fig = spec.figure, n = spec.levels.length;
  const heat = spec.heat ? spec.heat[z] : null, showHeat = state.cam && heat !== null && state.opacity > 0;
  const grey = [slices("t1"), slices("t2")];
  let panel = 0;
  const data = fig.data.map((t) => {
    const c = Object.assign({}, t);
    if (t.type === "image" && t.name === "Grad-CAM") {
      c.source = heat || t.source; c.opacity = state.opacity; c.visible = showHeat;
    } else if (t.type === "image") {
      const g = grey[panel]; panel += 1;
      if (g) c.source = g[z];
    } else if (t.type === "scatter") {
      c.visible = showHeat;
    }
    return c;
  });
  const layout = Object.assign({}, fig.layout);
  layout.shapes = (fig.layout.shapes || []).map((s, i) => {
    const lv = spec.levels[i % n];
    return Object.assign({}, s, {visible: state.boxes, line: Object.assign({}, s.line, {dash: onSlice(lv, z) ? "solid" : "dot"})});
  });
  const notes = fig.layout.annotations || [], first = notes.length - (spec.tags ? n : 0);
  layout.annotations = notes.map((a, i) => i < first ? a :
    Object.assign({}, a, {visible: state.boxes, opacity: onSlice(spec.levels[i - first], z) ? 1.0 : 0.55}));
  if (!showHeat) { layout.margin = Object.assign({}, layout.margin, {r: 10}); }
  return [data, layout];
}

function levelList() {
  if (!spec.levels.length) return "<i>No level at this threshold.</i>";
  return "<b>Levels</b> (top to bottom)<br>" + spec.levels.map((lv) =>
    `<span class="chip" style="background:${lv.color}">${lv.level}</span> ${lv.what}<br>` +
    `<span class="where">${onSlice(lv, state.z) ? "on this slice" : `slices ${lv.z0 + 1}–${lv.z1 + 1}`}</span>`).join("<br>");
}

function draw() {
  const [data, layout] = figure();
  Plotly.react($("plot"), data, layout, spec.config);
  $("levels").innerHTML = levelList();
  $("caption").textContent = spec.captions[state.z];
  $("slice_num").textContent = spec.nz > 1 ? `${state.z + 1} / ${spec.nz}` : "";
  $("opacity_num").textContent = state.opacity.toFixed(2);
  $("opacity").disabled = !spec.graded || !state.cam;
}

function report() {
  send("streamlit:setComponentValue", {value: Object.assign({have: Array.from(cache.keys())}, state), dataType: "json"});
}

function sync() {
  // The server learns the view (for the PDF, the focus crops and the checkerboard) once the input rests.
  clearTimeout(syncTimer);
  syncTimer = setTimeout(report, spec.sync_ms);
}

function controls() {
  $("slice").oninput = (e) => { state.z = parseInt(e.target.value, 10) - 1; draw(); sync(); };
  $("boxes").onchange = (e) => { state.boxes = e.target.checked; draw(); sync(); };
  $("cam").onchange = (e) => { state.cam = e.target.checked; draw(); sync(); };
  $("opacity").oninput = (e) => { state.opacity = parseFloat(e.target.value); draw(); sync(); };
}

function keep(key, uris) {
  // Remember a slice set (or mark a held one as in use); true when it is new here (the server should hear of it).
  if (key === null) return false;
  if (uris === null || uris === undefined) {
    if (cache.has(key)) { const held = cache.get(key); cache.delete(key); cache.set(key, held); }
    return false;
  }
  const fresh = !cache.has(key);
  cache.delete(key); cache.set(key, uris);
  while (cache.size > KEEP) cache.delete(cache.keys().next().value);
  return fresh;
}

window.addEventListener("message", (event) => {
  const msg = event.data;
  if (!msg || msg.type !== "streamlit:render") return;
  spec = msg.args.spec;
  if (state === null || revision !== spec.revision) {  // a new study: the server's state; otherwise ours stays
    state = Object.assign({}, spec.state); revision = spec.revision;
  }
  const fresh = [keep(spec.t1_key, spec.t1), keep(spec.t2_key, spec.t2)].some(Boolean);
  const missing = (spec.t1_key !== null && !cache.has(spec.t1_key)) || (spec.t2_key !== null && !cache.has(spec.t2_key));
  state.z = Math.min(Math.max(state.z, 0), spec.nz - 1);
  $("slice_box").style.display = spec.nz > 1 ? "" : "none";
  $("slice").max = String(spec.nz); $("slice").value = String(state.z + 1);
  $("boxes").checked = state.boxes; $("cam").checked = state.cam; $("cam").disabled = !spec.graded;
  $("opacity").value = String(state.opacity);
  draw();
  send("streamlit:setFrameHeight", {height: document.body.scrollHeight + 8});
  if (missing) { clearTimeout(syncTimer); report(); }  // e.g. a reloaded frame: ask for the slices now
  else if (fresh) sync();
});
controls();
send("streamlit:componentReady", {apiVersion: 1});
