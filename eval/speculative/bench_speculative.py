"""Exact layer exit side by side with what users would pick instead, on the same prompts, in one process.

Arms (each decodes greedily, `--max-new-tokens` per prompt, same end-of-sequence tokens):
- `generate`: transformers `generate()`, plain greedy: the baseline every ratio is against;
- `generate-early-exit-E`: transformers' self-speculative early exit (`assistant_early_exit=E`, drafts
  from layer E; batch 1 only, as transformers allows);
- `generate-prompt-lookup`: transformers' prompt-lookup decoding (`prompt_lookup_num_tokens`; batch 1 only);
- `cotexit-plain`: cotexit's decode loop, every layer;
- `cotexit-exact-D`: cotexit exact layer exit with drafter D (`layer`, `context`, `auto`), online draft policy,
  the draft layer chosen online among `--draft-layer` candidates;
- `cotexit-exact-D-fixed` (with `--fixed`): the same with the fixed schedule (always `--max-draft` drafts, from
  the first candidate layer);
- `cotexit-default` (with `--default-arm`): what `cotexit bench --layer-exit exact` runs with no other depth option:
  the config and engines come from the CLI's own parser and `build_treatment`, and a fresh engine decodes each
  batch, as `bench` makes one per batch (its engines share one draft policy); so this arm measures the CLI's
  defaults and cannot drift from them.

    python eval/speculative/bench_speculative.py --model toy --suite arith --limit 24 --batch-size 1
    python eval/speculative/bench_speculative.py --model smollm2-135m --suite gsm8k --limit 16 --batch-size 1 --early-exit 8,16,24
    python eval/speculative/bench_speculative.py --model toy --limit 48 --drafters layer,auto --no-hf-assisted --default-arm

Every arm first runs once, untimed, on the `--batch-size` problems after the measured ones, and the
cotexit exact arms then start again with fresh draft policies. Every batch of prompts runs through every arm in turn, the order rotating from batch to batch, so a
shared machine's slow drifts hit all arms alike. Each arm's text is compared with `generate`'s, row by
row. Reported per arm: tokens per second, the speedup against `generate` (total time over all batches,
with a bootstrap 95% interval over batches), rows with the same text, and for cotexit exact the drafts
proposed and accepted per source and what its draft policy measured. Also reported: the acceptance of
context drafts alone on the model's own greedy text (`generate`'s), as tokens per verification pass,
computed by replaying prompt lookup over that text with `--max-draft` drafts.

cotexit arms run without cue watching (`watch_cues=False`): this measures engines; what the length-exit
controller costs is `eval/overhead/`. Results go to `--out` (JSON) and a bar chart next to it (PNG).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.provenance import provenance
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.drafters import context_draft
from cotexit.depth.speculative import SpeculativeForward
from cotexit.controller.setup import eos_ids
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder
from cotexit.models import chat_prompt, load_model

Arm = Callable[[list[str]], list[list[int]]]  # prompts -> generated token ids per row (through the first EOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--suite", default="arith")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--draft-layer", default=None,
        help="cotexit's candidate draft layers, comma-separated; the fastest measured drafts (default: N/8, N/4, N/2)",
    )
    parser.add_argument("--max-draft", type=int, default=6, help="cotexit: the most drafts per cycle (default: 6)")
    parser.add_argument("--ngram", type=int, default=3)
    parser.add_argument("--drafters", default="layer,context,auto")
    parser.add_argument("--fixed", action="store_true", help="also run each drafter with the fixed schedule")
    parser.add_argument(
        "--default-arm", action="store_true", help="also run `cotexit-default`: `cotexit bench --layer-exit exact`'s defaults"
    )
    parser.add_argument(
        "--no-hf-assisted", action="store_true",
        help="leave out transformers' assisted arms (early exit, prompt lookup) to keep a run short",
    )
    parser.add_argument("--early-exit", default=None, help="comma-separated E for `assistant_early_exit` (default: N/4, N/2)")
    parser.add_argument("--lookup-tokens", type=int, default=10, help="`prompt_lookup_num_tokens` (default: 10)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True, help="results JSON; the plot goes next to it")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    model, tok = lm.model, lm.tokenizer
    n_layers = int(model.config.num_hidden_layers)
    if args.draft_layer:
        draft_layers = tuple(int(e) for e in args.draft_layer.split(","))
    else:
        draft_layers = tuple(sorted({max(1, n_layers // 8), max(1, n_layers // 4), n_layers // 2}))
    early_exits = [int(e) for e in args.early_exit.split(",")] if args.early_exit else sorted({max(1, n_layers // 4), n_layers // 2})
    # the `--batch-size` problems after the measured ones warm every arm up, untimed (first calls pay one-off
    # costs: new shapes, allocations), and then every cotexit exact arm starts again with a fresh draft policy,
    # so what its policy takes to learn is measured
    problems = load_problems(args.suite, None, args.limit + args.batch_size)
    if len(problems) <= args.limit:
        sys.exit(f"{args.suite} has {len(problems)} problems: --limit {args.limit} leaves none to warm up on")
    prompts = [chat_prompt(tok, build_prompt(p)) for p in problems]
    prompts, warmup = prompts[: args.limit], prompts[args.limit :]
    batches = [prompts[i : i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]
    stops = sorted(eos_ids(model, tok))
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]

    arms: dict[str, Arm] = {"generate": hf_arm(model, tok, args.max_new_tokens, stops, pad)}
    if args.batch_size == 1 and not args.no_hf_assisted:
        for e in early_exits:
            arms[f"generate-early-exit-{e}"] = hf_arm(model, tok, args.max_new_tokens, stops, pad, assistant_early_exit=e)
        arms["generate-prompt-lookup"] = hf_arm(
            model, tok, args.max_new_tokens, stops, pad, prompt_lookup_num_tokens=args.lookup_tokens
        )
    decode = DecodeConfig(max_new_tokens=args.max_new_tokens)
    arms["cotexit-plain"] = cotexit_arm(Decoder(model, tok, lm.fmt, decode, watch_cues=False))
    configs: dict[str, LayerExitConfig] = {}
    for drafter in args.drafters.split(","):
        for adaptive in (True, False) if args.fixed else (True,):
            configs[f"cotexit-exact-{drafter}" + ("" if adaptive else "-fixed")] = LayerExitConfig(
                mode="exact", draft_layers=draft_layers, max_draft=args.max_draft, drafter=drafter, ngram=args.ngram,
                adaptive=adaptive,
            )
    engines: dict[str, list[SpeculativeForward]] = {}  # per arm: the engines it ran (one, or one per batch)
    default_settings = None

    def exact_arms() -> None:
        nonlocal default_settings
        for name, config in configs.items():
            engines[name] = [SpeculativeForward(model, config)]
            arms[name] = cotexit_arm(Decoder(model, tok, lm.fmt, decode, watch_cues=False, step_forward=engines[name][0]))
        if args.default_arm:
            treatment = cli_default_treatment(lm, args)  # (a fresh one after the warm-up: a fresh draft policy)
            default_settings = treatment.settings["layer_exit"]
            engines["cotexit-default"] = []
            arms["cotexit-default"] = per_batch_arm(treatment.engine, lm, decode, engines["cotexit-default"])

    exact_arms()
    names = list(arms)
    for name in names:
        arms[name](warmup)
    print(f"warmed up every arm on {len(warmup)} held-out prompt(s)", file=sys.stderr, flush=True)
    exact_arms()

    seconds = {name: [] for name in names}  # per batch
    texts: dict[str, list[list[int]]] = {name: [] for name in names}
    for b, batch in enumerate(batches):
        order = names[b % len(names) :] + names[: b % len(names)]
        for name in order:
            began = time.perf_counter()
            out = arms[name](batch)
            seconds[name].append(time.perf_counter() - began)
            texts[name] += out
        print(f"batch {b + 1}/{len(batches)}: " + " ".join(f"{n}={seconds[n][-1]:.2f}s" for n in names), file=sys.stderr, flush=True)

    reference = texts["generate"]
    tokens = sum(len(t) for t in reference)
    results: dict[str, Any] = {}
    for name in names:
        total = sum(seconds[name])
        results[name] = {
            "seconds": total,
            "seconds_per_batch": seconds[name],
            "tokens_per_s": tokens / total,
            "speedup": sum(seconds["generate"]) / total,
            "speedup_ci95": bootstrap_ratio(seconds["generate"], seconds[name]),
            "same_text_rows": sum(a == b for a, b in zip(texts[name], reference)),
            "rows": len(reference),
        }
        if name in engines:
            results[name] |= engine_report(engines[name])
    prompt_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    report = {
        "command": "python " + " ".join(sys.argv),
        **provenance(vars(args), {"suite": args.suite, "problems": len(prompts), "warmup_problems": len(warmup)}),
        "model": args.model,
        "layers": n_layers,
        "draft_layers": list(draft_layers),
        **({"cotexit_default_layer_exit": default_settings} if default_settings is not None else {}),
        "batch_size": args.batch_size,
        "generated_tokens": tokens,
        "arms": results,
        "context_drafts_alone": {
            f"k={k}": context_replay(prompt_ids, reference, args.ngram, k) for k in sorted({args.max_draft, args.lookup_tokens})
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out.with_suffix(".png"))
    width = max(len(n) for n in names)
    for name in names:
        r = results[name]
        lo, hi = r["speedup_ci95"]
        print(f"{name:<{width}}  {r['tokens_per_s']:7.1f} tok/s  {r['speedup']:.2f}x [{lo:.2f}, {hi:.2f}]  same text {r['same_text_rows']}/{r['rows']}")
    print(f"results: {out}")


def cli_default_treatment(lm, args: argparse.Namespace):
    """What `cotexit bench --suite S --model M --layer-exit exact` builds: the CLI's parser and `build_treatment`."""
    from cotexit.cli.exits import build_treatment, fill_run_defaults
    from cotexit.cli.main import build_parser

    cli = build_parser().parse_args(["bench", "--suite", args.suite, "--model", args.model, "--layer-exit", "exact"])
    fill_run_defaults(cli)  # as `bench` does first: the decoding options left out
    return build_treatment(cli, lm)


def per_batch_arm(make_engine: Callable[[], SpeculativeForward], lm, decode: DecodeConfig, made: list) -> Arm:
    """A fresh engine for every batch, as `bench` decodes each batch (`cotexit.experiments.paired.run_pair`)."""

    def arm(prompts: list[str]) -> list[list[int]]:
        made.append(make_engine())
        decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, decode, watch_cues=False, step_forward=made[-1])
        return cotexit_arm(decoder)(prompts)

    return arm


def engine_report(made: list[SpeculativeForward]) -> dict[str, Any]:
    """Drafts per source over an arm's engines, and its draft policy (one: `bench`'s engines share theirs)."""
    drafted = sum(e.stats.drafted for e in made)
    drafted_context = sum(e.stats.drafted_context for e in made)
    accepted = sum(e.stats.accepted for e in made)
    accepted_context = sum(e.stats.accepted_context for e in made)
    tokens = sum(e.stats.tokens for e in made)
    assert len({id(e.policy) for e in made}) == 1, "an arm's engines share one draft policy"
    return {
        "engines": len(made),
        "drafted_layer": drafted - drafted_context,
        "accepted_layer": accepted - accepted_context,
        "drafted_context": drafted_context,
        "accepted_context": accepted_context,
        "blocks_per_token": sum(e.stats.exit_layer_sum for e in made) / tokens if tokens else float(made[0].stats.num_layers),
        "draft_policy": made[-1].policy.to_json(),
    }


def hf_arm(model, tok, max_new: int, stops: list[int], pad: int, **extra) -> Arm:
    def arm(prompts: list[str]) -> list[list[int]]:
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=max_new, do_sample=False, eos_token_id=stops, pad_token_id=pad, **extra
            )
        return [until_eos(row.tolist(), stops) for row in out[:, enc["input_ids"].shape[1] :]]

    return arm


def cotexit_arm(decoder: Decoder) -> Arm:
    stops = set(decoder.eos_ids)

    def arm(prompts: list[str]) -> list[list[int]]:
        return [until_eos(r.token_ids, stops) for r in decoder.generate(prompts)]

    return arm


def until_eos(ids: list[int], stops) -> list[int]:
    for i, t in enumerate(ids):
        if t in stops:
            return ids[: i + 1]
    return ids


def context_replay(prompt_ids: list[list[int]], generated: list[list[int]], ngram: int, k: int) -> dict[str, float]:
    """Prompt lookup replayed over each row's own text: tokens gained per verification pass."""
    passes = produced = drafted = accepted = 0
    for prompt, gen in zip(prompt_ids, generated):
        i = 0  # gen[i] is the token fed next
        while i < len(gen):
            proposal = context_draft(list(prompt) + gen[: i + 1], ngram, k)
            agree = 0
            while agree < len(proposal) and i + 1 + agree < len(gen) and proposal[agree] == gen[i + 1 + agree]:
                agree += 1
            passes += 1
            drafted += len(proposal)
            accepted += agree
            step = agree + 1
            produced += min(step, len(gen) - i)
            i += step
    return {
        "tokens_per_pass": produced / passes if passes else 0.0,
        "drafted": drafted,
        "accepted": accepted,
        "acceptance": accepted / drafted if drafted else None,
    }


def bootstrap_ratio(base: list[float], arm: list[float], draws: int = 2000) -> list[float]:
    rng = random.Random(0)
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(len(base)) for _ in base]
        ratios.append(sum(base[i] for i in picks) / sum(arm[i] for i in picks))
    ratios.sort()
    return [ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]]


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["arms"])
    speed = [report["arms"][n]["speedup"] for n in names]
    lo = [s - report["arms"][n]["speedup_ci95"][0] for s, n in zip(speed, names)]
    hi = [report["arms"][n]["speedup_ci95"][1] - s for s, n in zip(speed, names)]
    colors = ["tab:gray" if n.startswith("generate") else ("tab:blue" if "exact" in n else "tab:olive") for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
    ax.barh(names[::-1], speed[::-1], xerr=[lo[::-1], hi[::-1]], color=colors[::-1])
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xlabel("speedup against transformers generate() plain (greedy, same prompts)")
    ax.set_title(f"{report['model']} · {report['config']['suite']} · batch {report['batch_size']} · {report['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
