"""The administrator's PIN or passphrase, stored only as a salted PBKDF2 hash in ``study.json``.

Observers can read ``study.json``, so a short PIN only deters; a passphrase resists guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000
MIN_LENGTH = 4


@dataclass(frozen=True)
class AdminSecret:
    """A salted hash of the admin PIN."""

    salt: str
    hash: str
    iterations: int = ITERATIONS
    algorithm: str = ALGORITHM

    @classmethod
    def create(cls, pin: str, iterations: int = ITERATIONS) -> AdminSecret:
        """Hash a new PIN with a fresh random salt."""
        if not isinstance(pin, str) or len(pin) < MIN_LENGTH:
            raise ValueError(f"the admin PIN must have at least {MIN_LENGTH} characters")
        salt = os.urandom(16).hex()
        return cls(salt, _derive(pin, salt, iterations), iterations)

    def verify(self, pin: str | None) -> bool:
        """Whether ``pin`` is the admin PIN (constant-time comparison)."""
        if not pin:
            return False
        return hmac.compare_digest(_derive(pin, self.salt, self.iterations), self.hash)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"algorithm": self.algorithm, "iterations": self.iterations, "salt": self.salt, "hash": self.hash}

    @classmethod
    def from_dict(cls, d: dict) -> AdminSecret:
        """Inverse of :meth:`to_dict`."""
        if d.get("algorithm") != ALGORITHM:
            raise ValueError(f"unknown admin PIN algorithm {d.get('algorithm')!r}")
        return cls(str(d["salt"]), str(d["hash"]), int(d["iterations"]), ALGORITHM)


def _derive(pin: str, salt: str, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), bytes.fromhex(salt), iterations).hex()
