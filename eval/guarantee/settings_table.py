"""The probe certified over greedy, T=0.6 and T=1.0 against the single-setting probe, setting by setting.

    python eval/guarantee/settings_table.py            # writes eval/guarantee/settings.json and settings.png

For each setting: the certified probe's `bench` run (realized harm with its 95% interval against epsilon, tokens
saved), and, on the problems both runs share with the same run to the end (same seed, same text), the tokens each
probe saves and the harm each causes. The single-setting probe's runs are the committed ones (calibrated at T=0.6);
its rows at greedy and T=1.0 are the first 300 test problems, at T=0.6 the first 1000.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SETTINGS = [  # (name, the certified probe's run, the single-setting probe's run)
    ("greedy", HERE / "settings-t0", REPO / "eval/shift/toy-arith-greedy"),
    ("T=0.6", HERE / "settings-t0.6", REPO / "eval/toy-arith/probe-eps0.02-t0.6"),
    ("T=1.0", HERE / "settings-t1.0", REPO / "eval/shift/toy-arith-t1.0"),
]
EPSILON = 0.02


def rows(folder: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (folder / "results.jsonl").read_text().splitlines())}


def same_full_run(a: dict, b: dict) -> bool:
    """The run thought to the end is the same in both: its text's hash, or, in runs from before the hash was
    recorded, its thinking and total tokens and its answer."""
    if "text_sha256" in a and "text_sha256" in b:
        return a["text_sha256"] == b["text_sha256"]
    return all(a[k] == b[k] for k in ("thinking_tokens", "total_tokens", "prediction"))


def on_common(new: dict[str, dict], old: dict[str, dict]) -> dict:
    """Tokens saved and harm of both probes on the problems whose run to the end is the same in both folders."""
    ids = [i for i in new if i in old and same_full_run(new[i]["full"], old[i]["full"])]
    out = {"n": len(ids), "n_same_full_run_of_shared": f"{len(ids)} of {len([i for i in new if i in old])}"}
    full = sum(new[i]["full"]["thinking_tokens"] for i in ids)
    for name, run in (("certified over settings", new), ("single setting (T=0.6)", old)):
        harm = sum(bool(run[i]["full"]["correct"]) and not run[i]["correct"] for i in ids)
        out[name] = {
            "tokens_saved_pct": 100.0 * (1 - sum(run[i]["thinking_tokens"] for i in ids) / full) if full else None,
            "harm_rate": harm / len(ids) if ids else None,
            "harm": harm,
        }
    return out


def main() -> None:
    table = []
    for name, new_dir, old_dir in SETTINGS:
        summary = json.loads((new_dir / "summary.json").read_text())
        harm = summary["empirical"]["accuracy_drop_events"]
        table.append({
            "setting": name,
            "run": str(new_dir.relative_to(REPO)),
            "n": summary["n"],
            "harm_rate": harm["rate"],
            "harm_ci95": harm["ci95"],
            "within_epsilon": harm["rate"] <= EPSILON,
            "accuracy_full": summary["accuracy_full"],
            "accuracy_exit": summary["accuracy_exit"],
            "tokens_saved_pct": summary["tokens_saved_pct"],
            "covers_run": summary["guarantee"].get("covers_run"),
            "live_check": (summary.get("live_check") or {}).get("message"),
            "against_single_setting_probe": {"run": str(old_dir.relative_to(REPO)), **on_common(rows(new_dir), rows(old_dir))},
        })
    (HERE / "settings.json").write_text(json.dumps({"epsilon": EPSILON, "settings": table}, indent=2) + "\n")
    plot(table, HERE / "settings.png")
    for t in table:
        common = t["against_single_setting_probe"]
        print(f"{t['setting']:>7}: harm {100 * t['harm_rate']:.1f}% [{100 * t['harm_ci95'][0]:.1f}, "
              f"{100 * t['harm_ci95'][1]:.1f}] of {t['n']}, saved {t['tokens_saved_pct']:.1f}%; on {common['n']} shared: "
              + ", ".join(f"{k} saves {v['tokens_saved_pct']:.1f}% with harm {100 * v['harm_rate']:.1f}%"
                          for k, v in common.items() if isinstance(v, dict)))


def plot(table: list[dict], path: Path) -> None:
    fig, (saved, harm) = plt.subplots(1, 2, figsize=(10, 4))
    names = [f"{t['setting']}\n({t['against_single_setting_probe']['n']} problems)" for t in table]
    x = range(len(names))
    for offset, key, color in ((-0.2, "certified over settings", "tab:blue"), (0.2, "single setting (T=0.6)", "tab:gray")):
        saved.bar([i + offset for i in x], [t["against_single_setting_probe"][key]["tokens_saved_pct"] for t in table],
                  width=0.4, color=color, label=key)
        harm.bar([i + offset for i in x], [100 * t["against_single_setting_probe"][key]["harm_rate"] for t in table],
                 width=0.4, color=color, label=key)
    saved.set_xticks(list(x), names)
    saved.set_ylabel("thinking tokens saved (%)")
    saved.set_title("savings, on the problems both runs share")
    harm.set_xticks(list(x), names)
    harm.axhline(100 * EPSILON, color="tab:red", linestyle="--", label=f"epsilon = {EPSILON:g}")
    harm.set_ylabel("harm rate (%): right to the end, wrong with the exit")
    harm.set_title("harm, on the same problems")
    harm.legend(loc="upper left", fontsize=8)
    saved.set_ylim(0, 75)
    saved.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
