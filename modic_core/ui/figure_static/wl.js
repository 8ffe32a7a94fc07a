// Window/level of the case viewer's picture (issue 26 item 3), beside viewer.js (same page, same globals:
// spec, state, $, panels, setWindow, schedule, sync, fmt). Per series: named preset buttons (spec.windows[name].named,
// computed on the server from the series' own statistics and its DICOM window: modic_core/export/render.py
// window_presets), typed level and width (Enter applies the box's value; an invalid entry or leaving the box without
// Enter puts the current value back) and a reset.
// viewer.js calls wlBuild() once per study (after buildWindowRows) and wlShow() whenever it redraws the readouts.
"use strict";

const wlStyle = document.createElement("style");
wlStyle.textContent = ".wl_presets button.on { background: #dbe6fb; border-color: #4a78c2; } .wl_presets { display: inline-flex; gap: 4px; } " +
  "#wl_rows input[type=range] { width: 120px; }";
document.head.appendChild(wlStyle);

function wlLabel(key) { return key === "full" ? "Full" : key; }

function wlApply(name, key) {
  // One series to its named window; false when it has no such preset (e.g. no DICOM window).
  const p = spec.windows[name].presets[key];
  if (!p) return false;
  setWindow(name, p[0], p[1]);
  return true;
}

function applyPreset(index) {
  // Keys 1-4: the index-th (0-based) preset button of every series at once (T1 and T2 presets share an order:
  // Marrow, Disc or Fluid / CSF, Full, Scanner window). Returns true when any series changed.
  if (!spec || !state) return false;
  let done = false;
  for (const name of panels()) {
    const named = spec.windows[name].named || [];
    if (index >= 0 && index < named.length) done = wlApply(name, named[index].key) || done;
  }
  if (done) { schedule(); sync(); }
  return done;
}

function wlTyped(name, what) {
  // Enter in the level or the width box: apply that value (the other kept from the current window) when it is a
  // finite number (a width above 0); otherwise nothing changes and the box shows the current value again.
  const v = parseFloat($(`wl_${what}_num_${name}`).value), win = state.win[name];
  const level = what === "level" ? v : (win[0] + win[1]) / 2, width = what === "width" ? v : win[1] - win[0];
  if (Number.isFinite(level) && Number.isFinite(width) && width > 0) {
    setWindow(name, level - width / 2, level + width / 2); schedule(); sync();
  }
  wlShow(true);
}

function wlBuild() {
  // Add the preset buttons, the typed level/width boxes and a reset to each series' row of viewer.js.
  for (const name of panels()) {
    const level = $(`level_${name}`);
    if (!level) continue;
    const row = level.closest(".ctl"), named = spec.windows[name].named || [];
    const presets = document.createElement("span");
    presets.className = "wl_presets";
    presets.innerHTML = named.map((p, i) =>
      `<button type="button" data-key="${esc(p.key)}" title="${esc(p.help)} (key ${i + 1})" ` +
      `aria-label="${esc(name)} ${esc(wlLabel(p.key))}">${esc(wlLabel(p.key))}</button>`).join(" ");
    row.insertBefore(presets, row.children[1]);
    presets.onclick = (e) => {
      const b = e.target.closest("button[data-key]");
      if (b && wlApply(name, b.dataset.key)) { schedule(); sync(); }
    };
    for (const [what, slider] of [["level", level], ["width", $(`width_${name}`)]]) {
      const box = document.createElement("input");
      box.type = "number"; box.id = `wl_${what}_num_${name}`; box.className = "wl_num";
      box.setAttribute("aria-label", `${name} window ${what} value`);
      box.title = `Type the ${what} (the series' units) and press Enter`;
      box.style.width = "80px";
      box.onkeydown = (e) => { if (e.key === "Enter") { e.preventDefault(); wlTyped(name, what); } else if (e.key === "Escape") wlShow(true); };
      box.onblur = () => wlShow(true);
      slider.parentNode.appendChild(box);
    }
    const reset = document.createElement("button");
    reset.type = "button"; reset.textContent = "Reset"; reset.title = "This series' default window (0.5-99.5th percentile of the body)";
    reset.setAttribute("aria-label", `${name} reset window`);
    reset.onclick = () => { if (wlApply(name, "default")) { schedule(); sync(); } };
    row.appendChild(reset);
  }
  wlShow(true);
}

function wlShow(force) {
  // The typed boxes follow the window (not while the user is typing in one) and the matching preset is marked.
  for (const name of panels()) {
    const w = spec.windows[name], win = state.win[name];
    if (!win) continue;
    for (const [what, v] of [["level", (win[0] + win[1]) / 2], ["width", win[1] - win[0]]]) {
      const box = $(`wl_${what}_num_${name}`);
      if (box && (force || document.activeElement !== box)) { box.value = fmt(v, w.step); box.step = String(w.step); }
    }
    const row = $(`level_${name}`) && $(`level_${name}`).closest(".ctl");
    if (!row) continue;
    for (const b of row.querySelectorAll(".wl_presets button")) {
      const p = w.presets[b.dataset.key];
      b.classList.toggle("on", !!p && Math.abs(p[0] - win[0]) < w.step / 2 && Math.abs(p[1] - win[1]) < w.step / 2);
    }
  }
}
