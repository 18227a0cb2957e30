"""How much room a model leaves for depth exits on a workload (the "diminishing returns" analysis).

Teacher-force texts of a suite (gold solutions or the model's own greedy
replies) and compare, at every reply token, each layer's prediction (the
model's own final norm + LM head) with the final one: top-1 agreement,
pre-norm hidden cosine, KL(final || layer), top-K overlap; the oracle
earliest exit per token and its depth savings; one suitability score.

Modules: `metrics` (per-token, per-layer statistics, chunked), `oracle`
(earliest exit and savings), `suitability` (the score and its formula),
`states` (pre-norm block outputs via hooks), `texts` (teacher-forced
sequences), `report` (summaries and `analysis.json`), `run` (the driver,
yielding progress), `plots` (PNG figures). The CLI is `cotexit analyze`.
"""

from cotexit.depth.analysis.metrics import LayerTokenStats, layer_means, layer_token_stats
from cotexit.depth.analysis.oracle import OracleSummary, oracle_layers, summarize_oracle
from cotexit.depth.analysis.report import AnalysisReport, TextReport
from cotexit.depth.analysis.run import AnalysisConfig, AnalysisEvent, analyze
from cotexit.depth.analysis.suitability import FORMULA, Suitability, suitability

__all__ = [
    "FORMULA",
    "AnalysisConfig",
    "AnalysisEvent",
    "AnalysisReport",
    "LayerTokenStats",
    "OracleSummary",
    "Suitability",
    "TextReport",
    "analyze",
    "layer_means",
    "layer_token_stats",
    "oracle_layers",
    "suitability",
    "summarize_oracle",
]
