"""Auditing served traffic (`cotexit.experiments.audit`, `served`, `audit_report`) against a fake chat server in a
thread: the pairs sent, the sample, the test fed in order, resuming, and the HTTP client's retries and errors."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_chat_server import FakeChatServer, prompt_file  # noqa: E402

from cotexit.calibration.monitor import BoundMonitor, first_rejections  # noqa: E402
from cotexit.experiments.audit import (  # noqa: E402
    AuditConfig, AuditItem, AuditLog, load_items, pair_seed, run_audit, sampled, todo,
)
from cotexit.experiments.audit_report import audit_plot, audit_summary, verdict  # noqa: E402
from cotexit.experiments.served import ChatClient, RequestPacer, ServerError, completion_texts  # noqa: E402


def config(path, **overrides) -> AuditConfig:
    settings = dict(probe="toy-probe", epsilon=0.05, delta=0.1, model="toy", source={"prompts": str(path)},
                    temperature=0.6)
    return AuditConfig(**{**settings, **overrides})


@pytest.fixture
def server():
    with FakeChatServer() as fake:
        yield fake


def client(server, **kwargs) -> ChatClient:
    return ChatClient(server.url, timeout_s=5, sleep=lambda s: None, **kwargs)


def test_the_sample_is_a_stable_hash_of_the_id_at_the_asked_fraction():
    ids = [f"p{i}" for i in range(4000)]
    chosen = [i for i in ids if sampled(i, 0.25, seed=3)]
    assert abs(len(chosen) / len(ids) - 0.25) < 0.03
    assert chosen == [i for i in reversed(ids) if sampled(i, 0.25, seed=3)][::-1]  # order does not matter
    assert chosen != [i for i in ids if sampled(i, 0.25, seed=4)]  # the seed does
    assert set(chosen) <= {i for i in ids if sampled(i, 0.5, seed=3)}  # a larger fraction keeps the smaller's
    assert all(0 <= pair_seed(0, i) < 2**31 for i in ids[:50])


@pytest.mark.parametrize(
    "overrides, match",
    [({"epsilon": 0.0}, "epsilon"), ({"delta": 1.5}, "delta"), ({"probe": "none"}, "probe"),
     ({"sample_fraction": 0.0}, "sample_fraction"), ({"loss": "accuracy"}, "loss"), ({"max_tokens": 0}, "max_tokens"),
     ({"temperature": -1.0}, "temperature"), ({"source": {"file": "x"}}, "source")],
)
def test_a_bad_setting_names_itself(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path / "p.jsonl", **overrides)


def test_each_pair_is_the_same_request_with_and_without_the_probe(server, tmp_path):
    path = prompt_file(tmp_path / "p.jsonl", 6, flips={2})
    log = AuditLog(tmp_path / "out", config(path, max_tokens=64))
    events = list(run_audit(client(server), load_items(prompts=path), log, concurrency=3))
    assert [e.row["id"] for e in events] == [f"q{i}" for i in range(6)]  # in order, whatever order they finish in
    chats = server.chats()
    assert len(chats) == 12
    for i in range(6):
        pair = [c for c in chats if c["messages"][0]["content"].startswith(f"q{i} ")]
        assert sorted(c["vllm_xargs"]["cotexit_probe"] for c in pair) == ["none", "toy-probe"]
        assert pair[0]["seed"] == pair[1]["seed"] == pair_seed(0, f"q{i}")
        assert all(c["temperature"] == 0.6 and c["max_tokens"] == 64 and c["model"] == "toy" for c in pair)
    rows = [json.loads(line) for line in (tmp_path / "out" / "audit.jsonl").read_text().splitlines()]
    assert [r["answer_changed"] for r in rows] == [i == 2 for i in range(6)]
    assert rows[2]["prediction"] == "3" and rows[2]["full"]["prediction"] == "2" and rows[2]["correct"] is None
    assert [r["audit"] for r in rows] == list(range(1, 7)) and rows[-1]["monitor"]["losses"] == 1
    assert not any(r["same_text"] or r["parted_before_exit"] for r in rows)
    assert json.loads((tmp_path / "out" / "run.json").read_text()) == log.config.to_json()


def test_the_test_rejects_where_the_monitor_does_and_the_audit_stops_there(server, tmp_path):
    flips = {3, 7, 8, 12, 15, 16, 21}
    path = prompt_file(tmp_path / "p.jsonl", 40, flips=flips)
    losses = np.array([[i in flips for i in range(40)]])
    expected = int(first_rejections(losses, epsilon=0.05, delta=0.1)[0])
    assert 0 < expected < 40
    log = AuditLog(tmp_path / "out", config(path))
    events = list(run_audit(client(server), load_items(prompts=path), log, concurrency=2))
    assert len(events) == expected and events[-1].rejected_now and not any(e.rejected_now for e in events[:-1])
    assert log.monitor.rejected_at == expected and log.live.rejected_id == f"q{expected - 1}"
    line = verdict(log)
    assert line.startswith("the bound does not hold: the answer-change rate exceeds 0.05")
    assert line.endswith(f"after {expected} audited prompts")
    again = AuditLog(tmp_path / "out", config(path))  # rerun: replayed, rejected, and nothing is sent
    with FakeChatServer() as other:
        assert again.monitor == log.monitor and list(run_audit(client(other), load_items(prompts=path), again)) == []
        assert other.requests == []
    kept = list(run_audit(client(server), load_items(prompts=path), again, stop_on_reject=False))
    assert len(kept) == 40 - expected and again.monitor.rejected_at == expected and again.monitor.n == 40


def test_a_resumed_audit_sends_only_what_is_left_and_replays_the_test(server, tmp_path):
    path = prompt_file(tmp_path / "p.jsonl", 30, flips={1, 4})
    settings = config(path, sample_fraction=0.5, seed=1)
    first = AuditLog(tmp_path / "out", settings)
    list(run_audit(client(server), load_items(prompts=path, limit=10), first))
    sent = len(server.chats())
    log = AuditLog(tmp_path / "out", settings)
    assert log.monitor == first.monitor and log.done == first.done
    list(run_audit(client(server), load_items(prompts=path), log))
    chosen = [f"q{i}" for i in range(30) if sampled(f"q{i}", 0.5, 1)]
    assert [r["id"] for r in log.rows] == chosen
    assert len(server.chats()) == 2 * len(chosen) and sent == 2 * len(first.rows)
    fresh = BoundMonitor(epsilon=0.05, delta=0.1)
    for row in log.rows:
        fresh.update(row["answer_changed"])
    assert AuditLog(tmp_path / "out", settings).monitor == fresh == log.monitor
    assert todo(load_items(prompts=path), settings, log.done) == ([], len(chosen))


def test_a_pair_that_parted_before_the_exit_is_marked_and_still_counted(server, tmp_path):
    items = [AuditItem("a", "a = 1 part"), AuditItem("b", "b = 2 part flip"), AuditItem("c", "c = 3")]
    log = AuditLog(tmp_path / "out", config(tmp_path / "p.jsonl"))
    rows = [e.row for e in run_audit(client(server), items, log)]
    assert [r["parted_before_exit"] for r in rows] == [True, True, False]
    assert [r["answer_changed"] for r in rows] == [False, True, False] and log.monitor.losses == 1
    assert audit_summary(log, url=server.url, stopped="end of prompts")["parted_before_exit"]["n"] == 2


def test_a_folder_of_another_audit_is_refused_naming_what_changed(server, tmp_path):
    path = prompt_file(tmp_path / "p.jsonl", 3)
    list(run_audit(client(server), load_items(prompts=path), AuditLog(tmp_path / "out", config(path))))
    with pytest.raises(ValueError, match=r"other settings \(epsilon: 0.05 -> 0.02\)"):
        AuditLog(tmp_path / "out", config(path, epsilon=0.02))


def test_harm_needs_gold_and_counts_right_to_wrong_only(server, tmp_path):
    path = prompt_file(tmp_path / "p.jsonl", 3)
    with pytest.raises(ValueError, match="gold"):
        todo(load_items(prompts=path), config(path, loss="harm"), set())
    items = [AuditItem("a", "a = 5 flip", "5"), AuditItem("b", "b = 5 flip", "6"), AuditItem("c", "c = 7", "7")]
    log = AuditLog(tmp_path / "out", config(path, loss="harm"))
    rows = [e.row for e in run_audit(client(server), items, log)]
    assert [r["answer_changed"] for r in rows] == [True, True, False]
    assert log.monitor.losses == 1  # a: right to wrong; b: wrong to right is a change, not harm
    summary = audit_summary(log, url=server.url, stopped="end of prompts")
    assert summary["graded"] == {"n": 3, "accuracy_with_probe": 2 / 3, "accuracy_without": 2 / 3, "harm": 1}


def test_the_summary_and_plot(server, tmp_path):
    path = prompt_file(tmp_path / "p.jsonl", 12, flips={0, 1, 2})
    log = AuditLog(tmp_path / "out", config(path))
    list(run_audit(client(server), load_items(prompts=path), log))
    summary = audit_summary(log, url=server.url, stopped="rejected")
    assert summary["status"] == "rejected" and summary["audited"] == log.monitor.n
    assert summary["live_check"]["loss"] == "answer-change" and summary["answer_changed"]["n"] == 3
    assert summary["completion_tokens"]["saved_pct"] == pytest.approx(40.0)
    assert summary["finish_reasons"] == {"stop/stop": log.monitor.n}
    assert audit_plot(log, tmp_path / "out" / "audit.png").stat().st_size > 10_000
    assert audit_plot(AuditLog(tmp_path / "empty", config(path)), tmp_path / "empty" / "audit.png") is None


def test_transient_failures_are_retried_and_a_clients_error_is_not(server):
    server.fail_next = [503, 502]
    assert client(server, retries=2).models() == ["toy"]
    server.fail_next = [503, 503, 503]
    with pytest.raises(ServerError, match=r"HTTP 503: fake failure 503 \(gave up after 3 tries\)"):
        client(server, retries=2).models()
    before = len(server.requests)
    body = {"model": "toy", "messages": [{"role": "user", "content": "x = 1"}], "vllm_xargs": {"cotexit_probe": "nope"}}
    with pytest.raises(ServerError, match=r"HTTP 400: vllm_xargs\['cotexit_probe'\] must be one of"):
        client(server, retries=3).chat(body)
    assert len(server.requests) == before + 1


def test_an_unreachable_server_is_one_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    waits = []
    with pytest.raises(ServerError, match=r"cannot reach the server .*gave up after 3 tries"):
        ChatClient(f"http://127.0.0.1:{port}", retries=2, backoff_s=0.5, sleep=waits.append).models()
    assert waits == [0.5, 1.0]
    with pytest.raises(ValueError, match="http"):
        ChatClient("127.0.0.1:8000")


def test_the_pacer_spaces_requests():
    now, slept = [0.0], []

    def sleep(s):
        slept.append(s)
        now[0] += s

    pacer = RequestPacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(9):
        pacer.wait()
    assert now[0] == pytest.approx(2.0) and len(slept) == 8  # 9 requests at 4/s: the last at 2 s
    now[0] += 10.0
    pacer.wait()
    assert len(slept) == 8  # after a quiet spell the next request goes at once, with no burst credit
    with pytest.raises(ValueError, match="max_rate"):
        RequestPacer(0)


def test_the_answer_part_of_a_response():
    split = {"choices": [{"message": {"reasoning_content": "think 3", "content": "it is \\boxed{4}"}}]}
    assert completion_texts(split) == ("think 3it is \\boxed{4}", "it is \\boxed{4}")
    unclosed = {"choices": [{"message": {"content": "<think>still 5"}}]}
    assert completion_texts(unclosed) == ("<think>still 5", "")
