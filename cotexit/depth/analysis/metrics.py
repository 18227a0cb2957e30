"""Per-token, per-layer agreement of every layer's prediction with the final one.

Owns `LayerTokenStats` (one value per layer and token: top-1 agreement,
hidden-state cosine, KL divergence, top-K overlap, plus the top-1 ids) and
`layer_token_stats`, a pure function of the stacked block outputs and the
model's final norm and LM head. Walks the positions in chunks and the layers
one at a time, so the largest temporaries are two (chunk, vocab) float32
tables; the (layers, tokens, vocab) logits never exist.

Definitions, for a token position t and a layer l in 1..N (row l-1):

- prediction of layer l: ``p_l = softmax(lm_head(norm(h_l)))``, with the
  model's own final norm and head; layer N's is the model's output;
- `agree[l, t]`: argmax p_l == argmax p_N (first index on ties);
- `cosine[l, t]`: cosine of the pre-norm block outputs h_l and h_N;
- `kl[l, t]`: KL(p_N || p_l) in nats, clamped at 0 against rounding (computed
  as sum p_N log p_N - sum p_N log p_l, one dot product per row and layer);
- `overlap[l, t]`: |topK(p_l) ∩ topK(p_N)| / K.

Which hidden states to read, which positions count, and how the numbers are
summarised are left to `states`, `texts` and `report`.

>>> import torch
>>> states = torch.randn(1, 5, 8).expand(3, 5, 8)  # three identical layers
>>> s = layer_token_stats(states, torch.nn.Identity(), torch.nn.Linear(8, 20), top_k=4)
>>> bool(s.agree.all()), round(float(s.kl.abs().max()), 6)
(True, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Head = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_TOP_K = 10
DEFAULT_CHUNK = 128


@dataclass(frozen=True)
class LayerTokenStats:
    """Statistics of N layers over T tokens; row l-1 is layer l, the last row is the final layer."""

    agree: torch.Tensor  # (N, T) bool
    cosine: torch.Tensor  # (N, T) float32
    kl: torch.Tensor  # (N, T) float32
    overlap: torch.Tensor  # (N, T) float32
    top1: torch.Tensor  # (N, T) int64

    @property
    def num_layers(self) -> int:
        return int(self.agree.shape[0])

    @property
    def num_tokens(self) -> int:
        return int(self.agree.shape[1])

    def select(self, index: torch.Tensor) -> LayerTokenStats:
        """The statistics of the token columns `index` (a (T,) bool mask or (k,) positions)."""
        return LayerTokenStats(
            agree=self.agree[:, index],
            cosine=self.cosine[:, index],
            kl=self.kl[:, index],
            overlap=self.overlap[:, index],
            top1=self.top1[:, index],
        )

    @staticmethod
    def concat(parts: Sequence[LayerTokenStats]) -> LayerTokenStats:
        """Tokens of several texts side by side; all parts must have the same number of layers."""
        if not parts:
            raise ValueError("concat needs at least one LayerTokenStats")
        layers = {p.num_layers for p in parts}
        if len(layers) != 1:
            raise ValueError(f"cannot concatenate statistics of different depths: {sorted(layers)}")
        return LayerTokenStats(
            agree=torch.cat([p.agree for p in parts], 1),
            cosine=torch.cat([p.cosine for p in parts], 1),
            kl=torch.cat([p.kl for p in parts], 1),
            overlap=torch.cat([p.overlap for p in parts], 1),
            top1=torch.cat([p.top1 for p in parts], 1),
        )


def _check(states: torch.Tensor, top_k: int, chunk_size: int) -> None:
    if states.dim() != 3:
        raise ValueError(f"states must be (layers, tokens, hidden), got shape {tuple(states.shape)}")
    if states.shape[0] < 1:
        raise ValueError("states must hold at least one layer")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")


def kl_divergence(logp_ref: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """KL(ref || q) per row from log-probabilities, in nats, >= 0; terms where ref is 0 count 0.  # (R,)"""
    p_ref = logp_ref.exp()  # (R, V)
    terms = torch.where(p_ref > 0, p_ref * (logp_ref - logp), torch.zeros_like(p_ref))  # (R, V)
    return terms.sum(-1).clamp_min(0.0)  # (R,)


def topk_overlap(idx_a: torch.Tensor, idx_b: torch.Tensor) -> torch.Tensor:
    """Fraction of shared entries between two (R, K) index tables, row by row.  # (R,)"""
    shared = (idx_a[:, :, None] == idx_b[:, None, :]).any(-1)  # (R, K)
    return shared.float().mean(-1)  # (R,)


def layer_token_stats(
    states: torch.Tensor,
    norm: Head,
    head: Head,
    *,
    top_k: int = DEFAULT_TOP_K,
    chunk_size: int = DEFAULT_CHUNK,
) -> LayerTokenStats:
    """Compare every layer's prediction with the last layer's, token by token.

    `states` is (N, T, H): the pre-norm output of blocks 1..N at T positions;
    `norm` and `head` are the model's final norm and LM head (any callables
    mapping (R, H) -> (R, H) and (R, H) -> (R, V)). K is capped at V.
    """
    _check(states, top_k, chunk_size)
    n_layers, n_tokens, _ = states.shape
    out = {
        "agree": torch.zeros(n_layers, n_tokens, dtype=torch.bool),
        "cosine": torch.zeros(n_layers, n_tokens),
        "kl": torch.zeros(n_layers, n_tokens),
        "overlap": torch.zeros(n_layers, n_tokens),
        "top1": torch.zeros(n_layers, n_tokens, dtype=torch.long),
    }
    with torch.inference_mode():
        for start in range(0, n_tokens, chunk_size):
            cols = slice(start, min(start + chunk_size, n_tokens))
            final_h = states[-1, cols]  # (C, H)
            final_logp = F.log_softmax(head(norm(final_h)).float(), dim=-1)  # (C, V)
            final_p = final_logp.exp()  # (C, V)
            neg_entropy = torch.einsum("cv,cv->c", final_p, final_logp.nan_to_num(neginf=0.0))  # (C,)
            k = min(top_k, final_logp.shape[-1])
            final_topk = final_logp.topk(k, dim=-1).indices  # (C, K)
            final_top1 = final_logp.argmax(-1)  # (C,)
            for layer in range(n_layers):
                h = states[layer, cols]  # (C, H)
                last = layer == n_layers - 1
                logp = final_logp if last else F.log_softmax(head(norm(h)).float(), dim=-1)  # (C, V)
                top1 = final_top1 if last else logp.argmax(-1)  # (C,)
                # KL(p_N || p_l) = sum p_N log p_N - sum p_N log p_l: one dot product per row
                kl = neg_entropy - torch.einsum("cv,cv->c", final_p, logp)  # (C,)
                if bool(kl.isnan().any()):  # -inf log-probabilities (masked logits): the guarded formula
                    kl = kl_divergence(final_logp, logp)  # (C,)
                out["top1"][layer, cols] = top1.cpu()
                out["agree"][layer, cols] = (top1 == final_top1).cpu()
                out["cosine"][layer, cols] = F.cosine_similarity(h.float(), final_h.float(), dim=-1).cpu()
                out["kl"][layer, cols] = torch.zeros_like(kl).cpu() if last else kl.clamp_min(0.0).cpu()
                out["overlap"][layer, cols] = topk_overlap(logp.topk(k, dim=-1).indices, final_topk).cpu()
    return LayerTokenStats(**out)


def layer_means(stats: LayerTokenStats) -> dict[str, list[float]]:
    """Token-weighted mean of each statistic per layer (lists of length N), for curves and JSON."""
    if stats.num_tokens == 0:
        raise ValueError("no tokens to average: every text was empty")
    return {
        "top1_agreement": stats.agree.float().mean(1).tolist(),
        "hidden_cosine_prenorm": stats.cosine.mean(1).tolist(),
        "kl_final_to_layer": stats.kl.mean(1).tolist(),
        "topk_overlap": stats.overlap.mean(1).tolist(),
    }
