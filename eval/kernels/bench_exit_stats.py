"""Benchmark: fused exit statistics against norm + full logits + softmax + top-2.

Measures, at a Qwen2.5-1.5B-like LM head (hidden 1536, vocab 151936) and a
few row counts, the median wall time and the peak extra memory of
`cotexit.depth.kernels.exit_stats` (whatever backend dispatch picks for the
device) and of `unfused_exit_stats`. Writes `exit_stats_<device>.json` and
`exit_stats_<device>.png` next to this file (or to --out-dir).

Memory, per device:
- cuda: `torch.cuda.max_memory_allocated()` during the call minus
  `torch.cuda.memory_allocated()` before it (caching-allocator bytes).
- cpu: the peak of the running sum of the allocation (+) and free (-) events
  that `torch.profiler` records with `profile_memory=True`, relative to the
  start of the call. That is every byte that goes through torch's CPU
  allocator (outputs and temporaries inside ops); memory that BLAS/oneDNN
  allocate for themselves is not seen.

Usage: python eval/kernels/bench_exit_stats.py [--rows 1 4 16 64] [--repeats 10]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cotexit.depth.kernels import exit_stats
from cotexit.depth.kernels.dispatch import resolve_backend
from cotexit.depth.kernels.reference import unfused_exit_stats

SCHEMA = "cotexit.eval.exit_stats/1"
EPS = 1e-6
HERE = Path(__file__).resolve().parent


def make_inputs(rows: int, hidden: int, vocab: int, dtype: torch.dtype, device: str, seed: int = 0):
    gen = torch.Generator(device=device).manual_seed(seed)
    h = torch.randn(rows, hidden, generator=gen, device=device).to(dtype)  # (R, H)
    g = (1 + 0.1 * torch.randn(hidden, generator=gen, device=device)).to(dtype)  # (H,)
    w = (0.02 * torch.randn(vocab, hidden, generator=gen, device=device)).to(dtype)  # (V, H)
    return h, g, w


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fns: dict[str, Callable[[], object]], device: str, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Wall milliseconds of `repeats` calls of each function after `warmup` unmeasured ones.

    The functions take turns within each repeat (order alternating between
    repeats), so a change in machine load hits all of them alike.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeats):
        for name in list(fns)[:: 1 if i % 2 == 0 else -1]:
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def peak_extra_bytes(fn: Callable[[], object], device: str) -> int:
    """Peak bytes allocated by one call beyond what was allocated before it (see module docstring)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def describe_device(device: str) -> dict[str, object]:
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        return {"type": "cuda", "name": props.name, "memory_bytes": props.total_memory,
                "sms": props.multi_processor_count}
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return {"type": "cpu", "name": model, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


def run(args: argparse.Namespace) -> dict[str, object]:
    device = args.device
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    backend = resolve_backend(torch.device(device))
    load_before = os.getloadavg()
    results = []
    for rows in args.rows:
        h, g, w = make_inputs(rows, args.hidden, args.vocab, dtype, device)
        methods = {
            "fused": functools.partial(exit_stats, h, g, w, eps=EPS, block_v=args.block_v),
            "unfused": functools.partial(unfused_exit_stats, h, g, w, eps=EPS),
        }
        fused, unfused = methods["fused"](), methods["unfused"]()
        check = {
            "argmax_agreement": (fused.argmax == unfused.argmax).float().mean().item(),
            "max_abs_diff_top1_prob": (fused.top1_prob - unfused.top1_prob).abs().max().item(),
            "max_abs_diff_lse": (fused.lse - unfused.lse).abs().max().item(),
        }
        all_times = time_calls(methods, device, args.warmup, args.repeats)
        for name, fn in methods.items():
            times = all_times[name]
            results.append({
                "rows": rows,
                "method": name,
                "backend": backend if name == "fused" else "torch (dense)",
                "median_ms": statistics.median(times),
                "min_ms": min(times),
                "times_ms": times,
                "peak_extra_bytes": peak_extra_bytes(fn, device),
                "check_vs_unfused": check if name == "fused" else None,
            })
            r = results[-1]
            print(f"rows={rows:3d} {name:8s} median {r['median_ms']:9.2f} ms  peak extra "
                  f"{r['peak_extra_bytes'] / 2**20:9.2f} MiB", file=sys.stderr)
        del methods, fused, unfused, h, g, w  # free the head before the next one is made
    return {
        "schema": SCHEMA,
        "command": "python " + " ".join([os.path.relpath(sys.argv[0], Path.cwd())] + sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "triton": triton_version(),
        "device": describe_device(device),
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
        "config": {"hidden": args.hidden, "vocab": args.vocab, "rows": args.rows, "dtype": args.dtype,
                   "eps": EPS, "block_v": args.block_v, "warmup": args.warmup, "repeats": args.repeats,
                   "fused_backend": backend},
        "timing_method": "wall clock (time.perf_counter, CUDA synchronised) of one call; median over repeats after "
                         "warmup calls; fused and unfused take turns within each repeat; inputs are generated "
                         "before timing and not counted",
        "memory_method": (
            "cuda: torch.cuda.max_memory_allocated() during one call minus memory_allocated() before it"
            if device == "cuda" else
            "cpu: peak of the running sum of torch.profiler(profile_memory=True) allocation/free events during "
            "one call, i.e. bytes through torch's CPU allocator (outputs and op temporaries); BLAS/oneDNN "
            "private scratch is not seen; inputs (hidden, norm weight, LM head) are not counted"
        ),
        "results": results,
    }


def plot(report: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for method, style in (("fused", "o-"), ("unfused", "s--")):
        rows = [r["rows"] for r in results if r["method"] == method]
        ax_t.plot(rows, [r["median_ms"] for r in results if r["method"] == method], style, label=method)
        ax_m.plot(rows, [r["peak_extra_bytes"] / 2**20 for r in results if r["method"] == method], style,
                  label=method)
    cfg, dev = report["config"], report["device"]
    for ax, label in ((ax_t, "median time (ms)"), (ax_m, "peak extra memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(cfg["rows"], [str(r) for r in cfg["rows"]])
        ax.set_xlabel("rows")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"exit statistics, hidden {cfg['hidden']}, vocab {cfg['vocab']}, {cfg['dtype']}, "
                 f"{dev['name']} ({dev.get('torch_threads', dev.get('sms'))} "
                 f"{'torch threads' if dev['type'] == 'cpu' else 'SMs'})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                        help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--block-v", type=int, default=None, help="vocabulary tile; default: the backend's")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads; default: torch's")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    if args.dtype is None:
        args.dtype = "bfloat16" if args.device == "cuda" else "float32"
    if min(args.rows) < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("rows and repeats must be >= 1, warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    report = run(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"exit_stats_{args.device}"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out_dir / f"{stem}.png")
    print(f"wrote {args.out_dir / stem}.json and .png", file=sys.stderr)


if __name__ == "__main__":
    main()
