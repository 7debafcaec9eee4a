"""Train a bundled model on the procedural data set; save safetensors weights and a report.

    python -m xai_core train --model c3d_small

Seeds are disjoint by construction: training clips come from TRAIN_SEED, the checks during
training from VAL_SEED, the shipped accuracy bars from TEST_SEED, the ground-truth explanation
scores from GT_SEED. Clip i of a seed depends only on (seed, i).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..data.synthetic import CLASSES, make_dataset
from .registry import DEFAULT_SPEC, WEIGHTS, bundled

TRAIN_SEED, VAL_SEED, TEST_SEED, GT_SEED = 1, 2, 3, 4

# Flipping left-right or playing backwards turns one class into another: relabel, don't discard.
_FLIP = {"walk_left": "walk_right", "walk_right": "walk_left"}
_REVERSE = {"walk_left": "walk_right", "walk_right": "walk_left", "sit_down": "stand_up",
            "stand_up": "sit_down"}


@dataclass
class TrainConfig:
    epochs: int = 6
    n_train: int = 6000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    checkpoints: int = 4           # last-layer snapshots kept for influence examples
    seed: int = 0
    max_minutes: float = 15.0      # a hard stop, whatever the plan
    # Outlier exposure on static counterparts (0: off). Each batch's first `static_n` clips are
    # also shown as static clips (every frame the per-pixel temporal median, as
    # xai_core.motion.counterfactual.static makes them): for a class whose finer kind needs change
    # over time (order, change) the target is the uniform distribution (a still picture shows no
    # action), for an appearance class its own label. Loss: cross-entropy + static_weight * that.
    # After Hendrycks et al. (ICLR 2019, "Deep anomaly detection with outlier exposure").
    static_weight: float = 0.0
    static_n: int = 8


# Per-model plans, sized to finish within 15 minutes on a 2-core CPU (two_stream: about 20, its DIS
# flow is computed per batch from the augmented clips).
PLANS: dict[str, TrainConfig] = {
    "c3d_small": TrainConfig(epochs=5),
    "r2plus1d_small": TrainConfig(epochs=8),
    "frame2d_pool": TrainConfig(epochs=5),
    "cnn_lstm": TrainConfig(epochs=5),
    # DIS flow per batch: ~0.6 ms/pair. Its RGB stream is order-blind and, trained on clips alone,
    # recognised wave and jump from a single still pose (a third of those clips rested on
    # appearance, docs/ground_truth.md "Motion reliance"): static counterparts teach it that a still
    # picture shows no action, so the flow stream carries motion, as a two-stream net intends.
    "two_stream": TrainConfig(epochs=8, n_train=5000, max_minutes=40.0, static_weight=0.5),
}


@dataclass
class TrainResult:
    name: str
    minutes: float
    test_accuracy: float
    confusion: list = field(default_factory=list)
    weights: str = ""


def augment_labels(mapping: dict) -> torch.Tensor:
    return torch.tensor([CLASSES.index(mapping.get(c, c)) for c in CLASSES])


def batches(clips: np.ndarray, labels: np.ndarray, batch_size: int, rng: np.random.Generator,
            augment: bool):
    """Yield (x (N, C, T, H, W) normalised, y (N,)), shuffled, with label-aware flips/reversals."""
    flip_map, rev_map = augment_labels(_FLIP), augment_labels(_REVERSE)
    mean = torch.tensor(DEFAULT_SPEC.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(DEFAULT_SPEC.std).view(1, 3, 1, 1, 1)
    order = rng.permutation(len(clips)) if augment else np.arange(len(clips))
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start:start + batch_size])
        x = torch.from_numpy(clips[idx]).permute(0, 4, 1, 2, 3).float().div_(255)  # (N, C, T, H, W)
        y = torch.from_numpy(labels[idx])
        if augment:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            rev = torch.from_numpy(rng.random(len(idx)) < 0.5)
            x[flip] = x[flip].flip(-1)
            x[rev] = x[rev].flip(2)
            y = torch.where(flip, flip_map[y], y)
            y = torch.where(rev, rev_map[y], y)
        yield (x - mean) / std, y


@torch.no_grad()
def evaluate(net: nn.Module, n: int = 300, seed: int = TEST_SEED, batch_size: int = 50):
    """Accuracy and confusion matrix (rows: true class, columns: predicted) on fresh clips."""
    data = make_dataset(n, seed)
    K = len(CLASSES)
    confusion = np.zeros((K, K), np.int64)
    was_training = net.training
    net.eval()
    for x, y in batches(data.clips, data.labels, batch_size, np.random.default_rng(0), augment=False):
        pred = net(x).argmax(1)
        np.add.at(confusion, (y.numpy(), pred.numpy()), 1)
    net.train(was_training)
    return float(np.trace(confusion) / max(1, confusion.sum())), confusion


def train(name: str, config: TrainConfig | None = None, out_dir: Path = WEIGHTS,
          progress: Callable[[str], None] = lambda s: None, report: Path | None = None,
          eval_n: int = 300) -> TrainResult:
    """Train bundled model `name`; write `out_dir/name.safetensors` and its checkpoints file."""
    from safetensors.torch import save_file

    entry = bundled(name)
    cfg = config or PLANS.get(name, TrainConfig())
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    progress(f"generating {cfg.n_train} training clips (seed {TRAIN_SEED})")
    data = make_dataset(cfg.n_train, TRAIN_SEED)
    clips, labels = data.clips, data.labels
    del data

    net = entry.factory(len(CLASSES))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(cfg.n_train / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=total, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    snap_at = {int(total * (k + 1) / cfg.checkpoints) - 1 for k in range(cfg.checkpoints)}
    snaps: dict[str, torch.Tensor] = {}
    snap_lrs: list[float] = []
    step, stopped_early = 0, False
    net.train()
    for epoch in range(cfg.epochs):
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in batches(clips, labels, cfg.batch_size, rng, augment=True):
            if cfg.static_weight > 0:   # one forward pass, so batch norm sees both in one batch
                from ..motion.counterfactual import static
                n = min(cfg.static_n, len(y))
                both = net(torch.cat([x, static(x[:n])]))
                logits = both[:len(y)]
                loss = loss_fn(logits, y) + cfg.static_weight * static_loss(both[len(y):], y[:n])
            else:
                logits = net(x)
                loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lr_now = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            if step in snap_at:  # the last layer at this point of training, for influence (TracIn)
                k = len(snap_lrs)
                head = _last_linear(net)
                snaps[f"ckpt{k}.weight"] = head.weight.detach().clone()
                snaps[f"ckpt{k}.bias"] = head.bias.detach().clone()
                snap_lrs.append(lr_now)
            step += 1
            if time.perf_counter() - t0 > cfg.max_minutes * 60:
                stopped_early = True
                break
        progress(f"epoch {epoch + 1}/{cfg.epochs}: loss {loss_sum / max(1, seen):.3f}, "
                 f"train acc {correct / max(1, seen):.3f}, {(time.perf_counter() - t0) / 60:.1f} min")
        if stopped_early:
            progress(f"stopped at the {cfg.max_minutes}-minute limit")
            break
    minutes = (time.perf_counter() - t0) / 60
    acc, confusion = evaluate(net, eval_n)
    progress(f"test accuracy on {eval_n} fresh clips (seed {TEST_SEED}): {acc:.3f}")

    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"class_names": list(CLASSES), "spec": DEFAULT_SPEC.to_dict(), "family": entry.family,
            "cam_layer": getattr(net, "cam_layer", None),
            "training": {"seed": TRAIN_SEED, "n_train": cfg.n_train, "epochs": cfg.epochs,
                         "steps": step, "batch_size": cfg.batch_size, "lr": cfg.lr,
                         "static_weight": cfg.static_weight, "static_n": cfg.static_n,
                         "minutes": round(minutes, 2), "stopped_early": stopped_early,
                         "torch": torch.__version__, "threads": torch.get_num_threads()},
            "test": {"seed": TEST_SEED, "n": eval_n, "accuracy": acc}}
    weights = out_dir / f"{name}.safetensors"
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(weights), metadata={k: json.dumps(v) for k, v in meta.items()})
    head_name = _last_linear_name(net)
    save_file(snaps, str(out_dir / f"{name}.checkpoints.safetensors"),
              metadata={"layer": json.dumps(head_name), "lrs": json.dumps(snap_lrs),
                        "train_seed": json.dumps(TRAIN_SEED), "n_train": json.dumps(cfg.n_train)})
    result = TrainResult(name, minutes, acc, confusion.tolist(), str(weights))
    if report is not None:
        write_report(report, result, meta)
    return result


def static_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Outlier exposure on static counterparts (see TrainConfig.static_weight): a scalar.

    logits (N, K): the model on the static counterparts of N clips (per-pixel temporal median,
    constant in time), y (N,) the clips' labels. A class whose finer kind needs change (FINE_KIND
    order or change) is pulled to the uniform distribution (cross-entropy against 1/K for every
    class), an appearance class to its own label.
    """
    from ..data.synthetic import FINE_KIND

    logp = torch.log_softmax(logits, 1)                                # (N, K)
    still = torch.tensor([FINE_KIND[CLASSES[int(k)]] == "appearance" for k in y])
    uniform = -logp.mean(1)                                            # CE against 1/K
    own = -logp.gather(1, y[:, None])[:, 0]
    return torch.where(still, own, uniform).mean()


def _last_linear_name(net: nn.Module) -> str:
    return [n for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]


def _last_linear(net: nn.Module) -> nn.Linear:
    return net.get_submodule(_last_linear_name(net))


# ------------------------------------------------------------------------------ the report


def write_report(path: Path, result: TrainResult, meta: dict) -> None:
    """Replace this model's section in docs/models.md (other sections stay as they are)."""
    begin, end = f"<!-- model:{result.name} -->", f"<!-- /model:{result.name} -->"
    text = path.read_text() if path.exists() else _REPORT_HEADER
    section = begin + "\n" + _section(result, meta) + end
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


_REPORT_HEADER = """# Bundled models

Each section below is written by `python -m xai_core train --model NAME`; the numbers come from
the run that produced the shipped weights in `assets/weights/`. Test clips come from a seed never
used in training (see `xai_core/models/train.py`).
"""


def _section(result: TrainResult, meta: dict) -> str:
    tr = meta["training"]
    short = [c.replace("_", " ") for c in CLASSES]
    lines = [f"## {result.name} ({meta['family']})", "",
             f"- test accuracy: **{result.test_accuracy:.1%}** on {meta['test']['n']} fresh clips "
             f"(seed {meta['test']['seed']})",
             f"- training: {tr['epochs']} epochs over {tr['n_train']} clips (seed {tr['seed']}), "
             f"{tr['steps']} steps, {result.minutes:.1f} min on {tr['threads']} CPU threads, "
             f"torch {tr['torch']}" + (" — **stopped at the time limit before the plan ended**"
                                       if tr["stopped_early"] else "")
             + (f"; outlier exposure on static counterparts of the first {tr['static_n']} clips of each "
                f"batch, weight {tr['static_weight']:g} (a still picture of a motion class: uniform)"
                if tr.get("static_weight") else ""), "",
             "Confusion (rows: true class, columns: predicted):", "",
             "| true \\ predicted | " + " | ".join(short) + " | recall |",
             "|---" * (len(CLASSES) + 2) + "|"]
    for i, row in enumerate(result.confusion):
        recall = row[i] / max(1, sum(row))
        lines.append(f"| {short[i]} | " + " | ".join(str(v) for v in row) + f" | {recall:.0%} |")
    return "\n".join(lines) + "\n"
