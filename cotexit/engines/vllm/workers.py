"""What the offline engine does inside vLLM's workers, through `LLM.collective_rpc`.

Owns `on_workers` and the calls it makes there: `register`, `forget`,
`take_rows`, `put_rows`. The controller's rows, the capture
model and the logits processor live in the worker that runs the model. With
one worker in this process (tensor-parallel size 1,
`VLLM_ENABLE_V1_MULTIPROCESSING=0`) `collective_rpc` calls these functions
here, on the same objects. With tensor parallelism each worker is a process
of its own, holding its shards of the model, its own capture buffer and its own
processor: the engine reaches them only through `collective_rpc`, so it
always goes through it, one code path for both.

Every worker of a tensor-parallel group computes the same full hidden
states (a decoder layer's output is all-reduced across the group) and samples
from the same logits, so every worker's processor keeps the same rows; they
are read back from the first worker only, with their cues and the probe's
scores on them (`CueEvent.score`, kept in the row). A row travels without its
tokenizer (`IncrementalDetokenizer` pickles without it) and is bound again
to the setup's tokenizer where it lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cotexit.controller.rows import RowState

def on_workers(llm: Any, call: Any, *args: Any) -> Any:
    """`call(worker, *args)` in every worker of `llm`; the first worker's result."""
    return llm.collective_rpc(call, args=args)[0]


def register(worker: Any, setup_id: str, setup: Any, layers: tuple[int, ...]) -> None:
    """Make `setup` known to this worker's processor, which reads the probe's `layers` from the capture model."""
    from cotexit.engines.vllm.control import SETUPS
    from cotexit.engines.vllm.runners import is_v2_runner, states_for

    runner = worker.worker.model_runner
    SETUPS[setup_id] = setup
    processor = _processor(worker)
    processor.states = states_for(runner, layers, v2=is_v2_runner(runner))
    if layers:
        processor.states.take(0)  # the capture model vLLM started holds the layers, or a clear error now


def forget(worker: Any, setup_id: str) -> None:
    """Forget `setup_id`."""
    from cotexit.engines.vllm.control import SETUPS

    SETUPS.pop(setup_id, None)


def take_rows(worker: Any, tags: Sequence[str]) -> list[tuple[RowState, bool, int]] | None:
    """The processor's (row, paused, base) for each request tag, which it forgets; from the first worker."""
    processor = _processor(worker)
    taken = [processor.rows.pop(tag) for tag in tags]
    out = [(request.row, request.paused, request.base) for request in taken]
    return out if getattr(worker.worker, "rank", 0) == 0 else None


def put_rows(worker: Any, setup_id: str, rows: Sequence[RowState]) -> None:
    """Hand paused rows back (the engine judged their cues): their resubmitted requests continue them."""
    from cotexit.engines.vllm.control import SETUPS, Request

    processor, setup = _processor(worker), SETUPS[setup_id]
    for row in rows:
        row.detok.bind(setup.tokenizer)
        processor.rows[f"{setup_id}:{row.key}"] = Request(setup, row, stopped=True, paused=True)


def _processor(worker: Any) -> Any:
    """cotexit's logits processor in this worker's model runner (a process may run several LLMs)."""
    from cotexit.engines.vllm.control import LIVE
    from cotexit.engines.vllm.runners import is_v2_runner

    runner = worker.worker.model_runner
    # Model Runner V2 keeps its processors in its sampler, the V1 runner in its persistent batch
    held = runner.sampler.logits_processors if is_v2_runner(runner) else runner.input_batch.logitsprocs.all
    (processor,) = [p for p in held if p in LIVE]
    return processor
