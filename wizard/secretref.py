"""Secret references: ``env:NAME`` or ``file:PATH`` in an answers file, never the value.

A reference is resolved only when the value is needed; every value read is registered for
redaction. A value typed in the wizard is held by the reference in memory only.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from . import logsafe, safeio
from . import validate as v
from .errors import BadInput, FieldError, SecretUnavailable
from .logsafe import looks_like_secret
from .schema import Problem as _Err
from .schema import parts

T = TypeVar("T")

_log = logging.getLogger("wizard.answers")


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret: ``env:NAME`` or ``file:PATH``. Never the value."""

    kind: str  # "env" | "file"
    target: str
    base_dir: Path = field(default=Path("."), compare=False)
    value: str | None = field(default=None, compare=False, repr=False)
    """A value typed this session and held only in memory (never written, never in os.environ)."""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    @classmethod
    def from_answer(cls, raw: object, path: str, base_dir: Path) -> SecretRef:
        """Parse the text of an answers file; :class:`~wizard.schema.Problem` names what is wrong."""
        return cls.parse(raw, path, base_dir)

    @classmethod
    def parse(cls, raw: object, path: str, base_dir: Path) -> SecretRef:
        if not isinstance(raw, str) or not raw:
            raise _Err(path, "must be a secret reference: env:NAME or file:PATH")
        kind, sep, target = raw.partition(":")
        if not sep or kind not in ("env", "file") or not target or looks_like_secret(target):
            # Never repeat the text: it may be the secret itself.
            raise _Err(
                path,
                "looks like a literal secret; answers files hold references only. Put the value "
                "in an environment variable and write env:NAME, or in a file (mode 0600) and "
                "write file:PATH",
            )
        bad = safeio.bad_char(target)
        if bad:
            raise _Err(path, f"the reference contains {bad}; write env:NAME or file:PATH on one line")
        if kind == "env" and v.env_name(target):
            raise _Err(path, "after env: comes the name of an environment variable (letters, digits and _, "
                             "not starting with a digit), e.g. env:RUNNER_TOKEN")
        if kind == "file" and len(target) > 4096:
            raise _Err(path, "the file path is longer than 4096 characters")
        return cls(kind, target, base_dir)

    @property
    def shown(self) -> str:
        """The reference as messages may show it: never a text that looks like the secret itself."""
        if any(looks_like_secret(part) for part in Path(self.target).parts) or looks_like_secret(self.target):
            return f"{self.kind}:(not shown: it looks like a secret)"
        return f"{self.kind}:{self.target}"

    def path(self) -> Path:
        p = Path(os.path.expanduser(self.target))
        return p if p.is_absolute() else self.base_dir / p

    def resolve(self, field_path: str = "secret") -> str:
        """Read the secret now (or return the value held in memory for it).

        Surrounding white space and a trailing newline are stripped. An empty value, a value
        of several lines or one with control characters raises :class:`SecretUnavailable`
        naming the field (never the value). Every value read is registered for redaction.
        """
        if self.value is not None:
            value = self.value.strip()
            where = "the value typed for it"
        elif self.kind == "env":
            raw = os.environ.get(self.target)
            if raw is None:
                raise SecretUnavailable(
                    [FieldError(field_path, f"environment variable {self.target} is not set; "
                                f"export {self.target}=... before running")])
            value = raw.strip()
            where = f"environment variable {self.target}"
        else:
            try:
                data = safeio.read_regular(self.path(), limit=safeio.SECRET_LIMIT, field=field_path,
                                           what="secret file", display=self._shown_path())
            except SecretUnavailable:
                raise
            except BadInput as exc:
                raise SecretUnavailable(exc.errors) from None
            try:
                value = data.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise SecretUnavailable([FieldError(field_path, f"{self._shown_path()} is not UTF-8 text (a binary "
                                                    "file?); put only the token or password in it")]) from None
            where = f"file {self._shown_path()}"
        logsafe.register_secret(value)
        if not value:
            raise SecretUnavailable([FieldError(field_path, f"{where} is empty; put the token or password there")])
        if "\n" in value or "\r" in value:
            raise SecretUnavailable([FieldError(field_path, f"{where} holds several lines; a token or password "
                                                "is one line: keep only the value")])
        bad = safeio.bad_char(value)
        if bad:
            raise SecretUnavailable([FieldError(field_path, f"{where} contains {bad.split(' at ')[0]}; "
                                                "keep only the token or password")])
        return value

    def _shown_path(self) -> str:
        shown = self.shown
        return str(self.path()) if shown.endswith(self.target) else shown

    def with_value(self, value: str) -> SecretRef:
        """The same reference, holding ``value`` in memory (typed, not stored yet)."""
        return SecretRef(self.kind, self.target, self.base_dir, value)

    def available(self) -> bool:
        if self.value is not None:
            return True
        if self.kind == "env":
            return self.target in os.environ
        return self.path().is_file()


class HasSecrets(Protocol):
    """What :func:`register_secrets` reads: :class:`wizard.answers.Answers`."""

    registries: list[Any]

    def secret_refs(self) -> dict[str, SecretRef]: ...


def register_secrets(answers: HasSecrets) -> None:
    """Read every secret reference that can be read now, only to register the values for
    redaction (so no output shows them, even where they come back from a cluster or log).
    Missing or unreadable secrets are ignored here; the command that needs one reports it."""
    refs = answers.secret_refs()
    values: dict[str, str] = {}
    for path, ref in refs.items():
        try:
            values[path] = ref.resolve(path)
        except BadInput as exc:
            _log.info("secret %s (%s): not readable now: %s", path, ref.shown, exc.render())
            continue
        _log.info("secret %s (%s): read (%d characters)", path, ref.shown, len(values[path]))
    for i, reg in enumerate(answers.registries):
        pw = values.get(f"registries[{i}].password")
        if pw is None:
            continue
        user = values.get(f"registries[{i}].username") if isinstance(reg.username, SecretRef) else reg.username
        logsafe.register_secret(pw, user=user or "")


def with_secret_values(a: T, values: Mapping[str, str]) -> T:
    """A copy of ``a`` whose secret references at the given field paths hold these values in
    memory (secrets typed in the wizard, not stored yet). Nothing goes into ``os.environ``."""
    out = copy.deepcopy(a)
    for path, value in values.items():
        *up, last = parts(path)
        node: Any = out
        try:
            for part in up:
                node = node[part] if isinstance(part, int) else getattr(node, part)
            ref = getattr(node, str(last))
        except (AttributeError, IndexError, TypeError):
            continue
        if isinstance(ref, SecretRef):
            setattr(node, str(last), ref.with_value(value))
    return out
