"""Whether the Hugging Face hub may be asked now, and if not, why.

Owns `offline_reason`: a reason not to ask the hub (an `HF_*_OFFLINE`
variable is set, or the hub's endpoint cannot be reached at all), or `None`.
Model and data loaders call it before any hub request, so that an offline
machine is told at once, in one line, instead of after the hub clients'
retries. What to load instead (a local folder, the local cache) is the
loaders' business. Nothing here downloads: the reachability check is one
HEAD request with a short timeout, made at most once per process.

>>> offline_reason(("COTEXIT_EXAMPLE_OFFLINE",), environ={"COTEXIT_EXAMPLE_OFFLINE": "1"})
'COTEXIT_EXAMPLE_OFFLINE is set'
"""

from __future__ import annotations

import functools
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

__all__ = ["DATASET_VARIABLES", "MODEL_VARIABLES", "offline_reason", "offline_setting", "unreachable"]

MODEL_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
"""The variables that keep transformers and huggingface_hub off the network."""
DATASET_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
"""The variables that keep `datasets` off the network."""

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0
_TRUE = ("1", "true", "yes", "on")


def offline_setting(variables: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """`'NAME is set'` for the first of `variables` set to a true value (1, true, yes, on), else `None`."""
    environ = os.environ if environ is None else environ
    for name in variables:
        if environ.get(name, "").strip().lower() in _TRUE:
            return f"{name} is set"
    return None


@functools.lru_cache(maxsize=4)
def _probe(endpoint: str, timeout: float) -> str | None:
    """Why `endpoint` cannot be reached (no DNS, no route, timeout), or `None` when anything answered."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # the server answered, with an error status: the network is there
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            return None  # a TLS peer answered (a proxy's certificate, say): let the hub client, with its settings, try
        return f"cannot reach {endpoint} ({exc.reason})"
    except OSError as exc:  # timeouts and resets outside URLError
        return f"cannot reach {endpoint} ({exc})"
    return None


def unreachable(environ: Mapping[str, str] | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub's endpoint (`$HF_ENDPOINT`, else huggingface.co) cannot be reached, or `None`; checked once."""
    environ = os.environ if environ is None else environ
    endpoint = environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    return _probe(endpoint.rstrip("/"), timeout)


def offline_reason(variables: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """Why the hub must not be asked now: one of `variables` is set, or the endpoint is unreachable; else `None`.

    The variables are read first, so a machine marked offline never touches the network here.
    """
    return offline_setting(variables, environ) or unreachable(environ)
