"""Summaries of the depth analysis and the `analysis.json` file they are written to.

Owns `TextReport` (what one kind of text, gold or generated, gives: curves
per layer, oracle exits, suitability, counts), `summarize` (per-token
statistics -> `TextReport`), `AnalysisReport` (model, suite and one
`TextReport` per text kind) and its JSON form. Curves and means are
token-weighted: every reply token of every problem counts once. Plots are
`plots`' business; computing the statistics `metrics`' and `oracle`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotexit.depth.analysis.metrics import LayerTokenStats, layer_means
from cotexit.depth.analysis.oracle import OracleSummary, oracle_layers, summarize_oracle
from cotexit.depth.analysis.suitability import Suitability, suitability

SCHEMA_VERSION = 1
FILENAME = "analysis.json"

DEFINITIONS = {
    "layer": "l in 1..N is the output of decoder block l; layer l's prediction is lm_head(final_norm(h_l))",
    "positions": "reply tokens only: the positions whose next token is a reply token (what decoding computes)",
    "top1_agreement": "fraction of tokens where layer l's top-1 equals the final layer's top-1",
    "hidden_cosine_prenorm": "mean cosine of h_l and h_N, both pre-norm block outputs",
    "kl_final_to_layer": "mean KL(p_N || p_l) in nats",
    "topk_overlap": "mean |topK(p_l) ∩ topK(p_N)| / K",
    "oracle_layer": "per token, the smallest l such that every layer l' >= l has the final top-1",
    "oracle_depth_savings": "1 - mean(oracle layer) / N",
    "mean_agreement": "mean of top1_agreement over layers 1..N (area under the agreement curve / N)",
    "final_top1_matches_text": "fraction of reply tokens equal to the final layer's top-1 at the previous position",
}


@dataclass(frozen=True)
class TextReport:
    kind: str
    n_problems: int
    n_tokens: int
    n_truncated: int
    curves: dict[str, list[float]]
    oracle: OracleSummary
    suitability: Suitability
    mean_agreement: float
    final_top1_matches_text: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_problems": self.n_problems,
            "n_tokens": self.n_tokens,
            "n_truncated": self.n_truncated,
            "suitability": self.suitability.to_json(),
            "oracle": self.oracle.to_json(),
            "mean_agreement": self.mean_agreement,
            "final_top1_matches_text": self.final_top1_matches_text,
            "curves": self.curves,
        }


def summarize(
    kind: str, stats: LayerTokenStats, *, n_problems: int, n_truncated: int, text_matches: int
) -> TextReport:
    """Curves, oracle exits and suitability of the tokens in `stats` (all problems of one text kind)."""
    n_layers = stats.num_layers
    curves = layer_means(stats)
    layers = oracle_layers(stats.agree)  # (T,)
    return TextReport(
        kind=kind,
        n_problems=n_problems,
        n_tokens=stats.num_tokens,
        n_truncated=n_truncated,
        curves=curves,
        oracle=summarize_oracle(layers, n_layers),
        suitability=suitability(layers, stats.kl, num_layers=n_layers),
        mean_agreement=sum(curves["top1_agreement"]) / n_layers,
        final_top1_matches_text=text_matches / stats.num_tokens,
    )


@dataclass(frozen=True)
class AnalysisReport:
    model: dict[str, Any]  # LoadedModel.fingerprint()
    suite: str
    split: str
    num_layers: int
    top_k: int
    texts: dict[str, TextReport]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "suite": self.suite,
            "split": self.split,
            "num_layers": self.num_layers,
            "layers": list(range(1, self.num_layers + 1)),
            "top_k": self.top_k,
            "definitions": DEFINITIONS,
            "texts": {kind: report.to_json() for kind, report in self.texts.items()},
            "provenance": self.provenance,
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write `out_dir/analysis.json` (folders created); returns its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / FILENAME
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path
