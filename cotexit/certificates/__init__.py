"""Certificates a user can re-check: the calibration evidence next to the weights, and digests over both.

An artifact (a probe, a layer-exit threshold, or both calibrated jointly) keeps
the evidence its threshold was chosen from in `evidence.safetensors`
(`evidence`) and a `certificate` section in its card: the procedure, and a
SHA-256 digest of every file and of every card field (`digest`). Loading an
artifact checks the digests and names what changed (`check_certificate`);
`cotexit verify` (`verify`) also recomputes the p-values and the chosen
threshold from the evidence, so a threshold the evidence does not support is
caught even when its digests were recomputed to match.
"""

from cotexit.certificates.digest import CertificateError, check_certificate, seal
from cotexit.certificates.verify import VerifyReport, verify

__all__ = ["CertificateError", "VerifyReport", "check_certificate", "seal", "verify"]
