"""The CLI's progress bar: in place on a terminal (throttled, 100% always drawn), a line per tenth elsewhere."""
import io

from xai_core.progress_bar import ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_line_is_redrawn_in_place_and_the_end_always_shows():
    out = Terminal()
    bar = ProgressBar(out, width=10, every=3600)
    for i in range(101):
        bar(i / 100, f"{i} of 100")
    bar.close()
    drawn = out.getvalue()
    assert drawn.count("\r") == 2                                   # the first draw, then only 100%
    assert drawn.endswith("\r[##########] 100% 100 of 100\x1b[K\n")


def test_elsewhere_a_line_per_tenth_clamped_to_0_and_1():
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    for f in (-0.5, 0.04, 0.12, 0.13, 0.5, 0.99, 1.0, 1.7):
        bar(f, "m")
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split("] ")[1] for line in lines] == ["  0% m", " 12% m", " 50% m", " 99% m", "100% m"]
    assert "\r" not in out.getvalue()
