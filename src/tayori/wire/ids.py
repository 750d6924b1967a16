"""Random ids in bulk: one read of the OS's randomness for many (a syscall, and on
CPython a GIL release, per id showed up on the hot paths)."""

from __future__ import annotations

import os


def uuid4s(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs: the same values as ``str(uuid.uuid4())``."""
    raw = os.urandom(16 * n)
    out = []
    for i in range(0, 16 * n, 16):
        h = raw[i : i + 16].hex()
        variant = "89ab"[int(h[16], 16) & 3]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
    return out
