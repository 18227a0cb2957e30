"""The `vllm serve` plug-in with a reasoning parser and through its entry point (marker `vllm`).

Without a server: the `vllm.logits_processors` entry point is installed and resolves to the runner's adapter,
which is inert (controls, validates and keeps nothing) unless `COTEXIT_PROBE` is set and the run names no
cotexit processor of its own; `cotexit_think` keeps the toy's special `</think>` in the text it splits.

One real server of the toy model, the plug-in loaded only through the entry point (no `--logits-processors`),
`--reasoning-parser cotexit_think`: a response that exited has its thinking up to the cue in `reasoning` and the
forced answer in `content`, streamed and not, the same both ways. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm.sampling_params")  # not just "vllm": this tests folder imports as one

import torch  # noqa: E402

from cotexit.benchmarks import build_prompt, load_problems  # noqa: E402
from cotexit.engines.vllm import serve  # noqa: E402
from cotexit.engines.vllm.control import LIVE  # noqa: E402
from cotexit.engines.vllm.processor import CotexitLogitsProcessor  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402
from vllm_server import ROOT, serving  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
PROBE = Path(os.environ.get("COTEXIT_TEST_SERVE_PROBE", ROOT / "probes" / "toy-arith-keep-cue"))
PLUGIN = "cotexit.engines.vllm.serve:CotexitServeProcessor"
CUES = ("Wait,", "Hmm,", "Alternatively,", "But wait,")
ANSWER = "\nThe final answer is \\boxed{"


def _config(*named):
    return SimpleNamespace(model_config=SimpleNamespace(logits_processors=list(named)))


def _entry_point() -> type:
    (entry,) = [e for e in entry_points(group="vllm.logits_processors") if e.value.startswith("cotexit.")]
    return entry.load()


def test_the_entry_point_is_installed_and_resolves_to_the_runners_adapter(monkeypatch):
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "0")
    assert _entry_point() is serve.CotexitServeEntryPointV1


def test_without_cotexit_probe_the_entry_point_is_inert(monkeypatch):
    monkeypatch.delenv(serve.PROBE_ENV, raising=False)
    processor = serve.CotexitServeEntryPointV1(_config(), torch.device("cpu"), False)
    logits = torch.randn(2, 8)
    assert not processor.acting and processor not in LIVE and processor.is_argmax_invariant()
    processor.update_state(None)
    assert processor.apply(logits) is logits
    budget = SimpleNamespace(extra_args={"cotexit_probe": "no-such-probe"}, thinking_token_budget=10)
    serve.CotexitServeEntryPointV1.validate_params(budget)  # vLLM's own thinking budget is not refused
    v2 = serve.CotexitServeEntryPointV2(_config(), req_states=None)
    assert not v2.acting and not v2.add_request(0, budget) and v2.apply(logits, ctx=None) is logits


@pytest.mark.parametrize("named", [PLUGIN, "cotexit.engines.vllm.serve:CotexitServeProcessorV1", CotexitLogitsProcessor],
                         ids=["plug-in-by-name", "v1-adapter-by-name", "offline-engine"])
def test_with_a_cotexit_processor_named_the_entry_point_leaves_control_to_it(monkeypatch, named):
    monkeypatch.setenv(serve.PROBE_ENV, str(PROBE))
    assert not serve.entry_point_acts(_config("no.such.module:Nothing", named))
    assert serve.entry_point_acts(_config("no.such.module:Nothing"))  # nothing of cotexit's: it would act


def test_naming_the_entry_point_class_too_is_refused(monkeypatch):
    monkeypatch.setenv(serve.PROBE_ENV, str(PROBE))
    with pytest.raises(ValueError, match="entry point already"):
        serve.entry_point_acts(_config("cotexit.engines.vllm.serve:CotexitServeEntryPoint"))


def test_the_parser_keeps_the_toys_special_think_tags_in_the_text():
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tokenizers import get_tokenizer

    parser = serve.CotexitReasoningParser(get_tokenizer(str(TOY_MODEL_DIR)))
    request = ChatCompletionRequest(model="toy", messages=[{"role": "user", "content": "2 + 3"}])
    assert request.skip_special_tokens and not parser.adjust_request(request).skip_special_tokens


def _post(port: int, body: dict):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=120)


def _chat(port: int, content: str, probe: str | None = None, stream: bool = False) -> dict:
    """{"reasoning", "content", "tokens"} of a greedy chat completion, streamed deltas joined."""
    body: dict = {"model": "toy", "messages": [{"role": "user", "content": content}], "max_tokens": 500,
                  "temperature": 0, "stream": stream}
    if probe is not None:
        body["vllm_xargs"] = {"cotexit_probe": probe}
    if not stream:
        with _post(port, body) as response:
            out = json.load(response)
        message = out["choices"][0]["message"]
        return {"reasoning": message.get("reasoning") or "", "content": message.get("content") or "",
                "tokens": out["usage"]["completion_tokens"]}
    body["stream_options"] = {"include_usage": True}
    joined = {"reasoning": "", "content": "", "tokens": None}
    with _post(port, body) as response:
        for line in response:
            data = line.decode().strip().removeprefix("data: ")
            if not data or data == "[DONE]":
                continue
            chunk = json.loads(data)
            if chunk.get("usage"):
                joined["tokens"] = chunk["usage"]["completion_tokens"]
            for choice in chunk["choices"]:
                for key in ("reasoning", "content"):
                    joined[key] += choice["delta"].get(key) or ""
    return joined


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    if not (PROBE / "card.json").exists():
        pytest.fail(f"no keep-cue probe at {PROBE}")
    try:
        _entry_point()
    except ValueError:
        pytest.fail("cotexit's vllm.logits_processors entry point is not installed: pip install -e . again")
    log = tmp_path_factory.mktemp("serve-reasoning") / "server.log"
    parser = ["--reasoning-parser-plugin", "cotexit.engines.vllm.reasoning", "--reasoning-parser", serve.REASONING_PARSER]
    with serving(str(PROBE), log, by_name=False, extra=parser) as port:
        yield port


def test_an_exit_splits_into_thinking_and_answer_streamed_and_not(port):
    exits = 0
    for problem in load_problems("arith", "test", limit=3):
        prompt = build_prompt(problem)
        on, off, streamed = _chat(port, prompt), _chat(port, prompt, probe="none"), _chat(port, prompt, stream=True)
        for response in (on, off, streamed):
            assert response["reasoning"] and "\\boxed{" in response["content"]
            assert not any(tag in response[key] for tag in ("<think>", "</think>", "<|") for key in ("reasoning", "content"))
        assert streamed == on  # the same greedy response, split the same way
        if on == off:
            continue
        exits += 1
        thinking = on["reasoning"].removesuffix("\n")  # the forced exit text starts "\n</think>"
        assert thinking.endswith(CUES) and off["reasoning"].startswith(thinking)  # everything up to the cue, kept
        assert on["content"].startswith(ANSWER) and on["content"].count("}") == 1
        assert on["tokens"] < off["tokens"]
    assert exits >= 1, "the plug-in loaded through its entry point should exit on some of these problems"


def test_the_entry_points_module_imports_where_vllm_has_no_v1_interface():
    """vLLM 0.34 removed the V1 processor interface; vLLM imports the entry point in every process, so `serve` must
    import without it, and resolve the plug-in to the V2 adapter."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['vllm.v1.sample.logits_processor'] = None  # as if gone: importing it fails, find_spec is None\n"
        "from cotexit.engines.vllm import serve\n"
        "from cotexit.engines.vllm.runners import has_v1_runner\n"
        "assert not has_v1_runner()\n"
        "print(serve.CotexitServeProcessor.__name__, serve.CotexitServeEntryPoint.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["CotexitServeProcessorV2", "CotexitServeEntryPointV2"]
