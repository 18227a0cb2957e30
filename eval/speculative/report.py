"""One table and one plot from the side-by-side runs of `bench_speculative.py` in this folder.

    python eval/speculative/report.py            # prints the markdown table, writes eval/speculative/speedup.png

Rows are arms, columns the runs (model, suite, batch size); each cell is the speedup against transformers
`generate()` plain with its bootstrap 95% interval over batches, and how many rows gave exactly
`generate()`'s greedy text. Arms a run did not have (transformers' assisted decoding is batch 1 only) are
left empty.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(folder: Path) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return sorted(runs, key=lambda r: (r["model"] != "toy", r["model"], r["batch_size"]))


def title(run: dict) -> str:
    return f"{run['model']} {run['config']['suite']} b{run['batch_size']}"


def table(runs: list[dict]) -> str:
    arms: list[str] = []
    for run in runs:
        arms += [a for a in run["arms"] if a not in arms]
    lines = ["| arm | " + " | ".join(title(r) for r in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for arm in arms:
        cells = []
        for run in runs:
            r = run["arms"].get(arm)
            if r is None:
                cells.append("")
                continue
            lo, hi = r["speedup_ci95"]
            cells.append(f"{r['speedup']:.2f}x [{lo:.2f}, {hi:.2f}], {r['same_text_rows']}/{r['rows']} same")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| run | tokens | generate() tok/s | context drafts alone: tokens per verification pass |")
    lines.append("|---|---|---|---|")
    for run in runs:
        alone = ", ".join(f"{k}: {v['tokens_per_pass']:.2f}" for k, v in run["context_drafts_alone"].items())
        lines.append(f"| {title(run)} | {run['generated_tokens']} | {run['arms']['generate']['tokens_per_s']:.1f} | {alone} |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 4.6), sharex=False)
    for ax, run in zip(axes if len(runs) > 1 else [axes], runs):
        names = list(run["arms"])
        speed = [run["arms"][n]["speedup"] for n in names]
        colors = ["tab:gray" if n.startswith("generate") else ("tab:blue" if "exact" in n else "tab:olive") for n in names]
        ax.barh(names[::-1], speed[::-1], color=colors[::-1])
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_title(title(run), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("speedup vs generate()", fontsize=8)
    fig.suptitle(f"greedy decoding, same prompts, interleaved · {runs[0]['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(HERE))
    args = parser.parse_args()
    runs = load(Path(args.folder))
    if not runs:
        raise SystemExit(f"no bench_speculative.py results (*.json) in {args.folder}")
    print(table(runs))
    plot(runs, Path(args.folder) / "speedup.png")


if __name__ == "__main__":
    main()
