"""Reference sets: the labelled clips whose influence on a decision is measured.

Two kinds, one interface (`ReferenceSet`):

    TrainingSet(seed, n)    a bundled model's training set, regenerated clip by clip from its seed
                            (`data.synthetic`: clip i depends only on (seed, i), label i % 8), so a
                            chunk of 50 clips is made without the other 5,950 in memory
    FolderSet(path, model)  a user folder `path/<label>/*.mp4` (any video suffix OpenCV reads),
                            each file decoded with `video.load_video` on the model's input spec;
                            every <label> must be one of the model's classes

`identity()` is what an index is keyed by: the seed and n of a training set; for a folder, each
file's relative name, size, modification time and SHA-256 (so an edited, added, removed or
renamed clip gives a new index). `batches()` yields model-grid frames in order; `clip(i)` gives
reference clip i back as a `Clip` (model grid + display frames) for thumbnails.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InfluenceError, VideoError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".gif", ".mpg", ".mpeg", ".m4v")


class ReferenceSet:
    """Labelled clips, indexed 0..n-1: labels (n,) int64 into the model's classes."""

    kind: str = ""
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def identity(self) -> dict:
        """JSON-ready: what makes this set this set (the index's cache key is made from it)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for people: "the training set of c3d_small (seed 1, 6000 clips)"."""
        raise NotImplementedError

    def source(self, i: int) -> str:
        """Where reference clip i comes from, for people ("training clip 17 (seed 1)", a file name)."""
        raise NotImplementedError

    def frames(self, i: int) -> np.ndarray:
        """Reference clip i on the model's grid: (T, H, W, 3) uint8 RGB."""
        raise NotImplementedError

    def clip(self, i: int):
        """Reference clip i as a `video.Clip` (model-grid frames and display frames)."""
        raise NotImplementedError

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(start, frames (B, T, H, W, 3) uint8, labels (B,)) over the whole set, in order."""
        for start in range(0, len(self), batch_size):
            stop = min(len(self), start + batch_size)
            yield start, np.stack([self.frames(i) for i in range(start, stop)]), self.labels[start:stop]


# ------------------------------------------------------------------------------ the training set


def training_clip(seed: int, i: int, frames: int = 16, size: int = 64) -> tuple[np.ndarray, int]:
    """Clip i of `make_dataset(n, seed)` for any n > i, made alone: ((T, H, W, 3) uint8, label)."""
    from ..data.synthetic import CLASSES, render_clip

    label = i % len(CLASSES)                          # make_dataset: balanced, in a fixed order
    clip, _ = render_clip(CLASSES[label], np.random.default_rng([seed, i]), frames, size)
    return clip, label


class TrainingSet(ReferenceSet):
    """The procedural training set of seed `seed`: n clips of `frames` x `size`² made on demand."""

    kind = "training"

    def __init__(self, seed: int, n: int, frames: int = 16, size: int = 64):
        from ..data.synthetic import CLASSES

        if n < 1:
            raise InfluenceError(f"a training reference set needs at least one clip (n = {n})")
        self.seed, self.n, self.frames_per_clip, self.size = int(seed), int(n), int(frames), int(size)
        self.labels = np.arange(self.n, dtype=np.int64) % len(CLASSES)
        self.class_names = list(CLASSES)

    def identity(self) -> dict:
        return {"kind": self.kind, "seed": int(self.seed), "n": int(self.n),
                "frames": int(self.frames_per_clip), "size": int(self.size)}

    def describe(self) -> str:
        return f"the procedural training set (seed {self.seed}, {self.n} clips)"

    def source(self, i: int) -> str:
        return f"training clip {i} (seed {self.seed})"

    def frames(self, i: int) -> np.ndarray:
        self._check(i)
        return training_clip(self.seed, i, self.frames_per_clip, self.size)[0]

    def clip(self, i: int):
        from ..spec import InputSpec
        from ..video.clip import from_frames

        spec = InputSpec(frames=self.frames_per_clip, height=self.size, width=self.size)
        return from_frames(self.frames(i), spec, source=self.source(i), fps=8.0)

    def check_model(self, model) -> None:
        """InfluenceError unless the model has this set's classes and takes clips of its shape."""
        spec, model_name = model.spec, model.name
        if list(model.class_names) != self.class_names:
            raise InfluenceError(f"model {model_name} does not have the procedural data set's classes; "
                                 "give a reference folder of clips labelled with its own classes")
        if (spec.frames, spec.height, spec.width, spec.channels) != (self.frames_per_clip, self.size,
                                                                     self.size, "RGB"):
            raise InfluenceError(
                f"model {model_name} takes {spec.frames} x {spec.height} x {spec.width} {spec.channels} "
                f"clips; the procedural training set is {self.frames_per_clip} x {self.size}² RGB: "
                "give a reference folder of labelled clips instead")

    def _check(self, i: int) -> None:
        if not 0 <= i < self.n:
            raise IndexError(f"reference clip {i} out of range 0..{self.n - 1}")


# --------------------------------------------------------------------------------- a user folder


_DIGESTS: dict[tuple, str] = {}      # (path, size, mtime_ns) -> SHA-256, so a query hashes each file once


def file_digest(path: Path, stat: os.stat_result) -> str:
    """SHA-256 of a file's bytes, remembered by (path, size, modification time)."""
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


class FolderSet(ReferenceSet):
    """Labelled clips in `root/<label>/<file>`: <label> a class of the model, files any video
    OpenCV (or PyAV) decodes. Files are sorted by label folder, then name; other files and
    hidden ones are ignored. Raises InfluenceError for a missing or empty folder, a label folder
    that is not a class of the model (naming it and the classes), or a folder with no videos."""

    kind = "folder"

    def __init__(self, root: str | os.PathLike, class_names: list[str], spec):
        self.root = Path(root)
        self.spec = spec
        self.class_names = list(class_names)
        if not self.root.is_dir():
            raise InfluenceError(f"reference folder {self.root}: " +
                                 ("not found" if not self.root.exists() else "not a directory"))
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        unknown = [p.name for p in folders if p.name not in self.class_names]
        if unknown:
            shown = ", ".join(self.class_names[:12]) + (" ..." if len(self.class_names) > 12 else "")
            raise InfluenceError(f"reference folder {self.root}: {unknown[0]!r} is not a class of the model "
                                 f"(folders must be named after classes: {shown})")
        self.files: list[Path] = []
        labels = []
        for folder in folders:
            for f in sorted(folder.iterdir()):
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in VIDEO_SUFFIXES:
                    self.files.append(f)
                    labels.append(self.class_names.index(folder.name))
        if not self.files:
            raise InfluenceError(f"reference folder {self.root}: no video files in <label>/ folders "
                                 f"(expected e.g. {self.root}/{self.class_names[0]}/clip.mp4)")
        self.labels = np.asarray(labels, np.int64)

    def identity(self) -> dict:
        rows = []
        for f in self.files:
            try:
                st = f.stat()
                rows.append([str(f.relative_to(self.root)), st.st_size, st.st_mtime_ns, file_digest(f, st)])
            except OSError as e:
                raise InfluenceError(f"reference clip {f}: cannot be read ({e.strerror or e})") from None
        return {"kind": self.kind, "files": rows, "spec": self.spec.to_dict()}

    def describe(self) -> str:
        return f"the folder {self.root} ({len(self)} clips)"

    def source(self, i: int) -> str:
        return str(self.files[i].relative_to(self.root))

    def clip(self, i: int):
        from ..video.sample import load_video

        try:
            return load_video(self.files[i], self.spec)
        except VideoError as e:
            raise InfluenceError(f"reference clip {self.source(i)}: {e}") from None

    def frames(self, i: int) -> np.ndarray:
        from ..video.sample import load_video

        try:
            return load_video(self.files[i], self.spec, display_size=max(self.spec.height, self.spec.width)).frames
        except VideoError as e:
            raise InfluenceError(f"reference clip {self.source(i)} in {self.root}: {e}") from None


def default_reference(model, checkpoints=None) -> ReferenceSet:
    """A bundled model's training set (seed and n from its checkpoints file, else its weights'
    training record); InfluenceError for a model that has none here (give a folder)."""
    training = (model.info.extra or {}).get("training") or {}
    if model.info.source != "bundled" or not (checkpoints is not None or training):
        raise InfluenceError(f"model {model.name} has no training set here; give a reference folder of "
                             "labelled clips (--reference DIR, with one sub-folder per class)")
    seed = checkpoints.train_seed if checkpoints is not None and checkpoints.train_seed is not None \
        else training.get("seed")
    n = checkpoints.n_train if checkpoints is not None and checkpoints.n_train is not None else training.get("n_train")
    if seed is None or n is None:
        raise InfluenceError(f"model {model.name}: its files do not say which clips it was trained on; "
                             "give a reference folder")
    ref = TrainingSet(int(seed), int(n), model.spec.frames, model.spec.height)
    ref.check_model(model)
    return ref


def reference_for(model, reference=None, checkpoints=None) -> ReferenceSet:
    """`reference` as a ReferenceSet: None (the model's training set), a folder path, or a set."""
    if reference is None:
        return default_reference(model, checkpoints)
    if isinstance(reference, ReferenceSet):
        if isinstance(reference, TrainingSet):
            reference.check_model(model)
        return reference
    if isinstance(reference, (str, os.PathLike)):
        return FolderSet(reference, model.class_names, model.spec)
    raise InfluenceError(f"reference must be a folder path or a ReferenceSet, got {type(reference).__name__}")
