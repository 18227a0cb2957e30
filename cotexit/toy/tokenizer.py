"""The toy model's word-level tokenizer and chat template.

Owns `build_tokenizer`: a `tokenizers` WordLevel model whose pre-tokenizer
splits text into words with their leading space (" apples"), single digits,
punctuation (with an optional leading space), lone spaces and single newlines,
and a `Fuse` decoder, so `decode(encode(text)) == text` for any text whose
pieces are in the vocabulary. `<think>`, `</think>` and the chat markers are
special tokens and `\\boxed{` (with or without its leading space) is one
piece, so the forced-exit text "\\n</think>\\nThe final answer is \\\\boxed{"
always ends on a token boundary. Knows nothing about models or training.

>>> tok = build_tokenizer()
>>> text = "So 12 + 7 = 19.\\nWait, let me double-check."
>>> tok.decode(tok(text)["input_ids"]) == text
True
"""

from __future__ import annotations

import random
import re

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from cotexit.benchmarks.arith import ITEMS, LEVELS, NAMES, generate_problem
from cotexit.toy.traces import EOS, THINK_END, THINK_START, forced_reply, reply_text, write_trace

BOS = "<|bos|>"
PAD = "<|pad|>"
UNK = "<|unk|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK, USER, ASSISTANT, THINK_START, THINK_END)
INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."

PIECE_PATTERN = r"\n| ?\\boxed\{| ?[A-Za-z]+|\d| ?[^\sA-Za-z\d]| +|\s"

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def user_message(problem_text: str) -> str:
    """The user content the benchmark builds for a problem (and the model is trained on)."""
    return problem_text + INSTRUCTION


def prompt_text(problem_text: str) -> str:
    """What the chat template renders for one user message with a generation prompt."""
    return f"{BOS}{USER}\n{user_message(problem_text)}\n{ASSISTANT}\n"


def _pieces(text: str) -> list[str]:
    specials = "(" + "|".join(re.escape(s) for s in SPECIAL_TOKENS) + ")"
    out: list[str] = []
    for chunk in re.split(specials, text):
        if chunk and chunk not in SPECIAL_TOKENS:
            out.extend(re.findall(PIECE_PATTERN, chunk))
    return out


def _corpus(n_problems: int = 2000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = [
        " ".join(n for n, _ in NAMES) + " " + " ".join(p for _, p in NAMES) + " " + " ".join(ITEMS),
        " ".join(f"{p.lower()} {i}" for _, p in NAMES for i in ITEMS),
        "0123456789 0 1 2 3 4 5 6 7 8 9 + - * / = , . : ? ! ( ) { } ' \"",
    ]
    for i in range(n_problems):
        prob = generate_problem(rng, LEVELS[i % len(LEVELS)])
        trace = write_trace(prob, rng)
        texts.append(prompt_text(prob.text) + reply_text(trace))
        for cut in trace.cut_points():
            texts.append("".join(forced_reply(trace, cut)))
    return texts


def build_vocab() -> dict[str, int]:
    """Specials first, then every piece of a generated corpus, in a deterministic order."""
    pieces: set[str] = set()
    for text in _corpus():
        pieces.update(_pieces(text))
    letters = [chr(c) for c in range(33, 127)]
    pieces.update(letters)
    pieces.update(" " + c for c in letters if not c.isalnum())
    pieces.update({" ", "\n", "\t"})
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for piece in sorted(pieces):
        vocab.setdefault(piece, len(vocab))
    return vocab


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The toy tokenizer, ready for `save_pretrained` (with chat template and special tokens)."""
    core = Tokenizer(models.WordLevel(vocab=build_vocab(), unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok
