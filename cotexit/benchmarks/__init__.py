"""Benchmarks: suites declared as data, loading, prompts, answer extraction, grading and the data check.

Each module owns one step: `suites` (what a benchmark is), `datadir` (where
its files are), `loading` (files or hub rows to `Problem`s), `arith` and
`arith_splits` (the generated `arith` suite), `prompts` (the user message),
`extraction` (a response's final answer), `grading` (is it right),
`datacheck` (are the local files sound), `provenance` and `results` (what a
run writes). Imports nothing of cotexit's outside this package but
`cotexit.jsonlines` and `cotexit.hub`; running models over the suites is
`cotexit.experiments`'. math-verify and `datasets` are imported only when used.
"""

from cotexit.benchmarks.datadir import find_data_dir, resolve_data_dir
from cotexit.benchmarks.extraction import extract_answer, gsm8k_final, last_boxed, last_number
from cotexit.benchmarks.grading import is_equivalent
from cotexit.benchmarks.loading import data_file_sha256, load_problems, source_path
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import SUITES, SuiteSpec, get_suite, list_suites, register_suite

__all__ = [
    "SUITES",
    "Problem",
    "SuiteSpec",
    "build_prompt",
    "data_file_sha256",
    "extract_answer",
    "find_data_dir",
    "get_suite",
    "gsm8k_final",
    "is_equivalent",
    "last_boxed",
    "last_number",
    "list_suites",
    "load_problems",
    "register_suite",
    "resolve_data_dir",
    "source_path",
]
