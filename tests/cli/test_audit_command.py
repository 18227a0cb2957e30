"""`cotexit audit` against a fake chat server in a thread: exit codes, the files it writes, one line per error,
Ctrl-C and resuming, and --follow on a growing prompt file."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_chat_server import FakeChatServer, prompt_file  # noqa: E402

from cotexit.cli import interrupt  # noqa: E402
from cotexit.cli.main import main  # noqa: E402


@pytest.fixture
def server():
    with FakeChatServer() as fake:
        yield fake


def audit(server_url: str, prompts: str, out: Path, *extra: str) -> int:
    return main(["audit", "--url", server_url, "--prompts", prompts, "--probe", "toy-probe", "--epsilon", "0.05",
                 "--out", str(out), "--max-rate", "0", "--retries", "0", *extra])


def test_a_quiet_audit_exits_0_and_writes_its_files(server, tmp_path, capsys):
    prompts = prompt_file(tmp_path / "p.jsonl", 30, flips={5})
    assert audit(server.url, prompts, tmp_path / "out", "--concurrency", "4") == 0
    out = capsys.readouterr().out
    assert "the bound holds so far: answer changed on 1 of 30 audited prompts" in " ".join(out.split())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "holds" and summary["stopped"] == "end of prompts" and summary["audited"] == 30
    assert summary["settings"]["model"] == "toy"  # asked of the server
    assert summary["provenance"]["data"]["sha256"]
    assert (tmp_path / "out" / "audit.png").stat().st_size > 0
    assert len((tmp_path / "out" / "audit.jsonl").read_text().splitlines()) == 30


def test_a_rejection_exits_3_with_one_line_and_a_rerun_says_it_again(server, tmp_path, capsys):
    prompts = prompt_file(tmp_path / "p.jsonl", 40, flips={1, 2, 4, 6})
    assert audit(server.url, prompts, tmp_path / "out") == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "the bound does not hold: the answer-change rate exceeds 0.05" in out
    n = json.loads((tmp_path / "out" / "summary.json").read_text())["audited"]
    assert 4 <= n < 40 and f"after {n} audited prompts" in out
    sent = len(server.chats())
    assert audit(server.url, prompts, tmp_path / "out") == 3 and len(server.chats()) == sent


def test_the_server_down_or_refusing_is_one_line_and_exit_4(server, tmp_path, capsys):
    prompts = prompt_file(tmp_path / "p.jsonl", 3)
    assert audit("http://127.0.0.1:9", prompts, tmp_path / "a") == 4
    err = capsys.readouterr()
    assert "cannot reach the server" in err.out and "Traceback" not in err.out + err.err
    assert not (tmp_path / "a").exists()
    code = main(["audit", "--url", server.url, "--prompts", prompts, "--probe", "other", "--epsilon", "0.05",
                 "--out", str(tmp_path / "b"), "--max-rate", "0"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 4 and "HTTP 400: vllm_xargs['cotexit_probe'] must be one of ['toy-probe', 'none']" in out
    assert audit(server.url, prompts, tmp_path / "c", "--model", "llama") == 4
    assert "serves ['toy'], not --model 'llama'" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "extra, match",
    [(["--epsilon", "2"], "epsilon"), (["--loss", "harm"], "gold answers"), (["--split", "test"], "--split"),
     (["--sample-fraction", "0"], "sample_fraction"), (["--max-rate", "-1"], "--max-rate")],
)
def test_bad_input_is_exit_2_before_the_server_is_asked(server, tmp_path, capsys, extra, match):
    prompts = prompt_file(tmp_path / "p.jsonl", 3)
    assert audit(server.url, prompts, tmp_path / "out", *extra) == 2
    assert match in capsys.readouterr().err and server.requests == []


def test_a_prompt_file_with_answers_is_refused(server, tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "x = 1", "answer": "1"}) + "\n")
    assert audit(server.url, str(path), tmp_path / "out") == 2
    assert "'answer' field" in capsys.readouterr().err


def test_ctrl_c_keeps_what_was_audited_and_the_same_command_resumes(server, tmp_path, monkeypatch, capsys):
    prompts = prompt_file(tmp_path / "p.jsonl", 10)
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(interrupt, "check", check)
    assert audit(server.url, prompts, tmp_path / "out") == 130
    assert "4 finished result(s) are kept" in " ".join(capsys.readouterr().err.split())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["audited"] == 4
    monkeypatch.undo()
    assert audit(server.url, prompts, tmp_path / "out") == 0
    assert "10 of 10 prompts sampled, 4 already audited" in " ".join(capsys.readouterr().out.split())
    sent = [c["messages"][0]["content"].split()[0] for c in server.chats()]
    assert all(sent.count(f"q{i}") == 2 for i in range(4))  # an audited pair is never sent again
    assert all(sent.count(f"q{i}") >= 2 for i in range(4, 10))  # (one in flight at Ctrl-C is sent again)
    assert audit(server.url, prompts, tmp_path / "out", "--epsilon", "0.1") == 2
    assert "holds an audit with other settings (epsilon: 0.05 -> 0.1)" in " ".join(capsys.readouterr().err.split())


def test_follow_reads_new_traffic_until_the_test_rejects(server, tmp_path):
    path = tmp_path / "p.jsonl"
    prompt_file(path, 5)
    grown = threading.Event()

    def grow():
        time.sleep(0.3)
        with path.open("a") as f:
            for i in range(5, 40):
                f.write(json.dumps({"id": f"q{i}", "prompt": f"q{i} = {i} flip"}) + "\n")
        grown.set()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    assert audit(server.url, str(path), tmp_path / "out", "--follow", "--poll", "0.2") == 3
    assert grown.is_set()
    rows = [json.loads(line) for line in (tmp_path / "out" / "audit.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows[:5]] == [f"q{i}" for i in range(5)] and len(rows) > 5
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["stopped"] == "rejected"
