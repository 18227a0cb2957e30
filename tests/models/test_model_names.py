"""What `--model NAME` resolves to, in order: registered name, existing folder, hub id (owner/name), else refused at
once. No test asks the hub: its reachability check and transformers' loaders are replaced where they could be reached."""

from __future__ import annotations

import pytest

from cotexit import hub
from cotexit.models import loading
from cotexit.models.loading import resolve_model
from cotexit.models.registry import looks_like_hub_id, unknown_model_message


@pytest.fixture
def hub_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the hub was asked")

    for name in hub.MODEL_VARIABLES:
        monkeypatch.setenv(name, "0")
    monkeypatch.setattr(hub, "unreachable", refuse)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", True),
        ("Qwen/QwQ-32B", True),
        ("a/b", True),
        ("toyy", False),
        ("gpt2", False),  # a hub id without an owner is not taken for one
        ("./models/m", False),
        ("/abs/models/m", False),
        ("a/b/c", False),
        ("a/../b", False),
        ("a--b/c", False),
        ("owner/name-", False),
    ],
)
def test_hub_id_shape(name, expected):
    assert looks_like_hub_id(name) is expected


def test_registered_name_comes_first(hub_refused):
    path, entry = resolve_model("toy")
    assert entry is not None and entry.name == "toy" and path.endswith("toy")


def test_an_existing_folder_comes_before_a_hub_id(hub_refused, tmp_path, monkeypatch):
    folder = tmp_path / "owner" / "name"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("owner/name") == (str(folder.relative_to(tmp_path)), None)


def test_a_hub_id_online_goes_to_transformers_unchanged(monkeypatch):
    for name in hub.MODEL_VARIABLES:
        monkeypatch.setenv(name, "0")
    monkeypatch.setattr(hub, "unreachable", lambda environ=None: None)
    assert resolve_model("no-such-org/no-such-model") == ("no-such-org/no-such-model", None)


def test_a_cached_hub_id_offline_loads_from_its_cache_folder(monkeypatch, tmp_path):
    import huggingface_hub

    snapshot = tmp_path / "models--org--m" / "snapshots" / "abc"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(
        huggingface_hub, "try_to_load_from_cache", lambda repo_id, filename: str(snapshot / filename) if repo_id == "org/m" else None
    )
    assert resolve_model("org/m") == (str(snapshot), None)
    with pytest.raises(ValueError, match=r"not in the local hub cache \(the hub is not asked: HF_HUB_OFFLINE is set\)"):
        resolve_model("org/other")


def test_anything_else_is_refused_with_the_suggestion(hub_refused):
    with pytest.raises(ValueError) as info:
        resolve_model("toyy")
    assert str(info.value) == unknown_model_message("toyy")
    assert "not a hub id (those look like owner/name). Did you mean 'toy'?" in str(info.value)


def test_a_failed_hub_load_keeps_the_hub_clients_first_line():
    error = loading.loading_error("org/m", "org/m", None, OSError("org/m is not a valid model identifier\nmore"))
    assert "unknown model 'org/m'" in str(error)
    assert "not loadable from the model hub (org/m is not a valid model identifier)" in str(error)
