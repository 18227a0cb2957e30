"""Writing a trained toy model as a self-contained Hugging Face folder.

Owns the folder layout: config.json (with `cotexit_thinking_format: toy`),
model.safetensors (float32), tokenizer.json + tokenizer_config.json (with the
chat template inlined), generation_config.json and card.json. Knows nothing
about training; `cotexit.toy.train` calls `save_folder`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cotexit.toy.model import THINKING_FORMAT_KEY


def save_folder(model, tok, out_dir: str | Path, card: dict[str, Any]) -> Path:
    """Save model, tokenizer and card to `out_dir`; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setattr(model.config, THINKING_FORMAT_KEY, "toy")
    model.generation_config.do_sample = False
    model.generation_config.max_new_tokens = 640
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    # Keep the chat template inside tokenizer_config.json (older readers look only there).
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = tok.chat_template
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    jinja = out / "chat_template.jinja"
    if jinja.exists():
        jinja.unlink()
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out
