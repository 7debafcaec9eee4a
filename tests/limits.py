"""A time limit for a test step run in-process: a hang fails the test instead of stalling the suite."""
import signal
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError in the main thread after `seconds` (SIGALRM; Unix, main thread only)."""
    def stop(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
