"""LRP through an LSTM: the epsilon rule for its sums, "signal-take-all" for its gates (Arras et al. 2017).

Arras, Montavon, Müller & Samek, "Explaining Recurrent Neural Network Predictions in Sentiment
Analysis", WASSA 2017 (arXiv:1706.07206); the rule as in Arras et al., "Explaining and
Interpreting LSTMs", 2019, section 3. For each layer and step t, with PyTorch's gates i, f, g, o:

    z_g = W_ig x_t + W_hg h_{t-1} + b_g        g = tanh(z_g)
    c_t = f * c_{t-1} + i * g                  h_t = o * tanh(c_t)

relevance flows back as
- h_t -> c_t: all of it (the gate o takes none: "signal-take-all"; tanh passes it on);
- c_t -> (f * c_{t-1}, i * g): the epsilon rule, in proportion to the two summands; the gated
  products hand all of theirs to the signal, c_{t-1} and g (gates take none);
- g -> z_g -> x_t, h_{t-1}: the epsilon rule, R_k = a_k w_k / (z_g + eps sign z_g) R_g; the bias
  b_g = b_ig + b_hg absorbs its share, as a bias does in every epsilon rule.
So with zero biases the relevance reaching the inputs x_1..x_T sums to the relevance of the
outputs, up to epsilon; the initial state is zero and takes none.

`lrp_forward` replaces nn.LSTM's forward while LRP runs (canonizers.LSTMCanonizer): the same
outputs, computed step by step, whose backward pass carries relevance, not gradients, in
zennit's convention (the grad slot of a tensor holds its relevance).
"""
from __future__ import annotations

import torch
from torch import nn


def _stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    """z + epsilon * sign(z), 0 counted positive: zennit's stabilizer for the epsilon rule."""
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z)


def _layer_forward(x: torch.Tensor, w_ih, w_hh, b_ih, b_hh):
    """One LSTM layer over (N, T, D) from a zero state: outputs (N, T, H) and what the rule needs."""
    N, T, _ = x.shape                                              # batch, time, input features
    H = w_hh.shape[1]                                              # hidden size
    pre = x @ w_ih.T + (b_ih if b_ih is not None else 0)           # (N, T, 4H): the input's part
    h, c = x.new_zeros(N, H), x.new_zeros(N, H)
    hs, cs, gates = [], [], []
    for t in range(T):
        z = pre[:, t] + h @ w_hh.T + (b_hh if b_hh is not None else 0)    # (N, 4H)
        zi, zf, zg, zo = z.chunk(4, 1)                             # PyTorch's order: i, f, g, o
        i, f, g, o = zi.sigmoid(), zf.sigmoid(), zg.tanh(), zo.sigmoid()
        c = f * c + i * g                                          # (N, H)
        h = o * c.tanh()
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g, zg))
    return torch.stack(hs, 1), torch.stack(cs, 1), gates           # (N, T, H), (N, T, H), T x 4 x (N, H)


def _layer_relevance(x, out, cells, gates, w_ih, w_hh, R_out, epsilon: float) -> torch.Tensor:
    """Relevance of one layer's input (N, T, D) from that of its outputs R_out (N, T, H)."""
    T = x.shape[1]                                                 # time
    H = w_hh.shape[1]
    w_xg, w_hg = w_ih[2 * H:3 * H], w_hh[2 * H:3 * H]              # (H, D), (H, H): the signal g's rows
    R_x = torch.zeros_like(x)                                      # (N, T, D)
    R_h = R_out.clone()                                            # (N, T, H): grows by what h_{t-1} gets
    R_c = torch.zeros_like(R_out[:, 0])                            # (N, H): carried from c_{t+1}
    for t in reversed(range(T)):
        i, f, g, zg = gates[t]
        c = cells[:, t]
        c_prev = cells[:, t - 1] if t else torch.zeros_like(c)
        R_c = R_c + R_h[:, t]                                      # h_t = o * tanh(c_t): all to c_t
        share = R_c / _stabilize(c, epsilon)                       # epsilon rule over f c_{t-1} + i g
        R_g = i * g * share                                        # (N, H): the gated signal's part
        R_c = f * c_prev * share                                   # c_{t-1}'s part, carried back
        s = R_g / _stabilize(zg, epsilon)                          # epsilon rule over z_g
        R_x[:, t] = x[:, t] * (s @ w_xg)                           # (N, D)
        if t:
            R_h[:, t - 1] += out[:, t - 1] * (s @ w_hg)            # (N, H)
    return R_x


class _LSTMRelevance(torch.autograd.Function):
    """Forward: a unidirectional nn.LSTM from a zero state; backward: relevance by the rule above."""

    @staticmethod
    def forward(ctx, x, lstm: nn.LSTM, epsilon: float):
        layers, inputs = [], x                                     # x (N, T, D), batch first
        for k in range(lstm.num_layers):
            w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(lstm, f"bias_ih_l{k}", None), getattr(lstm, f"bias_hh_l{k}", None)
            out, cells, gates = _layer_forward(inputs, w_ih, w_hh, b_ih, b_hh)
            layers.append((inputs, out, cells, gates, w_ih, w_hh))
            inputs = out
        ctx.layers, ctx.epsilon = layers, epsilon
        h_n = torch.stack([layer[1][:, -1] for layer in layers])   # (L, N, H)
        c_n = torch.stack([layer[2][:, -1] for layer in layers])   # (L, N, H)
        ctx.mark_non_differentiable(c_n)
        return inputs, h_n, c_n

    @staticmethod
    def backward(ctx, R_out, R_hn, _R_cn):
        """Relevance of the outputs (N, T, H) and of h_n (L, N, H) -> relevance of the input."""
        R = R_out if R_out is not None else torch.zeros_like(ctx.layers[-1][1])
        for k in reversed(range(len(ctx.layers))):
            inputs, out, cells, gates, w_ih, w_hh = ctx.layers[k]
            if R_hn is not None:                                   # h_n of layer k is its last output
                R = R.clone()
                R[:, -1] += R_hn[k]
            R = _layer_relevance(inputs, out, cells, gates, w_ih, w_hh, R, ctx.epsilon)
        ctx.layers = None
        return R, None, None


def lrp_forward(lstm: nn.LSTM, epsilon: float, input: torch.Tensor, hx=None):
    """nn.LSTM's forward (same outputs: output, (h_n, c_n)) whose backward pass carries LRP relevance.

    Supports what `check_lstm` lets through: unidirectional, no projection, tensor input, a
    zero initial state. The cell state c_n carries no relevance (nothing upstream reads it back).
    """
    if hx is not None:
        from ..errors import MethodError
        raise MethodError("lrp: an LSTM given an initial state (h_0, c_0) is not supported; the rule "
                          "starts from a zero state")
    x = input if lstm.batch_first else input.transpose(0, 1)       # (N, T, D)
    out, h_n, c_n = _LSTMRelevance.apply(x, lstm, epsilon)
    out = out if lstm.batch_first else out.transpose(0, 1)
    return out, (h_n, c_n)


def check_lstm(lstm: nn.Module) -> str | None:
    """Why the rule cannot run through this recurrent layer, or None when it can."""
    if not isinstance(lstm, nn.LSTM):
        return f"{type(lstm).__name__} has no LRP rule here (only nn.LSTM: Arras et al. 2017)"
    if lstm.bidirectional:
        return "a bidirectional LSTM is not supported (the rule runs forward in time only)"
    if lstm.proj_size:
        return "an LSTM with a projection (proj_size) is not supported"
    return None
