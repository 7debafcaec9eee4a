"""A class-maximising clip: the video the model finds most like a class (activation maximisation).

    clip = maximise_class(model, "walk_left", steps=64)        # MaxClip
    clip.frames            # (T, H, W, 3) uint8 RGB on the model's input grid
    clip.probability       # the class's softmax probability on exactly these uint8 frames
    run = maximise_seeds(model, "walk_left", seeds=3)          # SeedRun: clips + pairwise similarity

Gradient ascent on the class *logit* over the input clip, regularised so that the clip shows
what the model looks for rather than adversarial noise, as in Deep Draw (Øygard 2015, jitter and
blur on GoogLeNet) and Olah, Mordvintsev & Schubert 2017, "Feature Visualization" (Distill):

  Fourier parameterisation  the clip's pre-sigmoid values are the inverse 3-D real FFT over
                  (T, H, W) of a learned spectrum scaled by 1 / f^decay, f = sqrt(ft^2 + fy^2 +
                  fx^2) in cycles per frame / pixel (Lucid's fft_image, with time as a third
                  axis): steepest ascent in this basis favours low spatial and temporal
                  frequencies, i.e. smooth shapes and smooth motion.
  decorrelated colour  the three channels of the parameterisation are mapped to RGB by Lucid's
                  fixed colour-correlation square root (the ImageNet colour covariance's square
                  root, normalised by its largest column norm; `COLOR_CORRELATION`), so a step moves
                  along natural colour directions.
  valid range     RGB = sigmoid(values) in (0, 1), then normalised with the model's mean / std:
                  every clip is a valid video.
  jitter          the parameterised clip is `jitter_space` pixels and `jitter_time` frames larger on
                  each side; every step the model sees a random (T, H, W) crop of it (random shifts
                  in space and time, no wrap-around), the result is the centre crop.
  blur            every `blur_every` steps the clip is blurred by a Gaussian of `blur_sigma` pixels
                  (and frames), as Deep Draw does: applied to the spectrum (a product with the
                  Gaussian's transform), so it is exact and cheap.
  total variation penalty  tv_space * mean |dx| + |dy| and tv_time * mean |dt| on the RGB clip: a
                  penalty in space AND time (the temporal one against flicker; small, since motion
                  is what some classes are).
  start           a near-grey clip (a small random spectrum, as Lucid), or uniform pixel noise (as
                  Deep Draw) for a clip whose class gradient is exactly zero at grey: a model whose
                  ReLUs are all off on a blank clip (cnn_lstm's frame embedding) never leaves it.

What it cannot do: a two-stream model's flow is computed inside its forward pass without
gradients, so only its RGB stream is maximised (the flow stream's vote on the clip still counts in
the probability); an order-blind model (frame2d_pool) splits its belief between a class and its
reversal twin (walk_left / walk_right, sit_down / stand_up: measured 0.52 / 0.48 and 0.61 / 0.39
after 96 steps), which is its order-blindness made visible. Some classes take longer than others
(r2plus1d_small's hold_red: p = 0.19 after 128 steps, 1.0 by 160).

The probability reported is the model's softmax on the returned uint8 frames, converted to the
model's input exactly as a decoded video is (`video.clip.to_tensor`): what a user sees is what
was scored. The model runs as given (the loader gives it in eval mode; nothing here changes its
mode); gradients are taken with respect to the clip only (`torch.autograd.grad`), never stored on
the model's parameters. Progress: `progress(fraction, message)` after every step; it may raise
(e.g. methods.progress.Cancelled) to stop the run there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import MethodError
from ..video.clip import to_tensor

# Lucid's colour decorrelation (lucid/optvis/param/color.py): the square root of the ImageNet
# RGB colour correlation matrix, divided by its largest column norm.
COLOR_CORRELATION = np.array([[0.26, 0.09, 0.02],
                              [0.27, 0.00, -0.05],
                              [0.27, -0.09, 0.03]], np.float32)
COLOR_MATRIX = COLOR_CORRELATION / np.max(np.linalg.norm(COLOR_CORRELATION, axis=0))

MAX_STEPS = 10_000
MAX_SEEDS = 16
STARTS = ("auto", "grey", "noise")


@dataclass(frozen=True)
class Regulariser:
    """The regularisation of a class-maximising clip (see the module's docstring; defaults used by the CLI)."""

    lr: float = 0.2                # Adam's step on the spectrum (Lucid: 0.05 over ~500 steps; fewer here)
    decay: float = 1.0             # spectrum scale 1 / f^decay
    jitter_space: int = 4          # pixels of random shift each side
    jitter_time: int = 1           # frames of random shift each side
    blur_every: int = 4            # steps between blurs (0: never)
    blur_sigma: float = 0.5        # pixels (and frames) of each blur
    tv_space: float = 0.5          # weight of mean |dx| + |dy| (the logit is of order 10)
    tv_time: float = 0.25          # weight of mean |dt|
    init_scale: float = 0.01       # standard deviation of the initial spectrum
    objective: str = "logit"       # "logit" (the class logit), or "log_prob" (its log-softmax)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class MaxClip:
    """A class-maximising clip and what it reached.

    frames       (T, H, W, 3) uint8 RGB on the model's input grid
    probability  softmax probability of `target` on these frames (0..1); logit: its logit
    history      the target probability on the (jittered) clip after each step
    seconds      wall-clock time of the optimisation (this seed's share of a batched run)
    predicted    the model's top class on the frames; start: "grey" or "noise" (see optimise)
    """

    target: int
    label: str
    frames: np.ndarray
    probability: float
    logit: float
    steps: int
    seed: int
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0
    predicted: str = ""
    start: str = "grey"

    def to_dict(self) -> dict:
        return {"target": {"index": self.target, "label": self.label}, "probability": self.probability,
                "logit": self.logit, "predicted": self.predicted, "steps": self.steps, "seed": self.seed,
                "start": self.start, "seconds": round(self.seconds, 3)}


@dataclass
class SeedRun:
    """The same class maximised from k seeds, for stability.

    clips        k MaxClips, seeds in order
    pixel_corr   (k, k) Pearson correlation of the clips' RGB values (1 on the diagonal): the
                 same drawing in the same place
    feature_corr (k, k) Pearson correlation of the model's penultimate features on them (the
                 input of its last layer): the same idea to the model, however it is drawn
    motion_corr  (k, k) Pearson correlation of their motion profiles (mean change per frame,
                 `motion_profile`): the same timing of change
    """

    clips: list[MaxClip]
    pixel_corr: np.ndarray
    feature_corr: np.ndarray
    motion_corr: np.ndarray
    feature_layer: str = ""

    @staticmethod
    def _mean_off_diagonal(m: np.ndarray) -> float | None:
        k = len(m)
        return float((m.sum() - np.trace(m)) / (k * (k - 1))) if k > 1 else None

    @property
    def stability(self) -> dict:
        """Mean pairwise correlations over seeds (None for one seed) and the spread of the probabilities."""
        p = [c.probability for c in self.clips]
        return {"seeds": len(self.clips), "pixel_correlation": self._mean_off_diagonal(self.pixel_corr),
                "feature_correlation": self._mean_off_diagonal(self.feature_corr),
                "motion_correlation": self._mean_off_diagonal(self.motion_corr),
                "feature_layer": self.feature_layer,
                "probability_min": float(min(p)), "probability_max": float(max(p))}


def _param_device(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def _frequencies(T: int, H: int, W: int) -> torch.Tensor:
    """|f| on the rfftn grid (T, H, W//2+1): cycles per frame / per pixel."""
    ft = torch.fft.fftfreq(T).view(T, 1, 1)
    fy = torch.fft.fftfreq(H).view(1, H, 1)
    fx = torch.fft.rfftfreq(W).view(1, 1, W // 2 + 1)
    return torch.sqrt(ft ** 2 + fy ** 2 + fx ** 2)                        # (T, H, W//2+1)


class FourierClip(nn.Module):
    """k clips (k, 3, T, H, W) in [0, 1], parameterised by decorrelated, 1/f-scaled spectra."""

    def __init__(self, seeds: list[int], shape: tuple[int, int, int], reg: Regulariser):
        super().__init__()
        T, H, W = shape
        self.shape = shape
        f = _frequencies(T, H, W)
        floor = 1.0 / max(T, H, W)
        self.register_buffer("scale", (1.0 / torch.clamp(f, min=floor) ** reg.decay) * np.sqrt(H * W))
        self.register_buffer("f2", f ** 2)
        spectra = [torch.randn((3, T, H, W // 2 + 1, 2), generator=torch.Generator().manual_seed(int(s)))
                   for s in seeds]
        self.spectrum = nn.Parameter(torch.stack(spectra) * reg.init_scale)   # (k, 3, T, H, W//2+1, 2)
        self.register_buffer("colour", torch.from_numpy(COLOR_MATRIX))

    def forward(self) -> torch.Tensor:
        T, H, W = self.shape
        spec = torch.view_as_complex(self.spectrum) * self.scale           # (k, 3, T, H, W//2+1)
        x = torch.fft.irfftn(spec, s=(T, H, W), dim=(-3, -2, -1)) / 4.0    # (k, 3, T, H, W)
        x = torch.einsum("ij,kjthw->kithw", self.colour, x)                # decorrelated -> RGB
        return torch.sigmoid(x)                                             # (k, 3, T, H, W) in (0, 1)

    @torch.no_grad()
    def set_clip(self, i: int, rgb: torch.Tensor) -> None:
        """Make clip i equal `rgb` (3, T, H, W) in (0, 1): forward() inverted (logit, colour matrix, FFT)."""
        T, H, W = self.shape
        z = torch.logit(rgb.to(self.spectrum).clamp(0.01, 0.99))                    # (3, T, H, W)
        x = torch.einsum("ij,jthw->ithw", torch.linalg.inv(self.colour), z) * 4.0   # RGB -> decorrelated
        spec = torch.fft.rfftn(x, s=(T, H, W), dim=(-3, -2, -1)) / self.scale
        self.spectrum[i] = torch.view_as_real(spec)

    @torch.no_grad()
    def blur(self, sigma: float) -> None:
        """Blur the clips by a Gaussian of `sigma` pixels / frames: its transform times the spectrum."""
        self.spectrum.mul_(torch.exp(-2 * np.pi ** 2 * sigma ** 2 * self.f2)[..., None])


def _to_model(rgb: torch.Tensor, spec) -> torch.Tensor:
    """RGB (k, 3, T, H, W) in [0, 1] -> the model's input (k, C, T, H, W), as video.clip.to_tensor does."""
    if spec.channels == "gray":
        x = torch.einsum("c,kcthw->kthw", rgb.new_tensor([0.299, 0.587, 0.114]), rgb)[:, None]
    elif spec.channels == "BGR":
        x = rgb.flip(1)
    elif spec.channels == "RGB":
        x = rgb
    else:
        raise MethodError(f"input spec: a class-maximising clip is made of frames; {spec.channels!r} input "
                          "is computed by the core, not a clip")
    C = x.shape[1]
    mean = x.new_tensor(spec.mean).view(1, C, 1, 1, 1)
    std = x.new_tensor(spec.std).view(1, C, 1, 1, 1)
    return (x - mean) / std


def _crops(clips: torch.Tensor, rngs: list[np.random.Generator], jt: int, js: int, shape) -> torch.Tensor:
    """A random (T, H, W) window of each padded clip (k, 3, T+2jt, H+2js, W+2js): the jitter."""
    T, H, W = shape
    out = []
    for clip, rng in zip(clips, rngs):
        t, y, x = (int(rng.integers(0, 2 * j + 1)) for j in (jt, js, js))
        out.append(clip[:, t:t + T, y:y + H, x:x + W])
    return torch.stack(out)                                                # (k, 3, T, H, W)


def total_variation(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean absolute differences of clips (k, 3, T, H, W): (space: |dx| + |dy|, time: |dt|), per clip (k,)."""
    dx = (rgb[..., 1:] - rgb[..., :-1]).abs().flatten(1).mean(1)
    dy = (rgb[..., 1:, :] - rgb[..., :-1, :]).abs().flatten(1).mean(1)
    dt = (rgb[:, :, 1:] - rgb[:, :, :-1]).abs().flatten(1).mean(1)
    return dx + dy, dt


def _check(model, steps: int, seeds: list[int]) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise MethodError(f"steps must be a whole number from 1 to {MAX_STEPS} (got {steps!r})")
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise MethodError(f"seeds: from 1 to {MAX_SEEDS} clips at a time (got {len(seeds)})")


def _rnn_guard(model):
    from ..methods.hooks import rnn_without_cudnn
    return rnn_without_cudnn(model)


def optimise(model, target: int | str, seeds: list[int], steps: int = 64, reg: Regulariser = Regulariser(),
             progress=None, start: str = "auto") -> list[MaxClip]:
    """k class-maximising clips, one per seed, optimised together as one batch: list of MaxClip.

    target   class index or label; seeds: k ints (each clip's start and jitter depend on its seed
    only); steps: Adam steps (1..MAX_STEPS). start: "grey" (a small random spectrum: a near-grey
    clip, as Lucid starts), "noise" (uniform pixel noise, as Deep Draw starts), or "auto": grey,
    but a clip whose class gradient is exactly zero there starts from noise instead (one extra
    forward and backward pass; MaxClip.start says which). Raises ModelSpecError for an unknown
    target, MethodError for bad steps / seeds / start; whatever `progress` raises stops the run.
    """
    seeds = [int(s) for s in seeds]
    _check(model, steps, seeds)
    index = model.target_index(target)
    label = model.label(index)
    spec = model.spec
    T, H, W = spec.frames, spec.height, spec.width
    jt, js = reg.jitter_time, reg.jitter_space
    if start not in STARTS:
        raise MethodError(f"start must be one of {', '.join(STARTS)} (got {start!r})")
    device, dtype = _param_device(model)
    shape = (T + 2 * jt, H + 2 * js, W + 2 * js)
    param = FourierClip(seeds, shape, reg).to(device, dtype)
    rngs = [np.random.default_rng([s, 1]) for s in seeds]
    history: list[list[float]] = []
    t0 = time.perf_counter()
    with _rnn_guard(model):
        starts = [start] * len(seeds)
        if start != "grey":
            dead = _no_gradient(model, param, index, (jt, js), (T, H, W)) if start == "auto" else [True] * len(seeds)
            for i, s in enumerate(seeds):
                if dead[i]:
                    param.set_clip(i, _noise(s, shape))
            starts = ["noise" if d else "grey" for d in dead]
        opt = torch.optim.Adam([param.spectrum], lr=reg.lr)
        for step in range(steps):
            rgb = _crops(param(), rngs, jt, js, (T, H, W))                     # (k, 3, T, H, W)
            logits = model(_to_model(rgb, spec))                               # (k, K)
            tv_s, tv_t = total_variation(rgb)
            score = logits[:, index] if reg.objective == "logit" else torch.log_softmax(logits, 1)[:, index]
            loss = (-score + reg.tv_space * tv_s + reg.tv_time * tv_t).sum()
            (grad,) = torch.autograd.grad(loss, [param.spectrum])
            opt.zero_grad(set_to_none=True)
            param.spectrum.grad = grad
            opt.step()
            if reg.blur_every and (step + 1) % reg.blur_every == 0 and step + 1 < steps:
                param.blur(reg.blur_sigma)
            p = torch.softmax(logits.detach().float(), 1)[:, index].cpu().tolist()
            history.append(p)
            if progress is not None:
                progress((step + 1) / steps, f"{label}: step {step + 1}/{steps}, p = {np.mean(p):.2f}")
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        frames = _uint8(param()[:, :, jt:jt + T, js:js + H, js:js + W])       # (k, T, H, W, 3)
        final = _scores(model, frames)                                         # (k, K) logits
    probs = torch.softmax(final.float(), 1)
    return [MaxClip(index, label, frames[i], float(probs[i, index]), float(final[i, index]), steps, s,
                    [h[i] for h in history], seconds / len(seeds), model.label(int(probs[i].argmax())), starts[i])
            for i, s in enumerate(seeds)]


def _no_gradient(model, param: FourierClip, index: int, pad: tuple[int, int], size: tuple) -> list[bool]:
    """Per clip: is the class logit's gradient exactly zero at the start (the centre crop)? A model
    whose ReLUs are all off on a near-grey clip (cnn_lstm's frame embedding) never leaves it."""
    (jt, js), (T, H, W) = pad, size
    rgb = param()[:, :, jt:jt + T, js:js + H, js:js + W]
    logits = model(_to_model(rgb, model.spec))
    (grad,) = torch.autograd.grad(logits[:, index].sum(), [param.spectrum])
    return (grad.flatten(1).abs().amax(1) == 0).tolist()


def _noise(seed: int, shape: tuple) -> torch.Tensor:
    """Independent uniform pixel noise (3, T, H, W) in [0.1, 0.9] from the seed: the start Deep Draw uses."""
    rng = np.random.default_rng([seed, 2])
    return torch.from_numpy(rng.uniform(0.1, 0.9, size=(3, *shape)).astype(np.float32))


def _uint8(rgb: torch.Tensor) -> np.ndarray:
    """(k, 3, T, H, W) in [0, 1] -> (k, T, H, W, 3) uint8."""
    return (rgb.detach().float().clamp(0, 1) * 255).round().to("cpu", torch.uint8).permute(0, 2, 3, 4, 1).numpy()


def _scores(model, frames: np.ndarray, features: dict | None = None) -> torch.Tensor:
    """Logits (k, K) of uint8 clips (k, T, H, W, 3), converted as a decoded video is."""
    device, dtype = _param_device(model)
    x = torch.stack([to_tensor(f, model.spec) for f in frames]).to(device, dtype)   # (k, C, T, H, W)
    with torch.no_grad():
        return model(x)


def maximise_class(model, target: int | str, steps: int = 64, seed: int = 0, reg: Regulariser = Regulariser(),
                   progress=None, start: str = "auto") -> MaxClip:
    """The clip (T, H, W, 3) uint8 that maximises the class's logit from one seed (see module docstring
    and optimise)."""
    return optimise(model, target, [seed], steps, reg, progress, start)[0]


def penultimate_layer(model) -> tuple[str, nn.Module]:
    """The model's last layer with parameters that maps to the K classes (a Linear, or I3D's 1x1x1
    Conv3d): its input is the penultimate feature vector."""
    K = len(model.class_names)
    net = getattr(model, "net", model)
    found = [(n, m) for n, m in net.named_modules()
             if (isinstance(m, nn.Linear) and m.out_features == K)
             or (isinstance(m, nn.modules.conv._ConvNd) and m.out_channels == K)]
    if not found:
        raise MethodError(f"model {model.name!r}: no last layer with {K} outputs to read features before")
    return found[-1]


def penultimate_features(model, frames: np.ndarray) -> np.ndarray:
    """The input of the model's last layer for uint8 clips (k, T, H, W, 3): (k, D) float64, averaged
    over any positions; each call of that layer counts (two-stream: both streams' heads, summed)."""
    name, layer = penultimate_layer(model)
    seen: list[torch.Tensor] = []

    def hook(module, args):
        x = args[0].detach().float()
        seen.append(x.flatten(2).mean(2) if x.dim() > 2 else x)              # (k, D)

    handle = layer.register_forward_pre_hook(hook)
    try:
        _scores(model, frames)
    finally:
        handle.remove()
    feats = [s for s in seen if s.shape == seen[0].shape]
    return torch.cat(feats, 1).cpu().double().numpy()


def _corr(rows: np.ndarray) -> np.ndarray:
    """Pearson correlation between the rows of (k, D): (k, k), 0 where a row is constant (1 on the diagonal)."""
    x = rows.reshape(len(rows), -1).astype(np.float64)
    x = x - x.mean(1, keepdims=True)
    n = np.linalg.norm(x, axis=1)
    c = (x @ x.T) / np.maximum(np.outer(n, n), 1e-300)
    c[np.outer(n, n) == 0] = 0.0
    np.fill_diagonal(c, 1.0)
    return c


def maximise_seeds(model, target: int | str, seeds: int | list[int] = 3, steps: int = 64,
                   reg: Regulariser = Regulariser(), progress=None, start: str = "auto") -> SeedRun:
    """The class maximised from k seeds (an int k: seeds 0..k-1) in one batch, with their similarity.

    Returns a SeedRun: the clips and (k, k) correlations of their pixels and of the model's
    penultimate features on them (stable: the features agree even where the pixels do not).
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    clips = optimise(model, target, seeds, steps, reg, progress, start)
    frames = np.stack([c.frames for c in clips])                            # (k, T, H, W, 3)
    name, _ = penultimate_layer(model)
    motion = np.stack([motion_profile(f) for f in frames])                 # (k, T)
    return SeedRun(clips, _corr(frames), _corr(penultimate_features(model, frames)), _corr(motion), name)


# ------------------------------------------------------------------------------------ drawing

def change_map(frames: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Where a clip changes: (T, H, W, 3) uint8 -> (T, H, W) float32, the magnitude of the temporal
    derivative (central differences, one-sided at the ends) in grey levels per frame, averaged over
    the colour channels, then smoothed by a Gaussian of `sigma` pixels in space (regions, not
    speckles; 0: none). The relevance drawn on a maximising clip's tube."""
    import cv2

    f = np.asarray(frames, np.float32)
    if f.ndim != 4 or len(f) < 2:
        return np.zeros(f.shape[:3], np.float32)
    change = np.abs(np.gradient(f, axis=0)).mean(-1).astype(np.float32)   # (T, H, W)
    if sigma > 0:
        change = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in change])
    return change


def motion_profile(frames: np.ndarray) -> np.ndarray:
    """(T,) mean change per frame (grey levels per frame): when in the clip things move."""
    return change_map(frames, 0).reshape(len(frames), -1).mean(1)


def max_clip_tube(clip: MaxClip, width: int = 900, scale: int = 4) -> np.ndarray:
    """The clip as a staggered-frame tube, coloured where it changes fast: (H, W, 3) uint8."""
    from ..render.colormap import colorbar
    from ..render.tube import tube_image

    frames = clip.frames.repeat(scale, 1).repeat(scale, 2)                  # crisp model-grid pixels
    title = f"{clip.label} · class-maximising clip · p = {clip.probability:.3f} · seed {clip.seed}"
    return tube_image(frames, change_map(clip.frames), width=width, title=title, note="", path=None,
                      legend=(colorbar(130, 9, "positive"), "still", "changing fast"), alpha=0.5,
                      floor=0.4)


def seeds_image(run: SeedRun, every: int = 2, scale: int = 2) -> np.ndarray:
    """The clips of every seed side by side: one row per seed (its probability as a bar), every
    `every`-th frame in columns; the title gives the mean pairwise correlations. (H, W, 3) uint8."""
    from .grid import Cell, labelled_grid

    T = run.clips[0].frames.shape[0]
    shown = list(range(0, T, every))
    rows = [Cell([c.frames[t].repeat(scale, 0).repeat(scale, 1) for t in shown], f"seed {c.seed}", c.probability)
            for c in run.clips]
    s = run.stability
    corr = ("one seed: no stability measure" if s["pixel_correlation"] is None else
            f"mean pairwise correlation: features {s['feature_correlation']:.2f} (input of {s['feature_layer']}), "
            f"motion profile {s['motion_correlation']:.2f}, pixels {s['pixel_correlation']:.2f}")
    title = f"{run.clips[0].label} · class-maximising clips from {len(rows)} seed{'s' * (len(rows) > 1)}"
    subtitle = f"rows: seeds, bar: the class probability reached · columns: frames · {corr}"
    return labelled_grid(rows, [f"frame {t}" for t in shown], title, subtitle, None, rows_per_block=len(rows))


def write_loop(path, clip: MaxClip, repeats: int = 3, fps: float = 8.0):
    """The clip played `repeats` times in a row as a .webm / .mp4 (render.write_video); returns the path."""
    from ..render.video import write_video

    return write_video(path, np.concatenate([clip.frames] * max(1, int(repeats))), fps=fps)
