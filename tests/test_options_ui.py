"""The developer's option widgets: typed and bounded from the method's option specs, checked by the
same validator as the CLI (an out-of-range or unreadable value is a message, never a traceback)."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from xai_core import get_method

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def developer_explain(method: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["role"] = "developer"
    at.session_state["method"] = method
    return at.run()


def test_number_widgets_carry_the_declared_bounds():
    at = developer_explain("integrated_gradients")
    assert not at.exception, [e.value for e in at.exception]
    steps = next(w for w in at.number_input if w.label == "steps")
    spec = get_method("integrated_gradients").option_specs["steps"]
    assert (steps.min, steps.max) == (spec.low, spec.high)


def test_a_bad_option_is_the_validators_message():
    at = developer_explain("integrated_gradients")
    baseline = next(w for w in at.text_input if w.label == "baseline")
    baseline.set_value("nan").run()                                  # not finite: refused, not explained
    assert not at.exception, [e.value for e in at.exception]
    assert any("baseline" in e.value and "finite" in e.value for e in at.error), [e.value for e in at.error]
    baseline.set_value("white").run()
    assert any("'black'" in e.value for e in at.error), [e.value for e in at.error]


def test_an_unreadable_window_is_a_message():
    at = developer_explain("occlusion")
    window = next(w for w in at.text_input if w.label == "window")
    window.set_value("1, one, 1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.value.startswith("window:") for e in at.error), [e.value for e in at.error]
    window.set_value("2, 0, 8").run()                                # read, then refused by the validator
    assert any("'window'" in e.value for e in at.error), [e.value for e in at.error]
