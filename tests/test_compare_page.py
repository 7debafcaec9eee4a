"""The Compare page (AppTest): renders per role, one slider moves every column, one table row per column."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Column

from user_roles import load_roles
from xai_core.models.registry import bundled

PAGE = str(Path(__file__).resolve().parents[1] / "views" / "compare.py")
ROLES = load_roles()


def _page(role: str, models: list[str], methods: list[str]) -> AppTest:
    """The page for a role, with the models and methods already picked (no expensive default run)."""
    missing = [m for m in models if not bundled(m).weights.exists()]
    if missing:
        pytest.skip(f"no trained weights yet for {', '.join(missing)} (python -m xai_core train --model NAME)")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["active_role"] = ROLES[role]
    at.session_state["compare_models"] = models
    at.session_state["compare_methods"] = methods
    return at.run()


def _frame_row(at) -> list:
    """The images under the frame slider, one per column."""
    return [img for img in at.get("image") if img.captions and " · frame " in img.captions[0]]


CASES = [("analyst", ["c3d_small", "frame2d_pool"], ["grad_cam"]),
         ("developer", ["c3d_small", "frame2d_pool"], ["grad_cam"]),
         ("developer", ["c3d_small"], ["grad_cam", "saliency"]),
         ("analyst", ["c3d_small"], ["grad_cam", "temporal_occlusion"])]


@pytest.mark.parametrize("role, models, methods", CASES)
def test_page_renders_columns_slider_and_table(role, models, methods):
    at = _page(role, models, methods)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    columns = len(models) * len(methods)
    internals = ROLES[role].internals
    assert len(at.table) == 1 + internals and len(at.table[0].value) == columns   # + timings for internals
    assert "verdict" in at.table[0].value.columns                      # the stand_up sample has ground truth
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert len(badges) == columns
    tubes = [img for img in at.get("image") if img not in _frame_row(at)]
    assert len(tubes) == columns

    before = _frame_row(at)
    assert len(before) == columns and all("frame 0:" in img.captions[0] for img in before)
    at.select_slider[0].set_value(at.select_slider[0].options[-1]).run()
    after = _frame_row(at)
    assert len(after) == columns and all("frame 15:" in img.captions[0] for img in after)
    assert all(a.value != b.value for a, b in zip(after, before))    # every column shows a new picture
    timings = [c.value for c in at.caption if c.value.startswith("forward ")]
    assert len(timings) == (columns if ROLES[role].internals else 0)  # internals: timings per column


def test_without_models_the_page_asks_for_one():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["active_role"] = ROLES["developer"]
    at.session_state["compare_models"] = []
    at.run()
    assert not at.exception and "at least one model" in at.info[0].value


def test_one_class_for_all_and_the_upload_choice():
    at = _page("developer", ["c3d_small"], ["grad_cam", "saliency"])
    at.selectbox(key="compare_target").set_value("sit_down").run()
    assert not at.exception
    explaining = [c.value for c in at.caption if c.value.startswith("Explaining ")]
    assert len(explaining) == 2 and all(c.startswith("Explaining sit_down (") for c in explaining)
    assert "explained" in at.table[0].value.columns
    at.selectbox(key="compare_clip").set_value("Upload a video…").run()
    assert not at.exception and "up to" in at.info[0].value and not at.table


def test_four_models_wrap_into_rows_of_two():
    """Four columns would make each tube ~200 px wide: they wrap into 2 x 2 (and the table shows
    every column whole: a static table, nothing cut)."""
    from ui.compare import per_row
    assert [per_row(n) for n in range(1, 9)] == [1, 2, 3, 2, 3, 3, 3, 3]
    names = ["c3d_small", "frame2d_pool", "r2plus1d_small", "cnn_lstm"]
    at = _page("analyst", names, ["grad_cam"])
    assert not at.exception and not at.error
    headers = [h.value for h in at.subheader]
    assert headers[:4] == names
    rows = [len(b.children) for b in at.main if isinstance(b, Block) and b.children
            and all(isinstance(c, Column) for c in b.children.values())]
    assert rows.count(2) >= 4 and max(rows) == 2       # 2 rows of tubes + 2 rows of frames, 2 wide
    assert len(at.table[0].value) == 4


def test_the_method_picker_follows_a_role_switch():
    """A choice that was the old role's default, or is not offered any more, becomes the new role's
    default; a method the user picked that the new role offers stays."""
    def switch(first, method, second):
        at = _page(first, ["c3d_small"], [method])
        assert at.multiselect(key="compare_methods").value == [method]
        at.session_state["active_role"] = ROLES[second]
        return at.run().multiselect(key="compare_methods").value

    assert switch("developer", "grad_cam", "analyst") == ["integrated_gradients"]   # the old default
    assert switch("developer", "saliency", "analyst") == ["integrated_gradients"]   # not offered
    assert switch("developer", "smoothgrad", "analyst") == ["smoothgrad"]           # chosen and offered
