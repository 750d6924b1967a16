"""``module:attribute`` references (``--app``, ``--mailer``), resolved one way everywhere."""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path
from typing import Any

from tayori.errors import ConfigError


def load_object(ref: str) -> Any:
    """Import ``package.module:attribute`` with the current directory importable, as
    ``python -m`` would have it (a project's own package is found from its root)."""
    module, sep, attr = str(ref).partition(":")
    if not module or not sep or not attr:
        raise ConfigError(f"expected package.module:attribute, got {ref!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return pkgutil.resolve_name(ref)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module!r}: {exc}") from None
    except AttributeError:
        raise ConfigError(f"module {module!r} has no attribute {attr!r}") from None
    except ValueError as exc:
        raise ConfigError(f"bad reference {ref!r}: {exc}") from None
