"""One progress bar for every CLI command: `progress(fraction, message)` drawn on stderr.

    bar = ProgressBar()            # stderr; None or --quiet: no bar
    explain(model, clip, "occlusion", progress=bar); bar.close()

On a terminal the line is redrawn in place (at most every `every` seconds, and always at 100%);
elsewhere (a log file, CI) a line is written per tenth, so logs stay short. The core's methods
call it after each forward pass (xai_core.methods.progress), the index builder after each batch.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """progress(fraction in [0, 1], message) drawn on `stream` (stderr by default)."""

    def __init__(self, stream=None, width: int = 28, every: float = 0.2):
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.every = width, every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last, self.drawn, self.tenth = 0.0, False, -1

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        filled = int(self.width * fraction)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {int(fraction * 100):3d}% {message}"
        if self.tty:
            now = time.monotonic()
            if fraction < 1 and self.drawn and now - self.last < self.every:
                return
            self.last, self.drawn = now, True
            self.stream.write("\r" + line[:118] + "\x1b[K")
        elif int(fraction * 10) > self.tenth:
            self.tenth = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (on a terminal); the next output starts on a fresh line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def quiet(fraction: float, message: str) -> None:
    """The bar of --quiet: hears every report, draws nothing."""
