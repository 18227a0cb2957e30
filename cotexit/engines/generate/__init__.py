"""The `generate()` engine (`--backend generate`): cotexit's exits inside an unmodified `model.generate()`.

`GenerateExits` is the entry point; `ExitProcessor` is the logits processor
it hands to `generate()`; `decode_answers` decodes forced answers from token-id
prefixes.
"""

from cotexit.engines.generate.answers import DecodedAnswer, decode_answers
from cotexit.engines.generate.engine import GenerateExits
from cotexit.engines.generate.processor import ExitProcessor

__all__ = ["DecodedAnswer", "ExitProcessor", "GenerateExits", "decode_answers"]
