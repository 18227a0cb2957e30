"""`cotexit_think`: vLLM's `deepseek_r1` reasoning parser for tokenizers whose `</think>` is a special token.

    --reasoning-parser-plugin cotexit.engines.vllm.reasoning --reasoning-parser cotexit_think

Owns `CotexitReasoningParser`, registered under `REASONING_PARSER` when this
module is imported. With it, a served response that exited has its thinking,
up to and including the cue, in `reasoning` (`reasoning_content` in older
vLLM) and the forced answer in `content`, streamed or not.
"""

from __future__ import annotations

from typing import Any

from vllm.reasoning import ReasoningParserManager
from vllm.reasoning.deepseek_r1_reasoning_parser import DeepSeekR1ReasoningParser

from cotexit.engines.vllm.serve import REASONING_PARSER

__all__ = ["CotexitReasoningParser"]


@ReasoningParserManager.register_module(REASONING_PARSER)
class CotexitReasoningParser(DeepSeekR1ReasoningParser):
    """`deepseek_r1` on text that keeps `<think>`/`</think>`. vLLM splits a non-streamed response on its text
    (`BaseThinkingReasoningParser.extract_reasoning`) and a streamed delta by token ids, cutting its text at the tag
    when it holds more tokens than the tag; with a special-token `</think>` (the toy's) and vLLM's default
    `skip_special_tokens=True` the tag is not in the text. vLLM calls `adjust_request` on every request of a
    server with a reasoning parser. A tokenizer whose `</think>` decodes (DeepSeek-R1-Distill's, an added
    non-special token) is left as it is."""

    def adjust_request(self, request: Any) -> Any:
        if not self.model_tokenizer.decode([self.end_token_id], skip_special_tokens=True):
            request.skip_special_tokens = False
        return super().adjust_request(request)

