"""Evaluate: how far each method can be trusted on a model, as measured (analyst and developer roles).

The methods x measures table of assets/verdicts.json for the chosen model (a method the file lacks:
"not measured"), the settings it was measured under, what each measure means; and, since the
file keeps no curves, a button that measures one method live on a few clips and plots its curves.
Widgets and layout only; the core is xai_core.metrics (verdicts, evaluate) and render.evaluation.
"""
import json

import streamlit as st

from ui import cache, jobs
from ui.state import current_role
from ui.widgets import model_ui, short_label
from xai_core import XaiError, get_method, list_methods
from xai_core.data.synthetic import CLASSES
from xai_core.metrics.verdicts import MEASURES, settings_line, table_rows, verdicts_for
from xai_core.render.evaluation import order_curves_figure, sanity_figure

MAX_CLIPS = 8

role = current_role()
st.title("How far to trust each method")
notice = st.container()
with st.sidebar:
    model = model_ui(notice=notice)
if model is None:
    st.stop()
methods = {m.name: m.label for m in list_methods() if role.allows(m)}

st.caption(f"Each method on **{model.name}**, judged on procedural clips whose evidence is known: does its map "
           "depend on what the model learned (sanity check), does it find what the score rests on (deletion, "
           "insertion), does it point at the evidence, and does it give the same map twice (stability).")
rows = table_rows(model.name, {n: short_label(get_method(n)) for n in methods})
FORMATS = {"Sanity ρ": "{:.3f}", "Deletion": "{:.2f}×", "Frame deletion": "{:.2f}×", "Insertion": "{:.2f}×",
           "Pointing": "{:.0%}", "Stability": "{:.2f}"}
shown = [{c: "—" if v is None else FORMATS[c].format(v) if c in FORMATS else v for c, v in r.items()} for r in rows]
measured = verdicts_for(model.name)
for r, name in zip(shown, methods):             # the pointing rate over the clips where it applies, and how many
    f = measured.get(name, {})
    na, n = f.get("pointing_not_applicable") or 0, f.get("n")
    if na and n:
        r["Pointing"] = f"{r['Pointing']} of {n - na} ({na} n/a)" if n > na else f"n/a on all {n}"
st.dataframe(shown, hide_index=True, width="stretch", key="eval_table",
             column_config={c: st.column_config.Column(help=text) for c, text in MEASURES.items()})
for name in methods:
    for warning in verdicts_for(model.name).get(name, {}).get("warnings", []):
        st.warning(f"**{short_label(get_method(name))}** {warning}.", icon=":material/warning:")
unmeasured = [r["Method"] for r in rows if r["Sanity"] == "not measured"]
how = settings_line()
if how:
    st.caption(how + " —: not applicable (the stability of a method without a seed; the pointing game when "
               "no clip's map has a clear peak) or not measured.")
procedural = list(model.class_names) == list(CLASSES)      # evaluate's clips know their evidence
if unmeasured:
    st.info(f"Not measured on {model.name}: {', '.join(unmeasured)}. Nothing is shown for them rather than a "
            "guess" + ("; measure one below, or run `python benchmarks/evaluate_methods.py`." if procedural else
                       "."), icon=":material/info:")
with st.expander("What the measures mean"):
    st.markdown("\n".join(f"- **{name}**: {text}" for name, text in MEASURES.items()))

# ------------------------------------------------------------------------------ curves, live
st.subheader("Curves")
if not procedural:
    st.caption(f"The measures need clips whose evidence is known: the procedural data set's {len(CLASSES)} "
               f"classes ({', '.join(CLASSES)}). {model.name} has {len(model.class_names)} other classes, so "
               "it cannot be measured here.")
    st.stop()
st.caption("The measured file keeps the figures, not the curves. Measure one method here on a few procedural "
           "clips (the same measures, every layer of the sanity check) to see its deletion, insertion and "
           "sanity curves; the results are cached.")
c1, c2 = st.columns([2, 1])
method = c1.selectbox("Method", list(methods), format_func=lambda n: short_label(get_method(n)), key="eval_method")
n = int(c2.number_input("Clips", 1, MAX_CLIPS, 2, key="eval_clips",
                        help="Procedural clips (seed 4, never trained on); more is steadier and slower."))
key = json.dumps(["evaluate", model.name, method, n])
label = f"{short_label(get_method(method))} on {model.name}, {n} clip(s)"
result = None
try:
    if jobs.finished(key) and not jobs.running(key):
        result = cache.get_evaluation(model.name, method, n, model)
    elif st.button(f"Measure {label}", type="primary", key="eval_go") or jobs.running(key) \
            or st.session_state.get("eval-job") is not None and st.session_state["eval-job"].key == key:
        result = jobs.run_ui(key, lambda progress: cache.compute_evaluation(model.name, method, n, model,
                                                                            progress=progress),
                             label=label, state_key="eval-job")
except XaiError as e:
    st.error(str(e))
if result is not None:
    row = result["methods"][0]
    left, right = st.columns(2)
    with left:
        st.markdown("**Deletion and insertion** (voxel order)")
        st.plotly_chart(order_curves_figure(row), key="eval_curves")
    with right:
        s = row["sanity"]
        st.markdown(f"**Sanity check**: Spearman {s['final_spearman']:.3f} at full randomisation, "
                    f"{'passes' if s['passed'] else 'fails'}" if s["final_spearman"] is not None
                    else "**Sanity check**: n/a")
        st.plotly_chart(sanity_figure(row), key="eval_sanity")
    for note in row["sanity"].get("notes", []):
        st.caption(f"Note: {note}")
    st.caption(f"{label}: measured in {row['seconds']:.0f} s" + (" (from the cache)" if row.get("cached") else "")
               + f"; fill {result['settings']['fill']}, seed {result['settings']['seed']}. Few clips: the "
               "figures swing more than the table's.")
