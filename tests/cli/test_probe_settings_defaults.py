"""Options left out take a probe's certified setting: the one that agrees with the options given, preferring the
defaults, and the dtype its features were computed in."""

from __future__ import annotations

import argparse

from cotexit.cli.common import add_decode_args, add_model_args
from cotexit.cli.exits import choose_setting


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_model_args(parser)
    add_decode_args(parser, max_new_tokens=1024, from_probe=True)
    return parser.parse_args(list(argv))


def _setting(t: float, dtype: str | None = "float32") -> dict:
    decode = {"max_new_tokens": 1024, "max_answer_tokens": 32, "sampling": {"seed": 0, "temperature": t, "top_p": 1.0}}
    return {"name": f"temperature-{t:g}", "decode": decode, "dtype": dtype}


def test_the_defaults_are_kept_when_a_certified_setting_is_them():
    settings = [_setting(0.6), _setting(0.0), _setting(1.0)]
    assert choose_setting(settings, _args())["name"] == "temperature-0"  # --exit alone: greedy, which is covered
    assert choose_setting(settings, _args("--temperature", "1"))["name"] == "temperature-1"
    assert choose_setting(settings, _args("--temperature", "0.3"))["name"] == "temperature-0.6"  # none: the first
    # a one-setting probe lends its own decoding to the options left out
    assert choose_setting([_setting(0.6)], _args())["name"] == "temperature-0.6"
    # an option given that no setting has: the first setting that agrees with the rest
    assert choose_setting(settings, _args("--max-new-tokens", "99"))["name"] == "temperature-0.6"
