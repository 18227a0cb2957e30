"""Turning a growing list of token ids into text deltas, one token at a time.

Owns `IncrementalDetokenizer`. Decoding each token alone breaks on byte-level
pieces of one character and on tokenizers that drop a leading space at the
start of a decode, so each step decodes a short window and emits only the
new, complete characters (the approach of vLLM's and TGI's streamers).
A fast tokenizer's windows are decoded by its `tokenizers.Tokenizer` directly:
the same text as `tokenizer.decode(..., clean_up_tokenization_spaces=False)`
without the wrapper's per-call overhead (this runs for every token of every
row on every engine).
"""

from __future__ import annotations

from typing import Any

_CONTEXT = 5  # tokens of left context kept when decoding resumes after a truncation


class IncrementalDetokenizer:
    """Text deltas for one row.

    >>> from types import SimpleNamespace
    >>> tok = SimpleNamespace(decode=lambda ids, **kw: "".join(chr(96 + i) for i in ids))
    >>> d = IncrementalDetokenizer(tok)
    >>> d.push(1) + d.push(2)
    'ab'
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._backend = _rust_tokenizer(tokenizer)
        self.ids: list[int] = []
        self._prefix = 0  # start of the decode window
        self._read = 0  # tokens before this have been emitted

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        prefix_text = self._decode(self.ids[self._prefix : self._read])
        new_text = self._decode(self.ids[self._prefix :])
        if len(new_text) <= len(prefix_text) or new_text.endswith("\ufffd"):
            return ""  # an incomplete character: wait for the next token
        self._prefix, self._read = self._read, len(self.ids)
        return new_text[len(prefix_text) :]

    def bind(self, tokenizer: Any) -> None:
        """Decode with `tokenizer` from now on (a detokenizer that crossed processes travels without one)."""
        self.tokenizer = tokenizer
        self._backend = _rust_tokenizer(tokenizer)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "tokenizer": None, "_backend": None}

    def truncate(self, length: int) -> None:
        """Forget every token from index `length` on; the next push continues from there."""
        self.ids = self.ids[:length]
        self._read = length
        self._prefix = max(0, length - _CONTEXT)

    def _decode(self, ids: list[int]) -> str:
        if self._backend is not None:
            return self._backend.decode(ids, skip_special_tokens=False)
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _rust_tokenizer(tokenizer: Any) -> Any:
    """A fast tokenizer's `tokenizers.Tokenizer`, or None (slow tokenizers, stand-ins)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - transformers depends on tokenizers
        return None
    return backend if isinstance(backend, Tokenizer) else None
