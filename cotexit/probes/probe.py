"""The probe: from cue features to P(the forced answer at this cue is right).

Owns `ProbeConfig` and `Probe`. Fitting uses scikit-learn (StandardScaler,
optional PCA, then LogisticRegression or a small MLP); the fitted pipeline is
reduced to plain arrays (`Probe.arrays`) so that scoring at inference is a few
torch operations and the artifact is safetensors, never a pickle. Choosing a
threshold is `cotexit.calibration`'s job; saving is `cotexit.probes.artifact`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

ProbeKind = Literal["logistic", "mlp"]


@dataclass(frozen=True)
class ProbeConfig:
    """`kind` logistic (default) or mlp; `pca` components (0 = none); `C` inverse L2 strength; `seed`."""

    kind: ProbeKind = "logistic"
    pca: int = 0
    C: float = 1.0
    hidden: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("logistic", "mlp"):
            raise ValueError(f"probe kind must be 'logistic' or 'mlp', got {self.kind!r}")
        if self.pca < 0:
            raise ValueError(f"pca must be >= 0, got {self.pca}")
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Probe:
    """A fitted probe as arrays: scale -> (PCA) -> logistic or one-hidden-layer MLP -> sigmoid.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 8)).astype(np.float32); y = X[:, 0] > 0
    >>> probe = Probe.fit(X, y, ProbeConfig())
    >>> bool(probe.score(torch.from_numpy(X[:1]))[0] > 0.5) == bool(y[0])
    True
    """

    def __init__(self, config: ProbeConfig, arrays: dict[str, torch.Tensor]) -> None:
        required = {"mean", "scale", "w1", "b1"} | ({"w2", "b2"} if config.kind == "mlp" else set())
        required |= {"pca_mean", "pca_components"} if config.pca else set()
        missing = required - set(arrays)
        if missing:
            raise ValueError(f"probe arrays lack {sorted(missing)}")
        self.config = config
        self.arrays = {k: v.float().contiguous() for k, v in arrays.items()}

    @property
    def dim(self) -> int:
        return int(self.arrays["mean"].shape[0])

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, config: ProbeConfig) -> Probe:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
        from sklearn.preprocessing import StandardScaler

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=bool)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"features must be (n, d) with one label each; got {X.shape} and {y.shape}")
        if y.all() or not y.any():
            raise ValueError(f"probe training needs both labels; got {int(y.sum())} right of {len(y)} cues")
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
        arrays: dict[str, np.ndarray] = {"mean": scaler.mean_, "scale": scaler.scale_}
        if config.pca:
            pca = PCA(n_components=min(config.pca, *Z.shape), random_state=config.seed).fit(Z)
            Z = pca.transform(Z)
            arrays |= {"pca_mean": pca.mean_, "pca_components": pca.components_}
        if config.kind == "logistic":
            model = LogisticRegression(C=config.C, max_iter=2000, class_weight="balanced").fit(Z, y)
            arrays |= {"w1": model.coef_[0][:, None], "b1": model.intercept_}
        else:
            model = MLPClassifier(
                hidden_layer_sizes=(config.hidden,), alpha=1.0 / config.C, max_iter=500, random_state=config.seed
            ).fit(Z, y)
            arrays |= {
                "w1": model.coefs_[0],
                "b1": model.intercepts_[0],
                "w2": model.coefs_[1],
                "b2": model.intercepts_[1],
            }
        return cls(config, {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()})

    def score(self, X: torch.Tensor) -> torch.Tensor:
        """(n, d) features -> (n,) probabilities that the forced answer is right."""
        a = self.arrays
        X = X.float()
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"probe expects features of shape (n, {self.dim}), got {tuple(X.shape)}")
        z = (X - a["mean"]) / a["scale"]  # (n, d)
        if self.config.pca:
            z = (z - a["pca_mean"]) @ a["pca_components"].T  # (n, k)
        h = z @ a["w1"] + a["b1"]  # (n, 1) or (n, hidden)
        if self.config.kind == "mlp":
            h = torch.relu(h) @ a["w2"] + a["b2"]  # (n, 1)
        return torch.sigmoid(h[:, 0])  # (n,)
