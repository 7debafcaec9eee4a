"""The out-of-distribution warning: one widget, shown next to every prediction."""
from __future__ import annotations

import streamlit as st

LIST_AT_MOST = 12     # class names spelled out in the warning (i3d_k400 knows 400: only the count)


def ood_warning_ui(result, class_names: list[str] | None = None) -> bool | None:
    """Warn in plain words when the clip is unlike the model's training data (xai_core.ood).

    result: the OODResult of the explanation (exp.ood, or a Live window's .ood); None draws
    nothing. A model without calibration gets a one-line caption saying so. `class_names`,
    when given, adds which answers the model can give. Returns out_of_distribution (None when
    not calibrated).
    """
    if result is None:
        return None
    if not result.calibrated:
        st.caption(f"No check of whether this clip is like {result.model}'s training data ({result.message}).")
        return None
    if result.out_of_distribution:
        listed = f" ({', '.join(class_names)})" if class_names and len(class_names) <= LIST_AT_MOST else ""
        known = (f" It only knows {len(class_names)} actions{listed}: its answer is always one of them."
                 if class_names else "")
        st.warning(result.message + known, icon=":material/travel_explore:")
    return result.out_of_distribution
