"""Training the toy reasoning model from scratch, with an early-exit loss on every layer.

Owns `TrainConfig` and `train_toy`: a plain PyTorch loop (AdamW, warmup then
cosine decay over the time or step budget, whichever ends first), loss only
on assistant-reply tokens, and the LayerSkip-style loss: every layer's output
goes through the shared final norm and LM head, with per-layer weights rising
with depth and the last layer weighted most. Checkpoints are written every
few minutes to `<out_dir>/checkpoint.pt`; rerunning with the same `out_dir`
resumes from it (batches are a pure function of seed and step). Progress is
reported through a callback and logging, never printed.

>>> cfg = TrainConfig(minutes=1.0)
>>> cfg.layer_weight(8, 8), cfg.layer_weight(4, 8) < 1
(1.0, True)
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from cotexit.toy.data import IGNORE, sample_batch
from cotexit.toy.model import ToyModelConfig, build_model
from cotexit.benchmarks.arith_splits import arith_structured
from cotexit.toy.tokenizer import build_tokenizer
from cotexit.toy.traces import TraceConfig

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in the model card)."""

    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    trace: TraceConfig = field(default_factory=TraceConfig)
    seed: int = 0
    minutes: float = 40.0  # wall-clock budget of the training loop (evaluation comes after)
    max_steps: int = 100_000
    batch_tokens: int = 3072
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 200
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    p_forced: float = 0.15  # fraction of examples cut at a cue and answered with the best guess
    early_exit_scale: float = 0.25  # weight of layer l < L is scale * l / L; the last layer has 1
    threads: int = 2
    bf16: bool = True
    checkpoint_every_s: float = 180.0
    eval_problems: int = 200
    agreement_problems: int = 100

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError(f"TrainConfig.minutes must be positive, got {self.minutes!r}")
        if not 0 <= self.p_forced < 1:
            raise ValueError(f"TrainConfig.p_forced must be in [0, 1), got {self.p_forced!r}")
        if self.batch_tokens < 512:
            raise ValueError(f"TrainConfig.batch_tokens must be >= 512, got {self.batch_tokens!r}")
        if self.lr <= 0 or self.max_steps <= 0 or self.threads <= 0:
            raise ValueError(f"TrainConfig lr, max_steps, threads must be positive, got {self.lr}, {self.max_steps}, {self.threads}")
        if not 0 <= self.early_exit_scale <= 1:
            raise ValueError(f"TrainConfig.early_exit_scale must be in [0, 1], got {self.early_exit_scale!r}")

    def layer_weight(self, layer: int, num_layers: int) -> float:
        """Loss weight of 1-based `layer`."""
        return 1.0 if layer == num_layers else self.early_exit_scale * layer / num_layers

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _lr_at(cfg: TrainConfig, step: int, frac: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def _early_exit_loss(model, cfg: TrainConfig, ids, mask, labels, captured: list) -> tuple[torch.Tensor, list[float]]:
    captured.clear()
    # Right padding under a causal mask: real tokens never see pads, pads carry no loss,
    # so no attention mask is needed (and SDPA keeps its fast causal path).
    model.model(input_ids=ids)
    targets = labels[:, 1:]  # (B, T-1)
    keep = targets != IGNORE  # (B, T-1)
    y = targets[keep]  # (N,)
    L = len(captured)
    total, weights, per_layer = 0.0, 0.0, []
    for l, h in enumerate(captured, start=1):
        hs = h[:, :-1][keep]  # (N, H)
        logits = model.lm_head(model.model.norm(hs)).float()  # (N, V)
        ce = F.cross_entropy(logits, y)
        w = cfg.layer_weight(l, L)
        total = total + w * ce
        weights += w
        per_layer.append(ce.item())
    return total / weights, per_layer


def _save_checkpoint(path: Path, model, opt, step: int, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, tmp)
    os.replace(tmp, path)


def train_toy(out_dir: str | Path, config: TrainConfig = TrainConfig(), progress: Progress | None = None) -> dict[str, Any]:
    """Train (or resume) in `out_dir`; write the model folder to `out_dir/model`; return the card."""
    from cotexit.toy.evaluate import behaviour, layer_agreement
    from cotexit.toy.export import save_folder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tok = build_tokenizer()
    problems = arith_structured("train")
    model = build_model(
        config.model, vocab_size=len(tok), pad_id=tok.pad_token_id, bos_id=tok.bos_token_id, eos_id=tok.eos_token_id
    )
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.95),
    )
    ckpt = out / "checkpoint.pt"
    step, elapsed_before = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before = state["step"], state["elapsed"]
        log.info("resumed from %s at step %d (%.0f s trained)", ckpt, step, elapsed_before)
    captured: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, o: captured.append(o[0] if isinstance(o, tuple) else o))
        for layer in model.model.layers
    ]
    budget = config.minutes * 60
    start = time.monotonic()
    last_ckpt = start
    tokens_seen = 0
    per_layer: list[float] = []
    model.train()
    try:
        while step < config.max_steps:
            elapsed = elapsed_before + time.monotonic() - start
            frac = max(elapsed / budget, step / config.max_steps)
            if frac >= 1.0:
                break
            lr = _lr_at(config, step, frac)
            for group in opt.param_groups:
                group["lr"] = lr
            ids, mask, labels = sample_batch(
                tok, problems, seed=config.seed, step=step, batch_tokens=config.batch_tokens,
                p_forced=config.p_forced, trace_cfg=config.trace, pad_id=tok.pad_token_id,
            )
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss, per_layer = _early_exit_loss(model, config, ids, mask, labels, captured)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            step += 1
            tokens_seen += int(mask.sum())
            event = {"step": step, "frac": min(frac, 1.0), "loss": loss.item(), "final_ce": per_layer[-1], "lr": lr}
            if step % 25 == 0:
                log.info("step %d frac %.3f loss %.4f final %.4f layer ce %s", step, frac, event["loss"], per_layer[-1],
                         " ".join(f"{c:.2f}" for c in per_layer))
            if progress is not None:
                progress(event)
            if time.monotonic() - last_ckpt > config.checkpoint_every_s:
                _save_checkpoint(ckpt, model, opt, step, elapsed_before + time.monotonic() - start)
                last_ckpt = time.monotonic()
    finally:
        for h in hooks:
            h.remove()
    train_seconds = elapsed_before + time.monotonic() - start
    _save_checkpoint(ckpt, model, opt, step, train_seconds)
    model.eval()
    eval_start = time.monotonic()
    if progress is not None:
        progress({"phase": "eval"})
    metrics = behaviour(model, tok, config.eval_problems)
    agreement = layer_agreement(model, tok, config.agreement_problems)
    card = {
        "name": "cotexit-toy",
        "reproduce": f"nice -n 5 cotexit toy train --out {out} --minutes {config.minutes:g} --seed {config.seed}"
        " (rerun with a larger --minutes to resume and extend; the LR schedule follows elapsed/budget)",
        "thinking_format": "toy",
        "architecture": "LlamaForCausalLM",
        "dtype": "float32",
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_config": config.to_json(),
        "seed": config.seed,
        "steps": step,
        "train_wall_seconds": round(train_seconds, 1),
        "tokens_this_session": tokens_seen,
        "threads": config.threads,
        "torch": torch.__version__,
        "final_layer_ce": per_layer,
        "eval": {**metrics, "split": "arith/test", "decoding": "greedy, model.generate"},
        "eval_wall_seconds": round(time.monotonic() - eval_start, 1),
        "layer_agreement": {
            "definition": "teacher-forced on arith test traces, reply tokens only: fraction of positions where "
            "layer l's top-1 through the final norm and LM head equals the last layer's top-1",
            "n_problems": config.agreement_problems,
            "per_layer": agreement,
        },
    }
    save_folder(model, tok, out / "model", card)
    log.info("saved %s", out / "model")
    return card
