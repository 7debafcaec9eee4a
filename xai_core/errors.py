"""Typed errors: every failure a user can cause is one of these, with a message that names the culprit."""


class XaiError(Exception):
    """Base class: the CLI turns it into exit code 2 and one line `error: ...`; the UI into a message."""


class VideoError(XaiError):
    """A video file could not be read or holds no usable frames."""


class ModelSpecError(XaiError):
    """A model name, spec, factory or weights file is wrong."""


class MethodError(XaiError):
    """An unknown method, a bad option, or a method that does not fit the model."""


class InfluenceError(XaiError):
    """A reference set, checkpoints file or influence index that cannot be used as asked."""
