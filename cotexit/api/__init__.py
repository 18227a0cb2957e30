"""The Python face of cotexit: load a model, open an engine with exits, calibrate a probe.

Owns nothing of its own but the wiring every user needs (`Exits`, `Engine`,
`Solution`, `collect`, `calibrate_probe`); the pieces live in the packages
below it. `import cotexit` re-exports these (see `cotexit.__all__`); the CLI
is built on them.
"""

from cotexit.api.calibrate import calibrate_probe, collect
from cotexit.api.engine import SOLUTION_SCHEMA, Engine, Solution
from cotexit.api.exits import SHIPPED_FOR_MODEL, Exits, ResolvedExits, shipped_probe_for

__all__ = [
    "SHIPPED_FOR_MODEL",
    "SOLUTION_SCHEMA",
    "Engine",
    "Exits",
    "ResolvedExits",
    "Solution",
    "calibrate_probe",
    "collect",
    "shipped_probe_for",
]
