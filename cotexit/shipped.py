"""Where the artifacts that ship with cotexit lie: the probe folders of `probes/`.

Owns finding them, in a wheel and in a checkout. A wheel carries the
checkout's top-level `probes/` as the package data `cotexit/shipped_probes/`
(setup.py maps it); a checkout, the editable install `pip install -e .`
included, reads `probes/` in place. What is in a folder is
`cotexit.probes.artifact`'s business; which probe goes with which model is
the CLI's (`cotexit.cli.exits`). The toy model's weights are package data of
their own package and need nothing from here.

    >>> from cotexit.shipped import shipped_probe
    >>> shipped_probe("toy-arith").name
    'toy-arith'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["probes_dir", "shipped_probe"]


def probes_dir() -> Path:
    """The folder holding the shipped probe artifacts, one folder each."""
    installed = resources.files("cotexit") / "shipped_probes"
    if installed.is_dir():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parents[1] / "probes"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"no shipped probes: neither {installed} (an installed wheel) nor {checkout} (a checkout) is a folder"
    )


def shipped_probe(name: str) -> Path:
    """The shipped artifact folder `name` (for example 'toy-arith'); a `ValueError` listing them if none is called so."""
    folder = probes_dir() / name
    if not folder.is_dir():
        shipped = sorted(p.name for p in probes_dir().iterdir() if p.is_dir())
        raise ValueError(f"no shipped probe {name!r}; shipped: {shipped}")
    return folder
