"""Synthetic calibration problems with known structure, for the calibration tests.

A problem has 0-8 cues and a latent point from which the answer is known:
when thinking to the end is right (probability 0.75), the answer forced at a
cue is right from that point on; before it (and on problems the full run gets
wrong) it is right only by luck. Probe scores are Beta draws that depend on
the label, shifted on the logit scale by a per-problem effect, so the cues of
one problem are dependent, as in real traces.
"""

from __future__ import annotations

import numpy as np

from cotexit.calibration import CueTable


def make_problems(n: int, seed: int, *, p_full: float = 0.75, luck: float = 0.15, with_tokens: bool = True) -> CueTable:
    rng = np.random.default_rng(seed)
    n_cues = rng.integers(0, 9, n)  # (P,) 0..8 cues
    full = rng.random(n) < p_full  # (P,)
    known = rng.integers(0, n_cues + 1)  # (P,) first cue with the answer known; n_cues: only at the end
    offsets = np.concatenate([[0], np.cumsum(n_cues)])
    problem = np.repeat(np.arange(n), n_cues)  # (C,)
    position = np.arange(offsets[-1]) - offsets[problem]  # (C,) cue index within its problem
    forced = (full[problem] & (position >= known[problem])) | (rng.random(problem.size) < luck)  # (C,)
    base = np.where(forced, rng.beta(5.0, 2.0, problem.size), rng.beta(2.0, 4.0, problem.size))  # (C,)
    logit = np.log(base) - np.log1p(-base) + rng.normal(0.0, 0.5, n)[problem]
    scores = 1.0 / (1.0 + np.exp(-logit))
    tokens = {}
    if with_tokens:
        gaps = rng.integers(20, 200, problem.size + n)  # thinking tokens between cues, and after the last
        cum = np.cumsum(gaps)
        # problem i owns gaps offsets[i] + i ... offsets[i + 1] + i; its cue j ends gap offsets[i] + i + j
        segment_start = offsets[:-1] + np.arange(n)  # (P,)
        before = np.where(segment_start > 0, cum[segment_start - 1], 0)  # (P,)
        cue_tokens = cum[segment_start[problem] + position] - before[problem]
        full_tokens = cum[segment_start + n_cues] - before
        tokens = {"cue_tokens": cue_tokens, "full_tokens": full_tokens}
    return CueTable(scores=scores, forced_correct=forced, offsets=offsets, full_correct=full, **tokens)
