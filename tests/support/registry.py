"""A real container registry for tests: Debian's ``docker-registry`` (Distribution
2.x) on a free loopback port, with optional TLS and htpasswd (bcrypt) auth and
filesystem storage in a temp dir.

    pki = make_loopback_pki()
    with Registry(tls=(pki.ca, pki.leaf), users={"bot": "s3cret"}) as reg:
        reg.host          # "127.0.0.1:PORT"
        reg.url           # "https://127.0.0.1:PORT"
        reg.ca_pem_path   # CA that signed the registry's certificate
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .tlsfactory import Cert, chain_pem, free_port

__all__ = ["Registry", "RegistryUnavailable", "registry_binary", "htpasswd_line"]

DEFAULT_BINARY = "/usr/bin/docker-registry"


class RegistryUnavailable(RuntimeError):
    """The docker-registry binary is missing or did not come up."""


def registry_binary() -> str | None:
    """Path of the registry binary (``$RUNNER_WIZARD_REGISTRY_BIN``, then
    /usr/bin/docker-registry, then PATH), or None."""
    env = os.environ.get("RUNNER_WIZARD_REGISTRY_BIN")
    for cand in (env, DEFAULT_BINARY, shutil.which("docker-registry"), shutil.which("registry")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def htpasswd_line(user: str, password: str, *, rounds: int = 4) -> str:
    """``user:$2b$...`` — the registry's htpasswd auth accepts bcrypt only.
    Low cost factor keeps tests fast (the registry verifies on every request)."""
    import bcrypt

    if ":" in user:
        raise ValueError("user names cannot contain ':'")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    return f"{user}:{hashed}"


class Registry:
    """``docker-registry`` on 127.0.0.1 with a generated config.

    *tls*: ``(ca, leaf)`` — the leaf (with its chain back to ``ca`` via
    intermediates, if any) is served; ``ca`` is written to ``ca_pem_path``.
    *users*: ``{name: password}`` enables htpasswd basic auth.
    """

    start_timeout = 20.0

    def __init__(
        self,
        tls: tuple[Cert, Cert] | None = None,
        users: dict[str, str] | None = None,
        *,
        binary: str | None = None,
        realm: str = "runner-wizard-test",
    ) -> None:
        self.tls = tls
        self.users = dict(users or {})
        self.realm = realm
        self.binary = binary or registry_binary()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.ca_pem_path: Path | None = None
        self.config_path: Path | None = None
        self.log_path: Path | None = None

    # -- addresses ---------------------------------------------------------
    @property
    def host(self) -> str:
        if self.port is None:
            raise RuntimeError("registry not started")
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def tmpdir(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    # -- client helpers ----------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_pem_path))

    def basic_auth_header(self, user: str | None = None) -> dict[str, str]:
        if not self.users:
            return {}
        user = user or next(iter(self.users))
        token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def get(self, path: str = "/v2/", *, auth: bool | str = False, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """GET *path*; returns (status, headers, body) without raising on 4xx."""
        headers: dict[str, str] = {}
        if auth:
            headers.update(self.basic_auth_header(auth if isinstance(auth, str) else None))
        req = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context()) as r:
                return r.status, dict(r.headers.items()), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    # -- lifecycle ---------------------------------------------------------
    def _write_config(self) -> None:
        d = self.tmpdir
        (d / "data").mkdir()
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {d / 'data'}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            f"  secret: {base64.b64encode(os.urandom(24)).decode()}",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
        ]
        if self.tls:
            ca, leaf = self.tls
            chain = [leaf]
            issuer = leaf.issuer
            while issuer is not None and issuer is not ca:  # include intermediates
                chain.append(issuer)
                issuer = issuer.issuer
            (d / "server.crt").write_bytes(chain_pem(chain))
            (d / "server.key").write_bytes(leaf.key_pem)
            (d / "server.key").chmod(0o600)
            self.ca_pem_path = d / "ca.crt"
            self.ca_pem_path.write_bytes(ca.pem)
            lines += ["  tls:", f"    certificate: {d / 'server.crt'}", f"    key: {d / 'server.key'}"]
        if self.users:
            (d / "htpasswd").write_text("".join(htpasswd_line(u, p) + "\n" for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", f"    realm: {self.realm}", f"    path: {d / 'htpasswd'}"]
        self.config_path = d / "config.yml"
        self.config_path.write_text("\n".join(lines) + "\n")

    def _ready(self) -> bool:
        try:
            status, _, _ = self.get("/v2/", timeout=1.0)
            return status in (200, 401)
        except (OSError, ssl.SSLError):
            return False

    def start(self) -> "Registry":
        if self._proc is not None:
            return self
        if not self.binary:
            raise RegistryUnavailable(
                "docker-registry not found (apt-get install docker-registry, or set RUNNER_WIZARD_REGISTRY_BIN)"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="registry-")
        last_log = ""
        for _attempt in range(3):  # free_port is racy: retry on a lost race
            self.port = free_port()
            for f in ("config.yml", "htpasswd", "server.crt", "server.key", "ca.crt"):
                (self.tmpdir / f).unlink(missing_ok=True)
            shutil.rmtree(self.tmpdir / "data", ignore_errors=True)
            self._write_config()
            self.log_path = self.tmpdir / "registry.log"
            logf = open(self.log_path, "wb")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.tmpdir)}
            try:
                self._proc = subprocess.Popen(
                    [self.binary, "serve", str(self.config_path)],
                    stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True,
                )
            finally:
                logf.close()
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                if self._ready():
                    return self
                time.sleep(0.05)
            last_log = self.log()
            self._kill()
            if "address already in use" not in last_log:
                break
        self._cleanup_tmp()
        raise RegistryUnavailable(f"docker-registry did not answer /v2/ in time; log:\n{last_log[-4000:]}")

    def _kill(self) -> None:
        p, self._proc = self._proc, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def stop(self) -> None:
        self._kill()
        self._cleanup_tmp()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

