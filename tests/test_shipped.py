"""The wheel carries what cotexit ships: every file of `probes/` and of the toy model's folder, found once installed.

The wheel is built from a copy of the checkout's build inputs (so a stale
`build/` of the checkout cannot leak into it), `__pycache__` folders
included, and read with `zipfile`. The full install in a fresh environment
is `.ci/run`'s job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cotexit.shipped import probes_dir, shipped_probe

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cotexit"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip(f"setuptools {setuptools.__version__} is older than pyproject.toml's build requirement (>= 68)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    for name in ("cotexit", "probes"):
        shutil.copytree(ROOT / name, src / name)
    (src / "cotexit" / "__pycache__").mkdir(exist_ok=True)  # stale bytecode must stay out, present or not
    (src / "cotexit" / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = (tmp / "dist").glob("cotexit-*.whl")
    return built


def _toy_model_dir() -> Path:
    from cotexit.models.builtin import TOY_MODEL_DIR

    return TOY_MODEL_DIR


def test_the_wheel_holds_every_shipped_probe_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"cotexit/shipped_probes/{f}" for f in _files(ROOT / "probes")}
    for name in ("card.json", "probe.safetensors", "evidence.safetensors"):
        assert f"cotexit/shipped_probes/toy-arith/{name}" in expected
    assert expected - names == set()
    shipped = {n for n in names if n.startswith("cotexit/shipped_probes/")}
    assert shipped == expected  # nothing else lands there


def test_the_wheel_holds_every_file_of_the_toy_model(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    folder = _toy_model_dir()
    inside = folder.relative_to(PACKAGE).as_posix()
    expected = {f"cotexit/{inside}/{f}" for f in _files(folder)}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"} <= {Path(e).name for e in expected}
    assert expected - names == set()


def test_the_wheel_holds_the_code_and_nothing_of_the_checkout_beyond_it(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {n.split("/")[0] for n in names} == {"cotexit", "cotexit-0.1.0.dist-info"}  # no tests/, eval/, calibration/
    code = {f"cotexit/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert code - set(names) == set()


def test_an_unpacked_wheel_finds_its_own_probes_not_the_checkouts(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    out = subprocess.run(
        [sys.executable, "-c", "from cotexit.shipped import shipped_probe; print(shipped_probe('toy-arith'))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        check=True, capture_output=True, text=True, timeout=60,
    )
    assert Path(out.stdout.strip()) == tmp_path / "site" / "cotexit" / "shipped_probes" / "toy-arith"


def test_a_checkout_reads_the_top_level_probes_in_place() -> None:
    assert probes_dir() == ROOT / "probes"
    assert shipped_probe("toy-arith") == ROOT / "probes" / "toy-arith"


def test_an_unknown_probe_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match=r"no shipped probe 'toy-arth'.*'toy-arith'"):
        shipped_probe("toy-arth")
