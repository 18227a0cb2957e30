"""PNG plots of a depth analysis: layer-to-final curves and the oracle exit histogram.

Owns `plot_curves` (`curves.png`: top-1 agreement, pre-norm hidden cosine,
KL(final || layer) and top-K overlap against the layer, one line per text
kind), `plot_oracle` (`oracle.png`: share of tokens per oracle exit layer)
and `write_plots`. Reads only the JSON form of an `AnalysisReport`, so old
`analysis.json` files can be re-plotted. matplotlib is imported lazily,
with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PANELS = (
    ("top1_agreement", "top-1 agreement with final"),
    ("hidden_cosine_prenorm", "cosine(h_l, h_N), pre-norm"),
    ("kl_final_to_layer", "KL(final || layer), nats"),
    ("topk_overlap", "top-K overlap with final"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(data: dict[str, Any]) -> str:
    return f"{data['model']['model']} · {data['suite']} {data['split']}"


def plot_curves(data: dict[str, Any], path: str | Path) -> Path:
    """Four panels of per-layer curves; `data` is `AnalysisReport.to_json()`."""
    plt = _pyplot()
    layers = data["layers"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for ax, (key, label) in zip(axes.flat, PANELS):
        for kind, text in data["texts"].items():
            ax.plot(layers, text["curves"][key], marker=".", label=f"{kind} ({text['n_tokens']} tokens)")
        ax.set_title(label.replace("top-K", f"top-{data['top_k']}"), fontsize=10)
        ax.grid(alpha=0.3)
        if key == "kl_final_to_layer":
            ax.set_yscale("symlog", linthresh=0.01)
        else:
            ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    for ax in axes[1]:
        ax.set_xlabel("layer")
    handles, labels = axes[0, 0].get_legend_handles_labels()  # one legend for all panels, above them, off the data
    fig.suptitle(_title(data))
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.955), ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_oracle(data: dict[str, Any], path: str | Path) -> Path:
    """Share of reply tokens per oracle exit layer, one bar series per text kind."""
    plt = _pyplot()
    layers = data["layers"]
    kinds = list(data["texts"])
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, kind in enumerate(kinds):
        oracle = data["texts"][kind]["oracle"]
        total = max(1, oracle["n_tokens"])
        shares = [count / total for count in oracle["histogram"]]
        xs = [layer + (i - (len(kinds) - 1) / 2) * width for layer in layers]
        label = f"{kind}: mean {oracle['mean_layer']:.1f}, savings {oracle['depth_savings']:.1%}"
        bars = ax.bar(xs, shares, width=width, label=label)
        ax.axvline(oracle["mean_layer"], color=bars.patches[0].get_facecolor(), linestyle="--", linewidth=1)
    ax.set_xlabel("oracle exit layer (earliest layer whose top-1 is final and stays so)")
    ax.set_ylabel("share of reply tokens")
    ax.set_title(_title(data), pad=10 + 12 * len(kinds))
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=max(1, len(kinds)), frameon=False)  # off the bars
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_plots(data: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write `curves.png` and `oracle.png` into `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_curves(data, out / "curves.png"), plot_oracle(data, out / "oracle.png")]
