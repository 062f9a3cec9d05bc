"""Secrets typed in the wizard: where the front ends offer to store them (a file next to
the answers, mode 0600, or an environment variable), the reference written instead, and
placeholder references for live checks before anything is stored. The defaults come from
the secret fields of the answers model (:class:`wizard.schema.Secret`)."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from . import schema as sc
from .answers import Answers

SECRET_STORAGE: dict[str, tuple[str, str]] = {
    path: (info.meta.secret.file, info.meta.secret.env)
    for path, info in sc.walk(Answers) if info.meta.secret is not None and info.meta.secret.file
}
"""Default file name (next to the answers file) and variable name per secret field."""


def is_reference(text: str | None) -> bool:
    if not text:
        return False
    kind, sep, target = text.strip().partition(":")
    return bool(sep) and kind in ("env", "file") and bool(target)


def secret_defaults(path: str) -> tuple[str, str]:
    """(file name, env var name) offered for storing a typed secret of this field."""
    if path in SECRET_STORAGE:
        return SECRET_STORAGE[path]
    m = re.match(r"registries\[(\d+)\]\.(\w+)", path)
    if m:
        return f"registry-{int(m.group(1)) + 1}-{m.group(2)}", f"REGISTRY_{int(m.group(1)) + 1}_{m.group(2).upper()}"
    leaf = path.rsplit(".", 1)[-1]
    return leaf.replace("_", "-"), leaf.upper()


def secret_reference(path: str, how: str, name: str | None = None) -> str:
    """The reference stored in the answers for a typed secret: ``file:./NAME`` or ``env:NAME``."""
    file_name, env_name = secret_defaults(path)
    if how == "env":
        return f"env:{name or env_name}"
    target = name or f"./{file_name}"
    return f"file:{target}"


def store_secret(value: str, ref: str, base_dir: Path | str = ".") -> Path | None:
    """Write a typed secret where its ``file:`` reference points, mode 0600 from the start.

    Returns the path written, or ``None`` for ``env:`` references (nothing to write).
    """
    kind, _, target = ref.partition(":")
    if kind != "file":
        return None
    p = Path(os.path.expanduser(target))
    if not p.is_absolute():
        p = Path(base_dir) / p
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value.strip() + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    import logging

    logging.getLogger("wizard.steps").info("wrote secret file %s (mode 0600)", p)
    return p


def draft_env_name(path: str) -> str:
    return "RUNNER_WIZARD_DRAFT_" + re.sub(r"[^A-Za-z0-9]", "_", path).upper()


def with_drafts(raw: dict[str, Any], drafts: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """For live checks before secrets are stored: point drafted secret fields at placeholder
    ``env:`` references, so that the answers validate. Returns the mapping and placeholder name
    -> value. Never put these into ``os.environ``: attach the values to the references with
    :func:`wizard.answers.with_secret_values` (keyed by field path) instead."""
    out = copy.deepcopy(raw)
    env: dict[str, str] = {}
    for path, value in drafts.items():
        name = draft_env_name(path)
        env[name] = value
        sc.set_value(out, path, f"env:{name}")
    return out, env
