"""The model versions in the app: the versions page (:func:`versions_page`) and the model card's
"Model in use" section (:func:`model_in_use_section`).

Everyone sees the registered versions (name, status, created, the locked part's metrics current -> new with
CIs, weights folder) and which one the app uses (:func:`modic_core.labels.active.model_in_use`). Admins
(:func:`modic_core.labels.access.require_admin`, checked again at each click) also make a candidate active,
go back to the shipped model, and start, stop or resume the background fine-tune
(:mod:`modic_core.labels.jobs`), whose progress bar refreshes itself while it runs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from modic_core.errors import InputError
from modic_core.evaluation.site_summary import estimate_text
from modic_core.labels import jobs
from modic_core.labels.access import require_admin
from modic_core.labels.active import SHIPPED, ModelInUse, missing_files, model_in_use
from modic_core.labels.store import LabelStore, ModelRecord
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.ui.identity import current_identity
from modic_core.ui.labelstore import label_store

__all__ = ["PROGRESS_REFRESH_S", "before_after_rows", "locked_note", "model_in_use_section", "versions_page", "versions_rows"]

#: Seconds between refreshes of the fine-tune's progress bar while it runs.
PROGRESS_REFRESH_S = 2.0
#: The fine-tune command the page starts (tests put a fake one here).
finetune_command: Sequence[str] = jobs.FINETUNE_COMMAND
#: Metrics listed first in the before/after tables, in this order (others follow alphabetically): the fine-tune's
#: decision rule compares MC0-vs-MC2 balanced accuracy on the locked part.
_FIRST = ("mc0_vs_mc2", "mc0_vs_mc2_balanced_accuracy", "balanced_accuracy", "accuracy", "macro_f1", "cohen_kappa")
_JOB_STATE_KEY = "_versions_job_state"


def _is_estimate(value: Any) -> bool:
    return isinstance(value, Mapping) and "value" in value


def _shown(value: Any) -> str | None:
    """An estimate as text (value with its 95% CI, :func:`~modic_core.evaluation.site_summary.estimate_text`), a
    count, a number, or None if not a score."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)  # a count (levels, studies)
    if isinstance(value, float):
        return f"{value:.3f}"
    if _is_estimate(value):
        return _estimate(value)
    return None


def _estimate(e: Mapping[str, Any]) -> str:
    """:func:`~modic_core.evaluation.site_summary.estimate_text`; an estimate flagged "too few" that names no
    MC0/MC2 counts (a sensitivity) says its own count instead."""
    if e.get("too_few") and "n_mc0" not in e and e.get("value") is not None:
        return estimate_text({**e, "too_few": False}) + f", few cases (n={e.get('n')})"
    return estimate_text(dict(e))


def _scores(side: Mapping[str, Any] | None) -> dict[str, str]:
    """{name: text} of one side's scores; a group of estimates (per-class sensitivities) as "name class"."""
    out: dict[str, str] = {}
    for name, value in (side or {}).items():
        text = _shown(value)
        if text is not None:
            out[name] = text
        elif isinstance(value, Mapping) and value and all(_is_estimate(v) for v in value.values()):
            out.update({f"{name} {k}": _estimate(v) for k, v in value.items()})
    return out


def _paired(part: Mapping[str, Any], name: str) -> str:
    """The paired bootstrap difference new - current for this score, if the part records one."""
    paired = part.get("paired_new_minus_current") or {}
    d = paired.get(name) or next((v for k, v in paired.items() if k.startswith(name + "_")), None)
    if not isinstance(d, Mapping) or d.get("diff") is None:
        return ""
    ci = "" if d.get("ci_low") is None else f" (95% CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f})"
    return f"{d['diff']:+.3f}{ci}"


def _order(name: str) -> tuple:
    return (_FIRST.index(name) if name in _FIRST else len(_FIRST), name)


def before_after_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``{"part", "metric", "current", "new", "new − current"}`` rows of a version's registered metrics:
    every part holding ``{"current": {...}, "new": {...}}`` (the locked part first), every score either side has
    (estimates with their 95% CIs, per-class groups flattened; tables such as confusion matrices are left out),
    and the paired bootstrap difference where the part records one (``paired_new_minus_current``)."""
    parts = [p for p, v in metrics.items() if isinstance(v, Mapping) and ("current" in v or "new" in v)]
    parts.sort(key=lambda p: (p != "locked", p))
    rows = []
    for part in parts:
        body = metrics[part]
        cur, new = _scores(body.get("current")), _scores(body.get("new"))
        for name in sorted(dict.fromkeys([*cur, *new]), key=_order):
            rows.append({"part": part, "metric": name.replace("_", " "), "current": cur.get(name, "—"),
                         "new": new.get(name, "—"), "new − current": _paired(body, name) or "—"})
    return rows


def locked_note(metrics: Mapping[str, Any]) -> str:
    """Why the locked part has no numbers (the fine-tune's ``reason``, e.g. too few locked levels), else ""."""
    locked = metrics.get("locked")
    if isinstance(locked, Mapping) and locked.get("enough") is False:
        return str(locked.get("reason") or "the locked part was too small to tell")
    return ""


def _headline(metrics: Mapping[str, Any]) -> str:
    """The locked part's first score as "current → new" (else why it has none; empty without metrics)."""
    rows = [r for r in before_after_rows(metrics) if r["part"] == "locked"]
    return f"{rows[0]['metric']}: {rows[0]['current']} → {rows[0]['new']}" if rows else locked_note(metrics)


def versions_rows(models: Sequence[ModelRecord], in_use: ModelInUse) -> list[dict[str, str]]:
    """One row per registered version, newest first: name, status, created (UTC), the locked part's headline
    score current → new, weights folder, and whether the app uses it."""
    used = in_use.record.name if in_use.record is not None and not in_use.warning else None
    rows = [{"name": m.name, "status": m.status, "used by the app": "yes" if m.name == used else "",
             "created (UTC)": m.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"),
             "locked part (current → new)": _headline(m.metrics) or "—",
             "weights folder": m.weights_dir or "shipped weights"} for m in reversed(models)]
    return rows


def model_in_use_section(store: LabelStore | None = None) -> ModelInUse:
    """"Model in use: NAME" (and the fallback warning, if any); for a fine-tuned version, its before/after table
    from its registered metrics. For the top of the model card."""
    use = model_in_use(store or label_store())
    if use.warning:
        st.warning(use.warning)
    label = "the shipped model" if use.name == SHIPPED else use.name
    st.markdown(f"**Model in use: {label}**" + (f" (status {use.record.status})" if use.record is not None and
                                                  use.name != SHIPPED else ""))
    if use.name != SHIPPED and use.record is not None:
        rows = before_after_rows(use.record.metrics)
        if rows:
            st.markdown("Before (the model it replaced) and after (this version), measured when it was registered; "
                        "95% CIs. The locked part holds studies no fine-tune trains on.")
            st.dataframe(pd.DataFrame(rows), hide_index=True, key="mc_before_after")
        note = locked_note(use.record.metrics)
        if note:
            st.caption(f"Locked part: {note}.")
        elif not rows:
            st.caption("This version was registered without before/after metrics.")
    return use


def _admin_action(action, *args, **kwargs) -> bool:
    """Run an admin action for the signed-in admin (checked now); errors become one sentence on the page."""
    try:
        identity = require_admin(current_identity())
        action(identity, *args, **kwargs)
    except InputError as exc:
        st.error(str(exc))
        return False
    return True


def _activate(identity, store: LabelStore, name: str) -> None:
    record = next((m for m in store.list_models() if m.name == name), None)
    missing = missing_files(record.weights_dir) if record is not None and record.weights_dir else []
    if missing:
        raise InputError(f"The version {name!r} cannot be made active: its weights folder lacks {', '.join(missing)}; "
                         "fine-tune it again or pick another version.")
    store.activate_model(name=name, actor=identity.name)


def _use_shipped(identity, store: LabelStore) -> None:
    store.deactivate_models(actor=identity.name)


def _start(identity, store: LabelStore, name: str, method: str, activate: bool) -> None:
    jobs.start_finetune(store, name=name, method=method, activate=activate, command=finetune_command)


def _resume(identity, store: LabelStore) -> None:
    jobs.resume_finetune(store)


def _stop(identity, store: LabelStore) -> None:
    jobs.stop_finetune(store)


def _job_panel(store: LabelStore, *, admin: bool) -> None:
    """The fine-tune's state and progress bar; reruns itself every :data:`PROGRESS_REFRESH_S` while it runs and
    reruns the whole page when it ends (the new version then appears in the list)."""
    status = jobs.job_status(store)
    previous = st.session_state.get(_JOB_STATE_KEY)
    st.session_state[_JOB_STATE_KEY] = status.state
    if previous == "running" and status.state != "running":
        st.rerun()
    if status.state == "none":
        st.caption("No fine-tune has been started from the app.")
        return
    job = status.job
    if status.running:
        p = status.progress
        st.progress(p.fraction if p else 0.0,
                    text=f"Fine-tuning {job.name!r} ({job.method}): " + (f"{p.stage} — {p.message}" if p else "starting…"))
        st.caption(f"Started {job.started} UTC · log: {job.log}")
        if admin and st.button("Stop", key="ver_stop", help="Stop the fine-tune; it can be resumed later."):
            if _admin_action(_stop, store):
                st.rerun()
        return
    if status.state == "finished":
        st.success(status.message)
    elif status.state == "failed":
        st.error(status.message)
    else:
        st.warning(status.message)
    if admin and status.resumable and st.button("Resume", key="ver_resume",
                                                help="Start the same command again; it continues where it stopped."):
        if _admin_action(_resume, store):
            st.rerun()


def _start_form(store: LabelStore) -> None:
    methods = list(NORMALIZATIONS)
    with st.form("ver_start"):
        st.markdown("**Start fine-tuning** (in the background; one at a time)")
        method = st.selectbox("Normalization method", methods, index=methods.index(jobs.METHOD_DEFAULT)
                              if jobs.METHOD_DEFAULT in methods else 0, key="ver_method",
                              format_func=lambda m: NORMALIZATIONS[m].label)
        st.session_state.setdefault("ver_name", "finetune-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"))
        name = st.text_input("Version name", key="ver_name", max_chars=64,
                             help="Letters, digits, '.', '_' or '-'; its weights go to MODIC_DATA_DIR/models/<name>.")
        activate = st.checkbox("Make it active when it is better on the locked part", key="ver_activate")
        if st.form_submit_button("Start fine-tuning"):
            if _admin_action(_start, store, name, method, activate):
                del st.session_state["ver_name"]  # the next fine-tune gets a new default name
                st.rerun()


def versions_page() -> None:
    """The Model versions page (see the module docstring)."""
    store = label_store()
    identity = current_identity()
    admin = identity is not None and identity.is_admin
    use = model_in_use(store)
    if use.warning:
        st.warning(use.warning)
    st.markdown("**The app uses: " + ("the shipped model**" if use.name == SHIPPED else f"{use.name}**") +
                f" (weights: `{use.weights_dir}`)")
    models = store.list_models()
    if models:
        st.dataframe(pd.DataFrame(versions_rows(models, use)), hide_index=True, key="ver_table")
    else:
        st.info("No model version is registered yet: the app uses the shipped model. A fine-tune registers one.")
    for m in reversed(models):
        rows, note = before_after_rows(m.metrics), locked_note(m.metrics)
        if rows or note:
            with st.expander(f"{m.name} ({m.status}): before/after, with 95% CIs"):
                if rows:
                    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"ver_ba_{m.id}")
                if note:
                    st.caption(f"Locked part: {note}.")
    if not admin:
        who = f"you are signed in as {identity.role}" if identity is not None else "nobody is signed in"
        st.info(f"Only an admin can make a version active or start fine-tuning ({who}); the buttons are shown to "
                "admins only, who sign in with an admin account (MODIC_AUTH_FILE).")
        st.subheader("Fine-tuning")
        _job_fragment(store, admin=False)
        return
    st.subheader("Switch the model")
    candidates = [m for m in models if m.status == "candidate"]
    for m in candidates:
        c1, c2 = st.columns([3, 1])
        c1.markdown(f"`{m.name}` — {_headline(m.metrics) or 'no locked-part metrics'}")
        if c2.button("Make active", key=f"ver_activate_{m.id}"):
            if _admin_action(_activate, store, m.name):
                st.rerun()
    rejected = sum(m.status == "rejected" for m in models)
    if models and not candidates:  # with no version at all the info above already says so
        st.caption("No candidate version to make active" + (f" ({rejected} rejected: worse than the current model on "
                                                            "the locked part, or too few locked levels to tell)."
                                                            if rejected else "."))
    if use.record is not None and use.record.status == "active":
        if st.button("Use the shipped model", key="ver_shipped"):
            if _admin_action(_use_shipped, store):
                st.rerun()
    st.subheader("Fine-tuning")
    if not _job_fragment(store, admin=True):
        _start_form(store)


def _job_fragment(store: LabelStore, *, admin: bool) -> bool:
    """:func:`_job_panel` as a fragment that reruns itself while the fine-tune runs; whether it runs."""
    running = jobs.job_status(store).running
    if running:
        st.fragment(run_every=PROGRESS_REFRESH_S)(_job_panel)(store, admin=admin)
    else:
        _job_panel(store, admin=admin)
    return running
