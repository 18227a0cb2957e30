"""Cue matching does not depend on how a tokenizer splits the text."""

from __future__ import annotations

import pytest

from cotexit.controller.cues import CueConfig, CueWatcher

TEXT = "So 12 + 7 = 19. Wait, that is right. Hmmm, let me think.\nBut wait: Let me double-check 19. Alternatively, add 7 + 12."
EXPECTED = ["Wait", "Hmm", "But wait", "Let me double-check", "Alternatively"]


def splits(text):
    yield [text]  # one piece
    yield list(text)  # one character per token
    yield text.split(" ")[:1] + [" " + w for w in text.split(" ")[1:]]  # GPT-style leading spaces
    yield [text[i : i + 3] for i in range(0, len(text), 3)]  # words cut across tokens


@pytest.mark.parametrize("pieces", list(splits(TEXT)), ids=["whole", "chars", "words", "trigrams"])
def test_same_cues_whatever_the_tokenisation(pieces):
    watcher = CueWatcher(CueConfig())
    found = []
    for index, piece in enumerate(pieces):
        found += watcher.feed(piece, index, step=index)
    found += watcher.feed(".", len(pieces), step=len(pieces))
    assert [c.phrase for c in found] == EXPECTED
    for cue in found:  # token indices point at the pieces holding the cue's first and last characters
        start = sum(len(p) for p in pieces[: cue.token_start])
        end = sum(len(p) for p in pieces[: cue.token_end + 1])
        assert start <= cue.char_start < sum(len(p) for p in pieces[: cue.token_start + 1])
        assert TEXT[cue.char_start : cue.char_start + len(cue.text)] == cue.text
        assert cue.char_start + len(cue.text) <= end


def test_lowercase_at_sentence_start_and_no_mid_sentence_match():
    watcher = CueWatcher(CueConfig())
    found = watcher.feed("ok. wait, you have to wait for it. Waiting is no cue. hmm.", 0, step=0)
    assert [(c.phrase, c.text) for c in found] == [("Wait", "wait"), ("Hmm", "hmm")]


def test_cue_waits_for_the_next_character():
    watcher = CueWatcher(CueConfig(phrases=("Wait",)))
    assert watcher.feed("x. Wait", 0, step=0) == []  # could still become "Waiting"
    assert [c.token_end for c in watcher.feed(",", 1, step=1)] == [0]


def test_paragraph_breaks_are_optional_cues():
    text = "first step.\n\nsecond step.\n\n"
    assert CueWatcher(CueConfig()).feed(text, 0, step=0) == []
    found = CueWatcher(CueConfig(paragraph_breaks=True)).feed(text, 0, step=0)
    assert [c.phrase for c in found] == ["\n\n", "\n\n"]


def test_disabled_watcher_keeps_text_but_reports_nothing():
    watcher = CueWatcher(CueConfig(), enabled=False)
    assert watcher.feed("x. Wait, y.", 0, step=0) == []
    watcher.enable()
    assert [c.phrase for c in watcher.feed(" Hmm, z.", 1, step=1)] == ["Hmm"]


def test_real_tokenizer_splits(tokenizer):
    ids = tokenizer(TEXT + ".", add_special_tokens=False)["input_ids"]
    from cotexit.controller.detokenize import IncrementalDetokenizer

    detok, watcher, found = IncrementalDetokenizer(tokenizer), CueWatcher(CueConfig()), []
    for index, token in enumerate(ids):
        found += watcher.feed(detok.push(token), index, step=index)
    assert watcher.text == TEXT + "."
    assert [c.phrase for c in found] == EXPECTED


@pytest.mark.parametrize("bad", [dict(phrases=()), dict(phrases=("",))])
def test_bad_cue_config(bad):
    with pytest.raises(ValueError):
        CueConfig(**bad)


@pytest.mark.parametrize("paragraph_breaks", [False, True])
def test_skipping_the_scan_changes_no_cue(paragraph_breaks, monkeypatch):
    """The cheap pre-check only skips scans that would find nothing: same cues as scanning every delta."""
    import random

    fragments = ["Wait", "wait", "Hmm", "m", "But", "Let me check", "Alternatively", " ", "  ", "\n", "\n\n", ".", ","]
    fragments += ["x", "-", "ing", "1", "=", "é", "Let me chec", "\u212a"]  # KELVIN SIGN matches "k" ignoring case
    config = CueConfig(paragraph_breaks=paragraph_breaks)

    def cues(pieces, scan_always):
        watcher = CueWatcher(config)
        if scan_always:
            monkeypatch.setattr(watcher, "_may_end_a_cue", lambda before: True)
        found = []
        for index, piece in enumerate(pieces):
            found += watcher.feed(piece, index, step=index)
        return [(c.phrase, c.char_start, c.token_start, c.token_end, c.step) for c in found]

    rng = random.Random(0)
    total = 0
    for _ in range(400):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(5, 60)))
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 30))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        expected = cues(pieces, scan_always=True)
        assert cues(pieces, scan_always=False) == expected, text
        total += len(expected)
    assert total > 200  # the texts are full of cues, so the check is not vacuous


def test_the_detokenizer_decodes_with_the_rust_tokenizer_exactly_as_the_wrapper(tokenizer):
    """The fast path (the `tokenizers.Tokenizer` behind a fast tokenizer) gives the wrapper's text, delta by delta."""
    import random

    from cotexit.controller.detokenize import IncrementalDetokenizer

    fast = IncrementalDetokenizer(tokenizer)
    assert fast._backend is not None, "the test tokenizer is a fast one: the fast path must be taken"
    slow = IncrementalDetokenizer(tokenizer)
    slow._backend = None
    rng = random.Random(0)
    ids = [rng.randrange(len(tokenizer)) for _ in range(400)]
    assert [fast.push(t) for t in ids] == [slow.push(t) for t in ids]
    assert "".join(slow.push(t) for t in ids[:50]) == "".join(fast.push(t) for t in ids[:50])
