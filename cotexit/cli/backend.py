"""The `--backend` option and the engine's own options, checked before a model loads.

Owns `add_backend_arg` (the engine choice and vLLM's options), `vllm_options`
(them as the engine's `VllmOptions`) and `check_backend_args`: layer exits,
and probes certified with one, run on `hf` only; vLLM must be installed and
its tensor-parallel size possible on this machine. The exit options
themselves are `cotexit.cli.exits`'; the model and decoding ones
`cotexit.cli.common`'s.
"""

from __future__ import annotations

import argparse

from cotexit.cli.exits import certified_layer_exit, probe_path
from cotexit.engines.backends import BACKENDS, check_backend


def add_backend_arg(parser: argparse.ArgumentParser, choices: tuple[str, ...] = BACKENDS) -> None:
    engines = {
        "hf": "hf = cotexit's own decode loop (default; the only one with layer exits)",
        "generate": "generate = an unmodified transformers model.generate()",
        "vllm": "vllm = vLLM (pip install 'cotexit[vllm]')",
    }
    parser.add_argument(
        "--backend",
        choices=choices,
        default="hf",
        help=f"engine: {', '.join(engines[c] for c in choices)}; all run the same controller",
    )
    group = parser.add_argument_group("vLLM engine (--backend vllm)")
    group.add_argument("--tensor-parallel-size", type=int, default=1, help="workers per model, one GPU (or on a CPU machine one core) each (default: 1)")
    group.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="share of GPU memory vLLM may take (default: 0.9)")
    group.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    group.add_argument(
        "--enforce-eager", action=argparse.BooleanOptionalAction, default=False,
        help="eager mode: no torch.compile, no CUDA graphs (default: off, vLLM's own compiled mode)",
    )


def check_backend_args(args: argparse.Namespace) -> None:
    """Backend errors before a model loads (layer exits run on hf only; vLLM's options and install)."""
    check_backend(args.backend, layer_exit=bool(getattr(args, "layer_exit", None)))
    if args.backend != "hf" and hasattr(args, "probe"):
        if certified_layer_exit(args) is not None:
            raise ValueError(
                f"{probe_path(args)} was certified with a depth exit, which runs on the hf backend only "
                f"(cotexit's decode loop), not on --backend {args.backend}"
            )
    if args.backend == "vllm":
        options = vllm_options(args)
        from cotexit.engines.vllm import check_parallel

        check_parallel(options.tensor_parallel_size)  # (imports vLLM: its install line first)


def vllm_options(args: argparse.Namespace):
    """The vLLM engine options of `args` (None on other backends)."""
    if args.backend != "vllm":
        return None
    from cotexit.engines.vllm import VllmOptions

    return VllmOptions(
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager,
        dtype=args.dtype,
    )
