"""What the vLLM tests share: small KV cache and a reserved core on a CPU machine, the toy model."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")


@pytest.fixture(scope="module")
def toy():
    from cotexit.models import load_model

    return load_model("toy")
