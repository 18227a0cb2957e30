"""Digests over an artifact's files and card fields: what changed after calibration, by name.

Owns `seal` (write the digests into the card's `certificate` section),
`check_certificate` (recompute them and raise `CertificateError` naming every
file and card field that differs) and `refuse_if_changed` (the same check as
the error an artifact loader raises). Each top-level card field gets its own
digest, and each entry of `calibration` (and of `layer_exit`) one more, so an
edited threshold is reported as `calibration.threshold`, not as "the card".
A digest is integrity, not authenticity: whoever edits a field can also
recompute its digest. `cotexit.certificates.verify` closes that gap by
recomputing the threshold from the evidence.

>>> card = {"calibration": {"threshold": 0.5, "epsilon": 0.02}, "model": {"name": "toy"}}
>>> sealed = seal(card, {})
>>> check_certificate(sealed, {})
>>> sealed["calibration"]["threshold"] = 0.4
>>> try:
...     check_certificate(sealed, {})
... except CertificateError as exc:
...     print(exc)
changed after calibration: calibration.threshold
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CERTIFICATE = "certificate"
_DEEP = ("calibration", "layer_exit")  # sections digested entry by entry


class CertificateError(ValueError):
    """An artifact's files or card fields differ from what was sealed at calibration."""

    def __init__(self, changed: list[str], detail: str = "") -> None:
        self.changed = changed
        super().__init__(f"changed after calibration: {', '.join(changed)}{detail}")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=float).encode()


def field_digests(card: Mapping[str, Any]) -> dict[str, str]:
    """One digest per top-level field (the certificate itself excluded), and per entry of the deep sections."""
    out = {}
    for key, value in card.items():
        if key == CERTIFICATE:
            continue
        out[key] = _sha(_canonical(value))
        if key in _DEEP and isinstance(value, Mapping):
            for sub, inner in value.items():
                out[f"{key}.{sub}"] = _sha(_canonical(inner))
    return out


def file_digests(files: Mapping[str, Path]) -> dict[str, str]:
    return {name: _sha(Path(path).read_bytes()) for name, path in sorted(files.items())}


def seal(card: dict[str, Any], files: Mapping[str, Path], procedure: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `card` whose certificate holds the digests of its fields and of `files` (name -> path)."""
    certificate = dict(card.get(CERTIFICATE) or {})
    if procedure is not None:
        certificate["procedure"] = dict(procedure)
    certificate.update(fields=field_digests(card), files=file_digests(files), hash="sha256")
    return {**card, CERTIFICATE: certificate}


def check_certificate(card: Mapping[str, Any], files: Mapping[str, Path]) -> None:
    """Raise `CertificateError` naming every file and field that differs from the sealed digests.

    Deep sections are reported entry by entry (`calibration.threshold`); a field
    added or removed after sealing counts as changed.
    """
    certificate = card.get(CERTIFICATE)
    if not isinstance(certificate, Mapping) or "fields" not in certificate or "files" not in certificate:
        raise CertificateError(["certificate"], " (the card has no sealed digests)")
    sealed, now = certificate["fields"], field_digests(card)
    changed = []
    for key in sorted(set(sealed) | set(now)):
        if sealed.get(key) == now.get(key):
            continue
        top = key.split(".")[0]
        if key == top and top in _DEEP and any(k.startswith(top + ".") and sealed.get(k) != now.get(k) for k in set(sealed) | set(now)):
            continue  # named by its entries
        changed.append(key)
    present = {name: path for name, path in files.items() if Path(path).is_file()}
    missing = sorted(set(certificate["files"]) - set(present))
    digests = file_digests({name: path for name, path in present.items() if name in certificate["files"]})
    changed += [f"{name} (missing)" for name in missing]
    changed += [name for name, digest in digests.items() if certificate["files"][name] != digest]
    changed += [f"{name} (not sealed)" for name in sorted(set(present) - set(certificate["files"]))]
    if changed:
        raise CertificateError(changed)


def refuse_if_changed(card: Mapping[str, Any], files: Mapping[str, Path], what: str, hint: str) -> None:
    """`check_certificate` for a loader: a sealed card whose files or fields changed is a ValueError.

    `what` names the artifact ("probe artifact DIR"), `hint` says what to do about it. Cards without a
    certificate (made before certificates) pass: there is nothing to check them against.
    """
    if card.get(CERTIFICATE) is None:
        return
    try:
        check_certificate(card, files)
    except CertificateError as exc:
        raise ValueError(f"refusing {what}: {exc}; its guarantee no longer describes it ({hint})") from exc
