"""The vLLM engine (`--backend vllm`): the shared controller in vLLM's worker, through hooks and a logits processor.

Importing this package does not import vLLM; `VllmEngine` does, with a clear
error when it is missing. `capture` (hooks on the worker's layers),
`processor` (the V1 logits processor) and `engine` (batches through
`vllm.LLM`, stop and resume by token ids).
"""

from cotexit.engines.vllm.engine import INSTALL_HINT, VllmEngine, VllmOptions, check_parallel, import_vllm

__all__ = ["INSTALL_HINT", "VllmEngine", "VllmOptions", "check_parallel", "import_vllm"]
