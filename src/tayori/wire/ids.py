"""Random ids in bulk: one read of the OS's randomness for many (a syscall, and on
CPython a GIL release, per id showed up on the hot paths)."""

from __future__ import annotations

import os

# the UUID variant nibble: its two top bits forced to 10 (RFC 4122), as uuid.UUID does
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4s(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs: the same values as ``str(uuid.uuid4())``."""
    h = os.urandom(16 * n).hex()
    variant = _VARIANT
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{variant[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]
