"""An evaluation's curves as plotly figures: deletion / insertion against the random order, and
the sanity check's Spearman per randomised layer.

    row = evaluate(model, ["grad_cam"]).rows["grad_cam"]
    fig = order_curves_figure(row)          # deletion + insertion (voxel order) with their random orders
    fig = sanity_figure(row)                # Spearman after each cascading randomisation step
"""
from __future__ import annotations

from .curve import PALETTE
from .draw import INK as _INK
from .draw import MUTED as _MUTED

INK, MUTED = (f"rgb{tuple(c)}" for c in (_INK, _MUTED))     # plotly takes CSS colours


def order_curves_figure(row: dict, order: str = "voxel"):
    """The target's probability as the most relevant voxels (or frames) are removed (deletion) or
    put back (insertion), beside the same for a random order (dashed)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for colour, kind in zip(PALETTE, ("deletion", "insertion")):
        c = row[kind][order]
        x = [100 * f for f in c["fractions"]]
        rel = "" if c["relative_auc"] is None else f", {c['relative_auc']:.2f}× random"
        fig.add_scatter(x=x, y=c["scores"], mode="lines+markers", name=f"{kind} (AUC {c['auc']:.2f}{rel})",
                        line={"color": colour})
        fig.add_scatter(x=x, y=c["random"], mode="lines", name=f"{kind}, random order",
                        line={"color": colour, "dash": "dash"})
    what = "voxels" if order == "voxel" else "frames"
    fig.update_layout(xaxis_title=f"% of {what} removed (deletion) or put back (insertion)",
                      yaxis_title="probability of the class", yaxis_range=[0, 1.02], height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, font={"color": INK},
                      legend={"orientation": "h", "y": -0.3})
    return fig


def sanity_figure(row: dict):
    """Spearman between the trained model's maps and the maps after each randomisation step (top
    layer first); the pass line at the threshold."""
    import plotly.graph_objects as go

    s = row["sanity"]
    steps = [st for st in s["steps"] if st["spearman"] is not None]
    x = [f"{st['step']}. {st['layer']}" for st in steps]
    fig = go.Figure(go.Scatter(x=x, y=[st["spearman"] for st in steps], mode="lines+markers",
                               name="Spearman of |R|", line={"color": PALETTE[0]}))
    fig.add_hline(y=s["threshold"], line={"color": MUTED, "dash": "dot"},
                  annotation_text=f"passes below {s['threshold']}", annotation_position="top left")
    fig.update_layout(xaxis_title="layers randomised, top first (cumulative)", yaxis_title="Spearman with the trained map", yaxis_range=[-0.1, 1.05], height=320, font={"color": INK},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
