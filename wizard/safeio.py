"""Reading what users hand us, safely: regular files of bounded size, text that is UTF-8.

Every read of a user-named file (answers file, ``file:`` secret, CA bundle, saved log)
goes through :func:`read_regular`: a FIFO, a device or a directory is refused without
blocking (opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor),
and at most ``limit`` bytes are read. :func:`check_text` rejects characters that have no
place in a configuration value (control characters, bidirectional overrides, NUL).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import BadInput, FieldError
from .text import bad_char, printable  # noqa: F401 - re-exported

ANSWERS_LIMIT = 1 << 20        # 1 MiB: a real answers file is a few KiB
SECRET_LIMIT = 64 << 10        # 64 KiB: tokens and passwords are short
CA_LIMIT = 4 << 20             # 4 MiB: a large CA bundle is ~250 KiB
LOG_LIMIT = 32 << 20           # 32 MiB per saved log given to diagnose

def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.0f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n}"  # pragma: no cover


def _a(what: str) -> str:
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


def read_regular(path: str | os.PathLike[str], *, limit: int, field: str, what: str = "file",
                 display: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; BadInput naming ``field`` otherwise.

    Never blocks on a FIFO or device and never reads more than ``limit + 1`` bytes. Messages
    show ``display`` instead of the path when given (a path that may be a secret).
    """
    path = Path(path)
    p = display if display is not None else path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BadInput([FieldError(field, f"cannot read {what} {p}: {exc.strerror or exc}; "
                                          "fix the path or create the file")]) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise BadInput([FieldError(field, f"{p} is a directory; give the path of a {what}")])
        if not stat.S_ISREG(st.st_mode):
            raise BadInput([FieldError(field, f"{p} is not a regular file (a pipe, socket or device); "
                                              f"give the path of {_a(what)}")])
        if st.st_size > limit:
            raise BadInput([FieldError(field, f"{p} is {_size(st.st_size)}; {_a(what)} has at most "
                                              f"{_size(limit)}. Is this the right file?")])
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            try:
                chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            except BlockingIOError:  # pragma: no cover - regular files never block
                break
            except OSError as exc:
                raise BadInput([FieldError(field, f"cannot read {what} {p}: {exc.strerror or exc}")]) from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise BadInput([FieldError(field, f"{p} grew past {_size(limit)} while being read; "
                                              f"{_a(what)} has at most {_size(limit)}")])
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_text(data: bytes, *, field: str, source: str, what: str = "file") -> str:
    """UTF-8 text (a UTF-8 BOM is allowed and dropped); BadInput naming the byte offset otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput([FieldError(field, f"{source} is UTF-16 text; save the {what} as UTF-8")])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput([FieldError(field, f"{source} is not UTF-8 text (invalid byte at offset {exc.start}); "
                                          f"save the {what} as UTF-8")]) from None
    if "\x00" in text:
        raise BadInput([FieldError(field, f"{source} contains NUL bytes (a binary file?); "
                                          f"give a text file")])
    return text


def write_atomic(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` all at once: into a temporary file of this write's own (created
    0600 with O_EXCL next to it, so two writers never share one and a planted file or link is never
    opened), given ``mode``, then renamed over ``path``. The parent folder is created. On any
    failure the temporary file is removed and ``path`` is untouched."""
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p
