"""Where the stylesheets are: ``<repo>/assets`` in a checkout, ``screens/assets`` in a wheel."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def assets_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets", here.parent / "assets"):
        if (candidate / "wizard.tcss").is_file():
            return candidate
    raise FileNotFoundError(f"runner-wizard assets not found next to {here} (expected assets/wizard.tcss)")


def asset(name: str) -> Path:
    return assets_dir() / name
