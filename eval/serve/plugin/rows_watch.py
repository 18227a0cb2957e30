"""The serve plug-in with one line in the server's log per batch change: the controller rows it keeps.

`RowsWatch` is `cotexit.engines.vllm.serve.CotexitServeProcessor` (the V1
runner's adapter, which the soak runs) unchanged, plus, after every batch
update that adds or removes requests, a log line

    cotexit-rows: rows=R alive=A added=N removed=M

where R is the number of requests the controller keeps state for and A the
number the model runner still holds (running or preempted). The soak reads
these lines to check that no controller state outlives its request: R never
exceeds A, and after the traffic stops one new request finds only itself.
Load it with `--logits-processors rows_watch:RowsWatch` and this folder on
the server's PYTHONPATH. It reads the adapter's `rows` and `runner`; where
those are missing it logs -1.
"""

from __future__ import annotations

import logging
from typing import Any

from cotexit.engines.vllm import serve

log = logging.getLogger("cotexit.serve.rows")


class RowsWatch(serve.CotexitServeProcessor):  # the adapter of the runner vLLM runs
    def update_state(self, batch_update: Any) -> None:
        super().update_state(batch_update)
        if batch_update is not None and (batch_update.added or batch_update.removed):
            rows = getattr(self, "rows", None)
            requests = getattr(getattr(self, "runner", None), "requests", None)
            log.warning("cotexit-rows: rows=%d alive=%d added=%d removed=%d",
                        len(rows) if rows is not None else -1, len(requests) if requests is not None else -1,
                        len(batch_update.added), len(batch_update.removed))
