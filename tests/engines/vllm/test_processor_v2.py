"""The Model Runner V2 processor against vLLM's own V2 interface classes, and against the V1 processor.

Model Runner V2 needs Triton, which the CPU build lacks, so it cannot run
here end to end. These tests build what it would hand the processor, with
the classes the installed vLLM ships: its `RequestState` (slots from its free
list, reused; the CPU worker's own buffer patches, `vllm.v1.worker.cpu.shm`,
make it constructible on a CPU), `LogitsProcRequestState` and
`LogitsContext`. The one stand-in is the Triton kernel that writes staged
token ids to the device tensors (`flush`). A small scheduler drives the V1
and the V2 processors through the same requests (the same token streams and
the same synthetic probe-layer states), the V2 one with its rows reordered
every step, requests added mid-run into reused slots, one cancelled and one
preempted and resumed, and both must decide the same: the same exits, at the
same steps and cues, the same forced tokens. The shipped keep-cue probe
scores the states, which are chosen to fire at known cues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm.v1.worker.gpu.sample.logits_processor")  # not just "vllm": this folder imports as one

import numpy as np  # noqa: E402
import torch  # noqa: E402
import vllm.v1.worker.cpu.shm  # noqa: E402,F401  (the CPU worker's patches: UVA buffers as plain CPU tensors)
from vllm import SamplingParams  # noqa: E402
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality  # noqa: E402
from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext, LogitsProcRequestState  # noqa: E402
from vllm.v1.worker.gpu.states import RequestState  # noqa: E402

from cotexit.controller import ExitPolicies, ExitSetup  # noqa: E402
from cotexit.engines.vllm.capture import StepStates  # noqa: E402
from cotexit.engines.vllm.control import EXTRA_KEY, SETUPS  # noqa: E402
from cotexit.engines.vllm.processor import CotexitLogitsProcessor  # noqa: E402
from cotexit.engines.vllm.processor_v2 import CotexitLogitsProcessorV2, FedTokens  # noqa: E402
from cotexit.models import load_model  # noqa: E402
from cotexit.probes.controller import ProbeExitPolicy  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402

pytestmark = pytest.mark.vllm
PROBE = TOY_MODEL_DIR.parents[3] / "probes" / "toy-arith-keep-cue"  # cotexit/models/weights/toy
SLOTS = 3  # V2's max_num_reqs: fewer than the requests, so slots are reused
MAX_TOKENS = 160
NO_CONFIG = SimpleNamespace(speculative_config=None)


# --- what the model would write, and the states it would have -------------------------------------------------
def thinking(a: int, b: int) -> str:
    s = a + b
    return (f"<think>\nTom has {a} apples and gets {b} more.\nSo {a} plus {b} is {s}.\nWait, let me check again.\n"
            f"{a} plus {b} is {s}.\nHmm, that is right.\nAlternatively, {b} plus {a} is {s}.\nLet me verify: {s}.\n"
            f"</think>\nThe final answer is \\boxed{{{s}}}")


@dataclass
class Req:
    name: str
    prompt: list[int]
    script: list[int]  # what the model emits when nothing forces it
    params: SamplingParams
    high_from: int | None  # output index from which the states make the probe fire (None: never)
    out: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def lm():
    return load_model("toy", weights=False)


@pytest.fixture(scope="module")
def policy():
    return ProbeExitPolicy.load(PROBE)


@pytest.fixture(scope="module")
def setup_id(lm, policy):
    setup = ExitSetup.for_model(lm.model, lm.tokenizer, lm.fmt, policies=ExitPolicies([policy]), max_answer_tokens=8)
    SETUPS["v2-test"] = setup
    yield "v2-test"
    SETUPS.pop("v2-test", None)


@pytest.fixture(scope="module")
def layer_states(policy):
    """Two probe-layer state sets: one the shipped probe scores above its threshold, one below."""
    candidates = torch.randn(64, 3 * 192, generator=torch.Generator().manual_seed(0))  # (64, L*H)
    scores = policy.artifact.probe.score(candidates)  # (64,)
    high, low = candidates[int(scores.argmax())], candidates[int(scores.argmin())]
    assert scores.max() >= policy.threshold > scores.min()
    split = lambda x: {layer: x[i * 192 : (i + 1) * 192] for i, layer in enumerate((3, 5, 8))}  # noqa: E731
    return split(high), split(low)


def requests(lm, extra: dict[str, dict | None], plan: dict[str, int | None]) -> dict[str, Req]:
    tok = lambda text: list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    reqs = {}
    for i, name in enumerate(extra):
        a, b = 2 + i, 3 + 2 * i
        params = SamplingParams(max_tokens=MAX_TOKENS, extra_args=extra[name])
        reqs[name] = Req(name, tok(f"<|user|>What is {a} plus {b}?<|assistant|>"), tok(thinking(a, b)) + [2], params, plan[name])
    return reqs


def raw_logits(name: str, k: int, vocab: int) -> torch.Tensor:
    """The model's logits for `name`'s output token k: a fixed draw per (request, token)."""
    seed = sum(map(ord, name)) * 1009 + k
    return torch.randn(vocab, generator=torch.Generator().manual_seed(seed))  # (V,)


# --- the runners' bookkeeping, as vLLM 0.32 keeps it -------------------------------------------------------------
def flush(req_states: RequestState) -> None:
    """The runner's `req_states.apply_staged_writes()` without its Triton kernel: the staged token ids and lengths
    written to the device tensors, then the host mirrors copied (as the runner does before the sampler's)."""
    for tensor in (req_states.all_token_ids, req_states.total_len, req_states.num_computed_tokens):
        begin = 0
        for index, start, end in zip(tensor._staged_write_indices, tensor._staged_write_starts, tensor._staged_write_cu_lens):
            values = torch.tensor(tensor._staged_write_contents[begin:end], dtype=tensor.dtype)
            target = tensor.gpu[index] if tensor.gpu.dim() == 2 else tensor.gpu[index : index + 1]
            target[start : start + len(values)] = values
            begin = end
        tensor.clear_staged_writes()
    req_states.prompt_len.copy_to_uva()
    req_states.prefill_len.copy_to_uva()


class V1Runner:
    """vLLM's V1 persistent batch: a request enters at the lowest free index, leaves a hole that the highest row
    moves into (one-way), and now and then two rows swap."""

    def __init__(self, make) -> None:
        self.runner = SimpleNamespace(requests={})  # what the serve processor checks finished requests against
        self.step_states = StepStates()
        self.processor = make(self.runner, self.step_states)
        self.index: dict[str, int] = {}
        self.removed: list[int] = []
        self.added: list[tuple] = []
        self.moves = 0

    def add(self, req: Req) -> None:
        used = set(self.index.values())
        self.index[req.name] = i = min(set(range(len(used) + 1)) - used)
        self.added.append((i, req.params, req.prompt, req.out))
        self.runner.requests[req.name] = SimpleNamespace(output_token_ids=req.out)

    def remove(self, req: Req, *, preempted: bool) -> None:
        self.removed.append(self.index.pop(req.name))
        if not preempted:
            self.runner.requests.pop(req.name)

    def rows(self, t: int, order: list[str]) -> list[str]:
        moved = []
        n = len(self.index)
        holes = sorted(set(range(n)) - set(self.index.values()))
        for name in sorted(self.index, key=self.index.get, reverse=True):
            if self.index[name] >= n:
                moved.append((self.index[name], holes[0], MoveDirectionality.UNIDIRECTIONAL))
                self.index[name] = holes.pop(0)
        if t % 4 == 3 and n >= 2:
            by_index = sorted(self.index, key=self.index.get)
            first, last = by_index[0], by_index[-1]
            moved.append((self.index[first], self.index[last], MoveDirectionality.SWAP))
            self.index[first], self.index[last] = self.index[last], self.index[first]
        self.moves += len(moved)
        changed = self.removed or self.added or moved
        update = BatchUpdate(batch_size=n, removed=self.removed, added=self.added, moved=moved) if changed else None
        self.processor.update_state(update)
        self.removed, self.added = [], []
        return sorted(self.index, key=self.index.get)

    def apply(self, logits: torch.Tensor, rows: list[str], reqs: dict[str, Req]) -> None:
        self.processor.apply(logits)

    def controlled(self, rows: list[str]) -> dict:
        batch = self.processor.batch
        return {name: batch[self.index[name]][0] for name in rows if self.index[name] in batch}

    def commit(self, req: Req, token: int) -> None:
        pass  # the processor holds vLLM's output list itself


class V2Runner:
    """Model Runner V2's request slots (its own `RequestState`), rows reordered every step."""

    def __init__(self, make, vocab: int, slots: int = SLOTS) -> None:
        self.req_states = RequestState(slots, 512, 2048, 0, vocab, torch.device("cpu"))
        self.slot_of: dict[str, list[int]] = {}
        self.step_states = StepStates()
        runner = SimpleNamespace(req_states=self.req_states)
        self.processor = make(LogitsProcRequestState.from_request_state(self.req_states), runner, self.step_states)
        self.declined: set[str] = set()

    def add(self, req: Req) -> None:
        self.req_states.add_request(req.name, len(req.prompt), req.prompt + req.out, 0, MAX_TOKENS)
        slot = self.req_states.req_id_to_index[req.name]
        self.slot_of.setdefault(req.name, []).append(slot)
        if not self.processor.add_request(slot, req.params):
            self.declined.add(req.name)

    def remove(self, req: Req, *, preempted: bool) -> None:
        self.req_states.remove_request(req.name)

    def rows(self, t: int, order: list[str]) -> list[str]:
        flush(self.req_states)
        self.processor.apply_staged_writes()
        shift = t % len(order)
        rows = order[shift:] + order[:shift]
        return rows[::-1] if t % 2 else rows

    def apply(self, logits: torch.Tensor, rows: list[str], reqs: dict[str, Req]) -> None:
        slots = np.array([self.req_states.req_id_to_index[name] for name in rows], dtype=np.intp)
        fed = [(reqs[n].out or reqs[n].prompt)[-1] for n in rows]  # the token fed: last sampled, or the prompt's last
        pos = [len(reqs[n].prompt) + len(reqs[n].out) - 1 for n in rows]
        mapping = torch.from_numpy(slots).long()
        ctx = LogitsContext(
            expanded_idx_mapping=mapping, idx_mapping=mapping, idx_mapping_np=slots,
            expanded_local_pos=torch.zeros(len(rows), dtype=torch.int32), input_ids=torch.tensor(fed, dtype=torch.int32),
            pos=torch.tensor(pos, dtype=torch.int64), seq_lens_upper_bound_np=np.array(pos) + 1,
        )
        self.processor.apply(logits, ctx)

    def controlled(self, rows: list[str]) -> dict:
        slots, index = self.processor.slots, self.req_states.req_id_to_index
        return {name: slots[index[name]] for name in rows if index[name] in slots}

    def commit(self, req: Req, token: int) -> None:
        """What the runner does with a sampled token: it joins the device-side history."""
        self.req_states.all_token_ids.gpu[self.req_states.req_id_to_index[req.name], len(req.prompt) + len(req.out)] = token


def run(runner, reqs: dict[str, Req], layer_states, vocab: int, *, events=None, capacity: int = SLOTS) -> dict:
    """Schedule `reqs` (at most `capacity` at once, in order of arrival) until all end; `events`: {name: ("cancel"
    | "preempt", after this many output tokens)}, a preempted request coming back two steps later, first when a
    slot frees (a request waiting meanwhile may take its slot). Each
    step every running request gets its logits; a row the processor changed is sampled greedily, any other takes
    its script's next token. Returns {name: the processor's controller state}, read while the request runs."""
    high, low = layer_states
    waiting, live, seen, events, held = list(reqs), [], {}, dict(events or {}), {}
    for t in range(600):
        for name in [n for n in live if n in events and len(reqs[n].out) >= events[n][1]]:
            kind, _ = events.pop(name)
            live.remove(name)
            runner.remove(reqs[name], preempted=kind == "preempt")
            if kind == "preempt":
                waiting.insert(0, name)
                held[name] = t + 2
        while len(live) < capacity and (ready := [n for n in waiting if held.get(n, 0) <= t]):
            waiting.remove(ready[0])
            live.append(ready[0])
            runner.add(reqs[ready[0]])
        if not live:
            break
        rows = runner.rows(t, list(live))
        fed_at = [len(reqs[n].out) - 1 for n in rows]  # output index of the token each row fed (-1: a prompt token)
        fires = [reqs[n].high_from is not None and 0 <= reqs[n].high_from <= k for n, k in zip(rows, fed_at)]
        # this step's capture, by logits row, a new dict each forward as the hooks write it: {layer: (rows, H)}
        runner.step_states.states = {layer: torch.stack([(high if f else low)[layer] for f in fires]) for layer in (3, 5, 8)}
        runner.step_states.forwards += 1
        raw = torch.stack([raw_logits(n, len(reqs[n].out), vocab) for n in rows])  # (rows, V)
        logits = raw.clone()
        runner.apply(logits, rows, reqs)
        seen.update(runner.controlled(rows))
        for i, name in enumerate(rows):
            req = reqs[name]
            forced = not torch.equal(logits[i], raw[i])
            token = int(logits[i].argmax()) if forced else req.script[min(len(req.out), len(req.script) - 1)]
            runner.commit(req, token)
            req.out.append(token)
            if token == 2 or len(req.out) >= MAX_TOKENS:
                live.remove(name)
                runner.remove(req, preempted=False)
    assert not live and not waiting, "the requests did not end"
    return seen


# --- the tests ---------------------------------------------------------------------------------------------------
VOCAB = 251
NAMES = "abcdefg"
PLAN = {"a": 0, "b": None, "c": 45, "d": 0, "e": 0, "f": 0, "g": 0}  # first output index whose states fire the probe
EVENTS = {"e": ("cancel", 12), "f": ("preempt", 10)}


def offline_pair(lm, setup_id, layer_states):
    extra = {n: {EXTRA_KEY: {"setup": setup_id, "key": n}} if n != "g" else None for n in NAMES}
    runs = []
    for kind in ("v1", "v2"):
        reqs = requests(lm, extra, PLAN)
        if kind == "v1":
            runner = V1Runner(lambda runner, step: CotexitLogitsProcessor(NO_CONFIG, torch.device("cpu"), False, states=step))
        else:
            runner = V2Runner(lambda lp, runner, step: CotexitLogitsProcessorV2(NO_CONFIG, lp, states=step), VOCAB)
        runs.append((reqs, runner, run(runner, reqs, layer_states, VOCAB, events=EVENTS)))
    return runs


def decisions(request) -> tuple:
    row = request.row
    return (row.exit, row.tokens, row.probe_scores, [(c.phrase, c.token_end) for c in row.cues], row.finish_reason)


def first_cue_from(row, index: int) -> int:
    return next(i for i, c in enumerate(row.cues) if c.token_end >= index)


def test_v2_decides_as_v1_on_the_same_streams(lm, setup_id, layer_states):
    """Offline semantics (an exit masks to EOS), the same requests through both runners' bookkeeping: V1's
    persistent batch with moves and swaps, V2's reused slots and reordered rows; a request cancelled, one
    preempted and resumed before its exit (V2 refills it with its outputs), one without a controller."""
    (reqs1, v1, seen1), (reqs2, v2, seen2) = offline_pair(lm, setup_id, layer_states)
    assert v1.moves >= 3  # rows moved and swapped in the V1 batch
    assert len({slot for slots in v2.slot_of.values() for slot in slots}) <= SLOTS < len(v2.slot_of)  # slots reused
    assert len(v2.slot_of["f"]) == 2  # preempted, then refilled
    for name in NAMES:
        assert reqs2[name].out == reqs1[name].out, name
    assert set(seen1) == set(seen2) == set(NAMES) - {"g"}  # "g" has no controller: declined on both
    for name in seen1:
        assert decisions(seen2[name]) == decisions(seen1[name]), name
    # and the decisions are the ones the states call for: an exit at the first cue whose states fire the probe
    rows = {name: seen1[name].row for name in seen1}
    assert rows["a"].exit.cue_index == 0 and rows["d"].exit.cue_index == 0 and rows["f"].exit.cue_index == 0
    assert rows["c"].exit.cue_index == first_cue_from(rows["c"], PLAN["c"]) >= 2
    assert rows["b"].exit is None and reqs1["b"].out == reqs1["b"].script  # never fires: thinks to its end
    assert rows["e"].exit is None and len(reqs1["e"].out) == 12  # cancelled before its first cue
    assert reqs1["g"].out == reqs1["g"].script
    for name in "acdf":
        made = rows[name].exit
        assert reqs1[name].out[-1] == 2 and len(reqs1[name].out) == len(rows[name].tokens) + 1  # stopped: EOS next
        assert made.cut == rows[name].cues[made.cue_index].token_end + 2  # keep-cue: after the confirming token


def test_a_reused_slot_starts_from_a_reset_state(lm, setup_id, layer_states):
    """One slot, three requests in turn: one that exits (its state stopped, masking to EOS), one that never
    fires and must run free, one without a controller that must be left alone."""
    extra = {"x": {EXTRA_KEY: {"setup": setup_id, "key": "x"}}, "y": {EXTRA_KEY: {"setup": setup_id, "key": "y"}},
             "z": None}
    reqs = requests(lm, extra, {"x": 0, "y": None, "z": 0})
    runner = V2Runner(lambda lp, runner, step: CotexitLogitsProcessorV2(NO_CONFIG, lp, states=step), VOCAB, slots=1)
    seen = run(runner, reqs, layer_states, VOCAB, capacity=1)
    assert runner.slot_of == {"x": [0], "y": [0], "z": [0]}
    assert seen["x"].row.exit is not None and reqs["x"].out[-1] == 2
    assert seen["y"].row.exit is None and reqs["y"].out == reqs["y"].script
    assert seen["y"].row.tokens == reqs["y"].out[:-1] and seen["y"].row.prompt_ids == reqs["y"].prompt  # read back
    assert reqs["z"].out == reqs["z"].script and 0 not in runner.processor.slots


def test_served_v2_forces_what_served_v1_forces(lm, layer_states, monkeypatch):
    """Serve semantics (keep-cue: the forced exit text, the greedy answer, EOS), rows keyed by vLLM's
    request; a request with `cotexit_probe: none` and a cancelled one among them."""
    from cotexit.engines.vllm.serve import CotexitServeProcessorV1, CotexitServeProcessorV2

    monkeypatch.setenv("COTEXIT_PROBE", str(PROBE))
    monkeypatch.setenv("COTEXIT_MAX_ANSWER_TOKENS", "8")
    config = SimpleNamespace(model_config=SimpleNamespace(model=str(TOY_MODEL_DIR)), speculative_config=None)
    extra = {n: None if n != "g" else {"cotexit_probe": "none"} for n in NAMES}
    events = {"e": ("cancel", 12)}
    runs = []
    for kind in ("v1", "v2"):
        reqs = requests(lm, extra, PLAN)
        if kind == "v1":
            runner = V1Runner(lambda runner, step: CotexitServeProcessorV1(
                config, torch.device("cpu"), False, runner=runner, states=step))
        else:
            runner = V2Runner(lambda lp, runner, step: CotexitServeProcessorV2(config, lp, runner=runner, states=step), VOCAB)
        runs.append((reqs, runner, run(runner, reqs, layer_states, VOCAB, events=events)))
    (reqs1, v1, seen1), (reqs2, v2, seen2) = runs
    forced = v1.processor.control.setups[PROBE.name].forced_exit_ids
    for name in NAMES:
        assert reqs2[name].out == reqs1[name].out, name
    assert set(seen1) == set(seen2) == set(NAMES) - {"g"}
    for name in seen1:
        assert decisions(seen2[name]) == decisions(seen1[name]), name
    for name in "acdf":
        row, out = seen1[name].row, reqs1[name].out
        cut = row.exit.cut
        assert out[:cut] == reqs1[name].script[:cut] and out[cut : cut + len(forced)] == forced and out[-1] == 2
        assert row.finish_reason in ("answer", "length") and len(out) <= cut + len(forced) + 8 + 1
    assert seen1["b"].row.exit is None and reqs1["b"].out == reqs1["b"].script
    assert reqs1["g"].out == reqs1["g"].script
    v1.processor.update_state(BatchUpdate(batch_size=0, removed=v1.removed, added=[], moved=[]))
    assert v1.processor.rows == {}  # every request finished: no row left
    assert len(v2.processor.rows) <= SLOTS  # forgotten as slots are refilled: at most the last occupants


def test_a_preempted_request_on_v2_serve_restarts_its_row_from_the_device_history(lm, layer_states, monkeypatch):
    """V2 frees a preempted request's slot as it frees a finished one's: the served row is forgotten, and the
    request's row restarts from its token history, read back from `all_token_ids` in one read."""
    from cotexit.engines.vllm.serve import CotexitServeProcessorV2

    monkeypatch.setenv("COTEXIT_PROBE", str(PROBE))
    config = SimpleNamespace(model_config=SimpleNamespace(model=str(TOY_MODEL_DIR)), speculative_config=None)
    reqs = requests(lm, {"p": None, "q": None, "r": None}, {"p": None, "q": None, "r": None})
    runner = V2Runner(lambda lp, runner, step: CotexitServeProcessorV2(config, lp, runner=runner, states=step), VOCAB)
    states: list = []
    original = runner.controlled
    runner.controlled = lambda rows: states.append(original(rows).get("p")) or original(rows)
    run(runner, reqs, layer_states, VOCAB, events={"p": ("preempt", 30)}, capacity=2)  # "r" takes p's slot
    before, after = next(s for s in states if s is not None), states[-1]
    assert before is not after and runner.slot_of["r"][0] == runner.slot_of["p"][0] != runner.slot_of["p"][1]
    assert after.row.tokens == reqs["p"].out[:-1] == reqs["p"].script[:-1]
    hidden = [c.hidden is not None for c in after.row.cues]
    assert len(hidden) >= 4 and not any(c.token_end < 29 and c.hidden is not None for c in after.row.cues)
    assert any(hidden)  # cues after the preemption have their states


def test_fed_tokens_read_older_tokens_once():
    calls = []
    view = FedTokens(9, 5, lambda a, b: calls.append((a, b)) or list(range(10 * a, 10 * b, 10)))
    assert len(view) == 5 and view[4] == 9 and calls == []
    assert [view[i] for i in range(4)] == [0, 10, 20, 30] and calls == [(0, 4)]
    with pytest.raises(IndexError):
        view[5]
    assert len(FedTokens(7, 0, lambda a, b: [])) == 0  # a prompt token fed: no output yet


def test_the_plug_in_name_resolves_to_the_runner_vllm_runs(monkeypatch):
    """vLLM's loaders take only their own runner's interface; the served name resolves to the right adapter."""
    from vllm import envs
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_by_fqcns

    from cotexit.engines.vllm.runners import processor_class, uses_model_runner_v2
    from cotexit.engines.vllm.serve import CotexitServeProcessorV1, CotexitServeProcessorV2

    name = "cotexit.engines.vllm.serve:CotexitServeProcessor"
    envs.disable_envs_cache()
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")
    assert _load_v2_logitsprocs_by_fqcns([name]) == [CotexitServeProcessorV2]
    assert processor_class() is CotexitLogitsProcessorV2
    with pytest.raises(ValueError, match="is not a subclass of"):
        _load_v2_logitsprocs_by_fqcns([CotexitServeProcessorV1])
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "0")
    assert _load_logitsprocs_by_fqcns([name]) == [CotexitServeProcessorV1]
    assert processor_class() is CotexitLogitsProcessor
    monkeypatch.delenv("VLLM_USE_V2_MODEL_RUNNER")
    from vllm.triton_utils import HAS_TRITON

    assert uses_model_runner_v2() is bool(HAS_TRITON)  # vLLM's default: V2 wherever Triton runs
    assert uses_model_runner_v2(SimpleNamespace(use_v2_model_runner=True)) is True  # a config's answer wins


def test_what_the_v2_processors_refuse(monkeypatch):
    from cotexit.engines.vllm.serve import CotexitServeProcessorV2

    with pytest.raises(ValueError, match="speculative decoding is not supported"):
        CotexitLogitsProcessorV2(SimpleNamespace(speculative_config=object()), None)
    with pytest.raises(RuntimeError, match="must be built by Model Runner V2"):
        CotexitServeProcessorV2(NO_CONFIG, None)  # not inside vLLM: no runner
    monkeypatch.setenv("COTEXIT_PROBE", str(PROBE))
    plain = SimpleNamespace(
        model_config=SimpleNamespace(model=str(TOY_MODEL_DIR), architectures=["LlamaForCausalLM"]),
        speculative_config=None, additional_config={},
    )
    flags = re.escape("""add --hf-overrides '{"architectures": ["CotexitLlamaForCausalLM"]}' --additional-config '{"cotexit_capture_layers": [""")
    with pytest.raises(ValueError, match="this vLLM was not started with: " + flags):
        CotexitServeProcessorV2(plain, None, runner=SimpleNamespace(req_states=None))
    with pytest.raises(ValueError, match="cannot also set thinking_token_budget"):
        CotexitServeProcessorV2.validate_params(SamplingParams(thinking_token_budget=10))
    CotexitServeProcessorV2.validate_params(SamplingParams(thinking_token_budget=10, extra_args={"cotexit_probe": "none"}))
    with pytest.raises(ValueError, match="must be one of"):
        CotexitServeProcessorV2.validate_params(SamplingParams(extra_args={"cotexit_probe": "other"}))
    with pytest.raises(ValueError, match="registered setup id"):
        CotexitLogitsProcessorV2.validate_params(SamplingParams(extra_args={EXTRA_KEY: {"setup": "nope", "key": "k"}}))


def test_a_request_back_from_preemption_is_told_apart_by_its_refill(setup_id):
    """V2 refills a preempted request with its outputs (`prefill_len > prompt_len`): not fresh, so a paused row
    is not continued as if resubmitted; a new request is fresh. New rows get their prompt from the device."""
    from cotexit.engines.vllm.control import Control

    class Recording(Control):
        def __init__(self) -> None:
            super().__init__()
            self.opened: list[tuple] = []

        def open(self, params, identity, prompt, *, fresh):
            self.opened.append((identity, prompt(), fresh))
            return super().open(params, identity, prompt, fresh=fresh)

    req_states = RequestState(2, 64, 256, 0, VOCAB, torch.device("cpu"))
    control = Recording()
    processor = CotexitLogitsProcessorV2(NO_CONFIG, LogitsProcRequestState.from_request_state(req_states), StepStates(), control)
    params = SamplingParams(extra_args={EXTRA_KEY: {"setup": setup_id, "key": "k"}})
    for tokens in ([5, 6, 7], [5, 6, 7, 40, 41]):  # new, then back from preemption with two outputs
        req_states.add_request("k", 3, tokens, 0, 8)
        slot = req_states.req_id_to_index["k"]
        assert processor.add_request(slot, params)
        flush(req_states)
        processor.apply_staged_writes()
        req_states.remove_request("k")
    assert [(prompt, fresh) for _, prompt, fresh in control.opened] == [([5, 6, 7], True), ([5, 6, 7], False)]
    assert len(control.rows) == 1  # the same row, by its tag


def test_a_cue_gets_the_states_of_its_own_token_or_none(lm, setup_id):
    """A cue is confirmed by the token after it, so its states are last step's (`before`); when a step brings
    two tokens at once (a row catching up), last step's states belong to an older token and are not used."""
    from cotexit.engines.vllm.control import Request, advance

    setup = SETUPS[setup_id]
    tokens = list(lm.tokenizer("<think>\nSo 3.\nWait, ok", add_special_tokens=False)["input_ids"])
    wait = tokens.index(lm.tokenizer.convert_tokens_to_ids("Wait"))

    def states(k: int) -> dict:
        return {layer: torch.full((192,), float(k)) for layer in (3, 5, 8)}

    for together in (1, 2):  # the token after "Wait" comes alone, or with "Wait" itself
        request = Request(setup, setup.new_row("k", []))
        k = 0
        while k < wait + 2:
            k = min(k + (together if k == wait else 1), wait + 2)
            advance(request, tokens[:k], states(k - 1))
        (cue,) = request.row.cues
        assert cue.token_end == wait
        if together == 1:
            assert torch.equal(cue.hidden[3], states(wait)[3])  # the step that fed "Wait"
        else:
            assert cue.hidden is None
