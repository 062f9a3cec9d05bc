"""The Go TLS oracle: tests/oracle/gotls built once (cached by source hash) and run per case.

It dials like the GitLab Runner manager (system pool + the CA file, server name =
the URL's host, TLS >= 1.2) and prints Go's verdict as JSON. The child gets a
dedicated "system pool" through SSL_CERT_FILE/SSL_CERT_DIR, so the machine's own
trust store never takes part, and nothing else from our environment.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "oracle" / "gotls"
CACHE = Path.home() / ".cache" / "runner-wizard" / "gotls"


def find_go() -> str | None:
    return shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)


def build(go: str) -> Path:
    h = hashlib.sha256()
    for name in ("go.mod", "main.go"):
        h.update((SRC / name).read_bytes())
    out = CACHE / h.hexdigest()[:16] / "gotls"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()),
                   "GOTOOLCHAIN": "local", "GOPROXY": "off", "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
            subprocess.run([go, "build", "-o", str(tmp), "."], cwd=SRC, env=env, check=True,
                           capture_output=True, timeout=600)
            tmp.rename(out)
    return out


@dataclass
class GoOracle:
    binary: Path

    def verdict(self, port: int, server_name: str, ca_file: bytes | None, system_pem: bytes = b"") -> dict:
        with tempfile.TemporaryDirectory(prefix="gotls-") as d:
            sysfile, sysdir = Path(d, "system.pem"), Path(d, "certs")
            sysdir.mkdir()
            sysfile.write_bytes(system_pem)
            args = [str(self.binary), "-connect", f"127.0.0.1:{port}", "-servername", server_name]
            if ca_file is not None:
                Path(d, "ca.crt").write_bytes(ca_file)
                args += ["-cafile", str(Path(d, "ca.crt"))]
            env = {"SSL_CERT_FILE": str(sysfile), "SSL_CERT_DIR": str(sysdir)}
            res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(f"gotls failed: {res.stderr}")
        return json.loads(res.stdout)
