"""TracIn-CP for the last linear layer, in its fast factorised form (Pruthi et al., NeurIPS 2020).

TracIn estimates how much training example z' moved the loss on a test example z over training,
summed over checkpoints k saved with their learning rates lr_k:

    influence(z, z') = sum_k lr_k <grad_theta L(z; theta_k), grad_theta L(z'; theta_k)>

Restricted to the last linear layer logits = W f + b (W: (C, D), b: (C,)), the gradient of the
cross-entropy loss is an outer product: dL/dW = g f^T and dL/db = g, with f the layer's input
(the penultimate features, (D,)) and g = dL/dlogits = softmax(logits) - onehot(label), (C,). So

    <grad L(z), grad L(z')> = <g, g'> (<f, f'> + 1)          (the + 1 is the bias)

and an index needs, per reference clip, only f (D,) and one g (C,) per checkpoint: a query over
5,000 clips is one matrix-vector product. captum's `TracInCPFast` computes the same product
without the bias term (its `_influence_batch_tracincp_fast`); `bias=False` gives exactly its
scores, which the tests check.

Features come from the model's final weights: only the last layer was saved at each checkpoint,
so f is the same for every k (as in captum's TracInCPFast given the final model and last-layer
checkpoints), and the logits at checkpoint k are the final logits with the layer's output
replaced: logits_k = logits - out + W_k f + b_k. That is exact when the logits are the layer's
output plus a term the layer does not touch (one head; two heads summed, as two_stream's), which
`head.logits_follow_layer` checks before an index is built.

Raw scores grow with the size of a reference clip's gradient: on the bundled models a few clips
the model found hard are the first proponent of most queries, and an exact copy of a training clip
never finds its original first (docs/ground_truth.md). `cosine_scores` divides by both clips'
gradient norms (RelatIF's normalisation, Barshan et al. 2020), which `influence()` uses by default.

The loss is plain cross-entropy with the clip's own label (the bundled models trained with label
smoothing 0.05 and flipped / reversed clips; the index uses the clips as generated).
"""
from __future__ import annotations

import numpy as np
import torch


def loss_gradients(features: torch.Tensor, output: torch.Tensor, logits: torch.Tensor,
                   weights: np.ndarray, biases: np.ndarray, labels: torch.Tensor) -> torch.Tensor:
    """dL/dlogits at every checkpoint: (K, N, C), float32.

    features (N, D), output (N, C) the layer's output and logits (N, C) from one forward pass
    of the final model; weights (K, C, D) and biases (K, C) the checkpoints; labels (N,) int64.
    """
    W = torch.from_numpy(weights).to(features)                           # (K, C, D)
    b = torch.from_numpy(biases).to(features)                            # (K, C)
    rest = (logits - output).unsqueeze(0)                                # (1, N, C): what the layer does not touch
    logits_k = rest + torch.einsum("kcd,nd->knc", W, features) + b[:, None]   # (K, N, C)
    onehot = torch.nn.functional.one_hot(labels, logits.shape[1]).to(features)  # (N, C)
    return (logits_k.softmax(-1) - onehot).float()                       # (K, N, C)


def scores(ref_features: np.ndarray, ref_grads: np.ndarray, lrs: np.ndarray, features: np.ndarray,
           grads: np.ndarray, bias: bool = True) -> np.ndarray:
    """TracIn-CP scores of every reference clip for one query: (N,) float64.

    ref_features (N, D), ref_grads (K, N, C) from the index; lrs (K,); the query's features
    (D,) and its loss gradients (K, C) (its target's label). score_i = sum_k lr_k <g_ik, g_k>
    (<f_i, f> + 1); `bias=False` leaves out the + 1 (captum's TracInCPFast). Positive: the clip
    pushed the model towards the target (a proponent); negative: away from it (an opponent).
    """
    f = ref_features.astype(np.float64) @ features.astype(np.float64)          # (N,)
    weighted = grads.astype(np.float64) * lrs[:, None]                          # (K, C)
    g = np.einsum("knc,kc->n", ref_grads.astype(np.float64), weighted)          # (N,)
    return g * (f + 1.0) if bias else g * f


def self_influence(ref_features: np.ndarray, ref_grads: np.ndarray, lrs: np.ndarray, bias: bool = True) -> np.ndarray:
    """Each reference clip's TracIn score with itself: sum_k lr_k |g_ik|^2 (|f_i|^2 + 1), (N,) float64
    (captum's `TracInCPFast.self_influence` without the + 1 when `bias=False`)."""
    f2 = np.square(ref_features.astype(np.float64)).sum(1)                    # (N,)
    g2 = np.einsum("knc,k->n", np.square(ref_grads.astype(np.float64)), lrs)  # (N,)
    return g2 * (f2 + 1.0) if bias else g2 * f2


def cosine_scores(ref_features: np.ndarray, ref_grads: np.ndarray, lrs: np.ndarray, features: np.ndarray,
                  grads: np.ndarray) -> np.ndarray:
    """TracIn normalised: score_i / sqrt(self_i * self_query), the cosine of the two clips' last-layer
    gradients over all checkpoints (each scaled by sqrt(lr_k)), (N,) float64 in [-1, 1].

    Per query it ranks as TracIn divided by the square root of each reference clip's self-influence,
    the relative influence of Barshan et al. (RelatIF, AISTATS 2020); as a similarity of gradients
    it is "GC" of Hanawa et al. (ICLR 2021). Raw TracIn favours clips with large gradients (clips the
    model found hard) for every query; the cosine favours clips whose gradient points the same way,
    so an exact copy of a reference clip (with the reference's label as target) scores 1.
    """
    raw = scores(ref_features, ref_grads, lrs, features, grads)
    own = self_influence(features[None], grads[:, None], lrs)[0]                 # the query's, a scalar
    norms = np.sqrt(self_influence(ref_features, ref_grads, lrs) * own)        # (N,)
    return np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
