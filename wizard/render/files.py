"""Writing the rendered files: all or nothing, checked before the first write."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput, FieldError
from .common import HEADER, comment, dump_yaml_all

if TYPE_CHECKING:
    from .result import Rendered

_log = logging.getLogger("wizard.render")


def secrets_yaml(rendered: Rendered) -> str:
    objs = rendered.secret_objects()
    return (comment([HEADER, "SECRET: tokens and registry passwords. Apply, then delete this file:",
                      "kubectl apply --server-side --field-manager=runner-wizard -f secrets.yaml"])
            + (dump_yaml_all(objs) if objs else "# (no secret to create)\n"))


def preflight_out(out_dir: Path, rels: list[str] | tuple[str, ...] = (), field_name: str = "--out") -> None:
    """Raise BadInput (nothing written) unless every file of ``rels`` can be written under ``out_dir``:
    the folder is a folder (or can be created), no target is a directory or special file,
    no path component is a file, and the folder is writable."""
    import stat as _stat

    if not str(out_dir):
        raise BadInput([FieldError(field_name, "is empty; give the folder to write the files into")])

    def fail(msg: str) -> BadInput:
        return BadInput([FieldError(field_name, msg + "; choose another folder or remove it, nothing was written")])

    def kind(p: Path) -> str | None:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            try:
                os.lstat(p)
            except FileNotFoundError:
                return None
            return "dangling"
        except OSError as exc:
            raise fail(f"{p}: {exc.strerror or exc}") from None
        if _stat.S_ISDIR(st.st_mode):
            return "dir"
        return "file" if _stat.S_ISREG(st.st_mode) else "special"

    # the folder itself and every existing ancestor
    first_existing = out_dir
    k = kind(out_dir)
    if k == "dangling":
        raise fail(f"{out_dir} is a symbolic link to nothing")
    if k in ("file", "special"):
        raise fail(f"{out_dir} exists and is not a directory")
    while k is None:
        parent = first_existing.parent if str(first_existing) not in ("", ".") else Path(".")
        if parent == first_existing:
            break
        first_existing = parent
        k = kind(first_existing)
        if k == "dangling":
            raise fail(f"{first_existing} is a symbolic link to nothing")
        if k in ("file", "special"):
            raise fail(f"{first_existing} is a file, so {out_dir} cannot be created")
    if not os.access(first_existing, os.W_OK | os.X_OK):
        raise fail(f"{first_existing} is not writable by this user")
    if k != "dir":  # out_dir exists: check every target in it
        return
    for rel in rels:
        target = out_dir / rel
        for part in list(reversed(target.relative_to(out_dir).parents))[1:]:
            pk = kind(out_dir / part)
            if pk in ("file", "special", "dangling"):
                raise fail(f"{out_dir / part} is in the way (a file where a folder goes)")
            if pk == "dir" and not os.access(out_dir / part, os.W_OK | os.X_OK):
                raise fail(f"{out_dir / part} is not writable by this user")
        tk = kind(target)
        if tk == "dir":
            raise fail(f"{target} is a directory where a file goes")
        if tk in ("special", "dangling"):
            raise fail(f"{target} is not a regular file (a pipe, device or dangling link)")


def write(rendered: Rendered, out_dir: Path, *, with_secrets: bool = False) -> list[Path]:
    """Write ``rendered.files`` (and ``secrets.yaml``, mode 0600, only with ``with_secrets``).

    Every secret is resolved and every target checked before the first file is written,
    so bad input leaves nothing behind. All files are first written to temporary files next
    to their targets, then renamed into place; a failure before the renames removes the
    temporary files and the folders created. Returns the written paths, sorted.
    """
    out_dir = Path(out_dir)
    secret_text = secrets_yaml(rendered) if with_secrets else None
    plan: list[tuple[Path, str, int]] = [
        (out_dir / rel, text, 0o755 if rel in rendered.executable else 0o644) for rel, text in rendered.files.items()]
    if secret_text is not None:
        plan.append((out_dir / "secrets.yaml", secret_text, 0o600))
    preflight_out(out_dir, [str(p.relative_to(out_dir)) for p, _, _ in plan])
    created: list[Path] = []
    staged: list[tuple[str, Path, int]] = []
    try:
        for path, text, mode in plan:
            missing = [d for d in [path.parent, *path.parent.parents] if not d.exists()]
            for d in reversed(missing):
                try:
                    d.mkdir()
                except FileExistsError:
                    if not d.is_dir():
                        raise
                    continue  # made meanwhile by another writer (a fleet's clusters share the parent)
                created.append(d)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path, mode))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException as exc:
        for tmp, _, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise BadInput([FieldError("--out", f"cannot write into {out_dir}: {exc.strerror or exc}; "
                                                "nothing was written")]) from None
        raise
    for tmp, path, mode in staged:
        os.replace(tmp, path)
        os.chmod(path, mode)
        _log.info("wrote %s (mode %o)", path, mode)
    return sorted(p for _, p, _ in staged)

