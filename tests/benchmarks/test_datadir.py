from __future__ import annotations

from pathlib import Path

import pytest

from cotexit.benchmarks import datadir
from cotexit.benchmarks.datadir import ENV_VAR, find_data_dir, resolve_data_dir


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env_data_dir) -> Path:
    """A repository root and working directory with no ../shared/data beside them, and no user data folder."""
    repo = tmp_path / "nowhere" / "repo"
    repo.mkdir(parents=True)
    monkeypatch.setattr(datadir, "repository_root", lambda: repo)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("COTEXIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _shared_data(base: Path) -> Path:
    path = base / "shared" / "data"
    path.mkdir(parents=True)
    return path


def test_explicit_wins_over_env(tmp_path, monkeypatch):
    explicit, env = tmp_path / "a", tmp_path / "b"
    explicit.mkdir()
    env.mkdir()
    monkeypatch.setenv(ENV_VAR, str(env))
    found = find_data_dir(explicit)
    assert found.path == explicit and found.origin == "--data-dir"


def test_env_wins_over_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert find_data_dir().path == tmp_path
    assert find_data_dir().origin == f"${ENV_VAR}"


def test_missing_explicit_dir_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_data_dir(tmp_path / "missing")


def test_file_instead_of_dir_is_an_error(tmp_path):
    file = tmp_path / "f.txt"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        find_data_dir(file)


def test_missing_env_dir_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        find_data_dir()


def test_repository_default(elsewhere, monkeypatch):
    repo = elsewhere / "checkout" / "main"
    repo.mkdir(parents=True)
    shared = _shared_data(elsewhere / "checkout")
    monkeypatch.setattr(datadir, "repository_root", lambda: repo)
    found = find_data_dir()
    assert found.path == shared.resolve() and found.origin.startswith("repository default")


def test_working_directory_default(elsewhere, monkeypatch):
    cwd = elsewhere / "work" / "here"
    cwd.mkdir(parents=True)
    shared = _shared_data(elsewhere / "work")
    monkeypatch.chdir(cwd)
    found = find_data_dir()
    assert found.path == shared.resolve() and found.origin.startswith("working-directory default")


def test_none_means_hub(elsewhere):
    assert find_data_dir() is None
    assert resolve_data_dir() is None


def test_repository_root_holds_the_package():
    assert (datadir.repository_root() / "cotexit" / "__init__.py").is_file()


def test_user_data_folder_comes_last(elsewhere):
    """Where `cotexit data fetch` writes is searched after the ../shared/data defaults."""
    user = elsewhere / "cache" / "data"
    user.mkdir(parents=True)
    found = find_data_dir()
    assert found.path == user and found.origin.startswith("user default")
    shared = _shared_data(elsewhere / "nowhere")
    assert find_data_dir().path == shared.resolve()


def test_searched_names_every_place(elsewhere):
    places = datadir.searched()
    assert places.startswith(f"--data-dir (not given), ${ENV_VAR} (not set), ")
    assert str((elsewhere / "nowhere" / "shared" / "data").resolve()) in places
    assert str(elsewhere / "cache" / "data") in places
