"""Which keyword a transformers forward takes the KV cache by: `cache` or `past_key_values`.

transformers 5.24 renamed `past_key_values` to `cache` on the forwards of its
causal LMs, decoder layers and attention modules, and warns (FutureWarning,
removal in 5.40) on every call that still uses the old name; earlier 5.x
releases know only `past_key_values`. Owns `cache_keyword` and
`cache_kwargs`, used wherever cotexit hands a cache to a model or to one of
its blocks (the decode loop's step, `cotexit.depth.stack`). The keyword is
read once per forward function from its signature; what the cache is and
how it grows is the caller's business.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

NEW = "cache"
OLD = "past_key_values"


def cache_keyword(module: Any) -> str:
    """`"cache"` when `module.forward` takes a `cache` argument, else `"past_key_values"`.

    >>> # cache_keyword(model) -> 'cache' on transformers >= 5.24
    """
    forward = getattr(module, "forward", module)
    return _keyword(getattr(forward, "__func__", forward))  # the class's function: one decision per class


def cache_kwargs(module: Any, cache: Any) -> dict[str, Any]:
    """`{keyword: cache}` to pass to `module`: `model(input_ids=ids, **cache_kwargs(model, cache))`."""
    return {cache_keyword(module): cache}


@functools.lru_cache(maxsize=None)
def _keyword(forward: Any) -> str:
    try:
        parameters = inspect.signature(forward).parameters  # follows the `__wrapped__` of transformers' decorators
    except (TypeError, ValueError):  # no signature to read: the name every transformers 5.x release accepts
        return OLD
    return NEW if NEW in parameters else OLD
