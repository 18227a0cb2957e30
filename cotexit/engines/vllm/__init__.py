"""The vLLM engine (`--backend vllm`): the shared controller in vLLM's worker, through a capture model and a logits processor.

Importing this package does not import vLLM; `VllmEngine` does, with a clear
error when it is missing. `model_capture` (the model class whose forward
hands out the probe's layers, compiled or eager), `capture` (what a
processor reads of them each step),
`control` (the controller for one request, whatever the model runner),
`processor` and `processor_v2` (the V1 and Model Runner V2 logits
processors, thin adapters over `control`), `runners` (which runner vLLM
runs, and the processor class for it), `engine` (batches through
`vllm.LLM`, stop and resume by token ids), `workers` (the engine's calls in
vLLM's workers) and `serve` (the `vllm serve` plug-in).
"""

from cotexit.engines.vllm.engine import INSTALL_HINT, VllmEngine, VllmOptions, check_parallel, import_vllm

__all__ = ["INSTALL_HINT", "VllmEngine", "VllmOptions", "check_parallel", "import_vllm"]
