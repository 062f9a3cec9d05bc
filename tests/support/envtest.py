"""A real etcd + kube-apiserver on loopback, for the dev CLI and the test suite.

Importable without pytest.  Typical use::

    with Envtest() as env:
        api = env.api_client()
        ...

``scripts/envtest`` uses the same class in detached mode and records
:meth:`Envtest.state` in a JSON file so that ``down`` can stop exactly the
processes ``up`` started (see :meth:`Envtest.from_state`).

Only ``cryptography`` is needed to start/stop; the API helpers
(:meth:`sa_kubeconfig`, :meth:`make_node`, :meth:`api_client`) import the
``kubernetes`` client lazily.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-envtest-bins"
K8S_VERSION = os.environ.get("RW_K8S_VERSION", "1.35.4")
DEFAULT_ETCD = "/usr/bin/etcd"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_STATE_VERSION = 1


class EnvtestError(RuntimeError):
    """The harness could not be built, started or used."""


def cache_dir() -> Path:
    return Path(os.environ.get("RUNNER_WIZARD_CACHE") or Path.home() / ".cache" / "runner-wizard")


# --------------------------------------------------------------------------- binaries


def ensure_binaries() -> Path:
    """Return the path of a kube-apiserver binary, building it if needed.

    ``RW_KUBE_APISERVER`` overrides the lookup.  Otherwise
    ``scripts/build-envtest-bins kube-apiserver`` is run (a no-op when the binary
    is cached; a cold build takes several minutes and needs ``go``).
    """
    override = os.environ.get("RW_KUBE_APISERVER")
    if override:
        p = Path(override)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise EnvtestError(f"RW_KUBE_APISERVER={override} is not an executable file")
        return p
    cached = cache_dir() / "bin" / f"kube-apiserver-v{K8S_VERSION}"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    if shutil.which("go") is None:
        raise EnvtestError(
            f"kube-apiserver v{K8S_VERSION} is not cached at {cached} and `go` is not on PATH; "
            "install Go (https://go.dev/dl/) so scripts/build-envtest-bins can build it, "
            "or point RW_KUBE_APISERVER at an existing binary"
        )
    if not BUILD_SCRIPT.is_file():
        raise EnvtestError(f"build script missing: {BUILD_SCRIPT}")
    print(f"envtest: building kube-apiserver v{K8S_VERSION} (cold build takes several minutes)",
          file=sys.stderr, flush=True)
    proc = subprocess.run(
        [str(BUILD_SCRIPT), "kube-apiserver"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-40:])
        raise EnvtestError(
            f"{BUILD_SCRIPT} kube-apiserver failed with exit code {proc.returncode}:\n{tail}"
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    path = Path(lines[-1].strip()) if lines else cached
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EnvtestError(f"build script reported {path!s} but it is not an executable file")
    return path


def find_etcd() -> Path:
    cand = os.environ.get("RW_ETCD") or (DEFAULT_ETCD if os.path.exists(DEFAULT_ETCD) else shutil.which("etcd"))
    if not cand or not os.access(cand, os.X_OK):
        raise EnvtestError(
            "etcd not found (looked at $RW_ETCD, /usr/bin/etcd and PATH); "
            "on Debian/Ubuntu: apt-get install etcd-server"
        )
    return Path(cand)


# --------------------------------------------------------------------------- PKI


def _pki(d: Path) -> dict[str, Path]:
    """Write CA, serving cert, admin client cert and SA key pair into *d*."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    until = now + _dt.timedelta(days=365)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, path: Path) -> Path:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        path.chmod(0o600)
        return path

    def write_cert(c, path: Path) -> Path:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    def name(cn: str, org: str | None = None) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    ca_key = key()
    ca_name = name("runner-wizard-envtest-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(subject: x509.Name, usage, sans=None):
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    serving_key, serving_cert = leaf(
        name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
         x509.DNSName("kubernetes.default.svc"),
         x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
         x509.IPAddress(ipaddress.ip_address("10.0.0.1"))],
    )
    admin_key, admin_cert = leaf(name("admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH)
    sa_key = key()

    files = {
        "ca": write_cert(ca_cert, d / "ca.crt"),
        "ca_key": write_key(ca_key, d / "ca.key"),
        "serving_cert": write_cert(serving_cert, d / "apiserver.crt"),
        "serving_key": write_key(serving_key, d / "apiserver.key"),
        "admin_cert": write_cert(admin_cert, d / "admin.crt"),
        "admin_key": write_key(admin_key, d / "admin.key"),
        "sa_key": write_key(sa_key, d / "sa.key"),
    }
    files["sa_pub"] = d / "sa.pub"
    files["sa_pub"].write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return files


# --------------------------------------------------------------------------- helpers


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of *pid*, or None when it does not exist."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return data.rsplit(")", 1)[1].split()[0]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    st = _proc_state(pid)
    return st is not None and st not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        data = path.read_bytes()[-64_000:].decode(errors="replace").splitlines()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(data[-lines:]) or "<empty>"


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def _write_yaml(path: Path, doc: dict) -> Path:
    try:
        import yaml  # a dependency of the kubernetes client
        text = yaml.safe_dump(doc, sort_keys=False)
    except ImportError:  # JSON is valid YAML
        text = json.dumps(doc, indent=2)
    path.write_text(text)
    path.chmod(0o600)
    return path


def _kubeconfig_doc(server: str, ca_data: str, user: dict, name: str = "envtest",
                    namespace: str | None = None) -> dict:
    ctx: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        ctx["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server,
                                                "certificate-authority-data": ca_data}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": ctx}],
        "current-context": name,
        "preferences": {},
    }


def _etcd_supports(etcd: Path, flag: str) -> bool:
    try:
        out = subprocess.run([str(etcd), "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"--{flag}" in (out.stdout + out.stderr)


def _default_tmp_base() -> str | None:
    """tmpfs makes etcd's fsyncs free; use /dev/shm when it is roomy."""
    base = os.environ.get("RW_ENVTEST_TMPDIR")
    if base:
        return base
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > 2 << 30 and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        # SIGKILL: if the owner died there is nobody to wait for a graceful shutdown
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def sweep_stale(base: str, min_age: float = 600.0) -> list[Path]:
    """Remove ``rw-envtest-*`` dirs in *base* left by owners that were SIGKILLed.

    A dir is stale when none of the pids in its ``pids.json`` is alive and running
    from it; dirs without ``pids.json`` only once older than *min_age* seconds.
    """
    removed = []
    try:
        entries = list(Path(base).glob("rw-envtest-*"))
    except OSError:
        return removed
    for d in entries:
        if d.name.startswith("rw-envtest-attached-") or not d.is_dir():
            continue
        try:
            pids = json.loads((d / "pids.json").read_text())
        except FileNotFoundError:
            try:
                if time.time() - d.stat().st_mtime < min_age:
                    continue
            except OSError:
                continue
            pids = []
        except (OSError, ValueError):
            continue
        if any(_alive(pid) and str(d) in _cmdline(pid) for pid in pids if isinstance(pid, int)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


# --------------------------------------------------------------------------- harness


class Envtest:
    """etcd + kube-apiserver on loopback.

    Attributes after :meth:`start`: ``kubeconfig`` (Path of the admin
    kubeconfig), ``server`` (``https://127.0.0.1:<port>``), ``version``
    (the apiserver's gitVersion), ``start_seconds`` and ``tmpdir``.
    """

    def __init__(
        self,
        *,
        apiserver: str | os.PathLike | None = None,
        etcd: str | os.PathLike | None = None,
        start_timeout: float | None = None,
        detach: bool = False,
        tmp_base: str | None = None,
        extra_apiserver_args: Iterable[str] = (),
    ) -> None:
        self.apiserver_bin = Path(apiserver) if apiserver else None
        self.etcd_bin = Path(etcd) if etcd else None
        self.start_timeout = float(start_timeout or os.environ.get("RW_ENVTEST_START_TIMEOUT", 90))
        self.detach = detach
        self.tmp_base = tmp_base
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.tmpdir: Path | None = None
        self.kubeconfig: Path | None = None
        self.server: str | None = None
        self.version: str | None = None
        self.start_seconds: float | None = None
        self.etcd_pid: int | None = None
        self.apiserver_pid: int | None = None
        self._procs: list[subprocess.Popen] = []
        self._owned = False  # True when stop() should kill processes / remove tmpdir
        self._ca_data: str | None = None
        self._counter = 0
        self._scratch = False  # tmpdir is a scratch dir of an attached handle

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Envtest":
        if self.server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Envtest":
        if self.server is not None:
            raise EnvtestError("Envtest already started")
        t0 = time.monotonic()
        apiserver = self.apiserver_bin or ensure_binaries()
        etcd = self.etcd_bin or find_etcd()
        base = self.tmp_base or _default_tmp_base() or tempfile.gettempdir()
        sweep_stale(base)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="rw-envtest-", dir=base))
        self._owned = True
        try:
            self._start(Path(apiserver), Path(etcd))
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as fh:
            p = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=str(self.tmpdir),
                start_new_session=True,  # own process group: stop() kills exactly it
                preexec_fn=None if self.detach else _die_with_parent,
            )
        self._procs.append(p)
        return p

    def _start(self, apiserver: Path, etcd: Path) -> None:
        assert self.tmpdir is not None
        d = self.tmpdir
        pki = _pki(d)
        self._ca_data = _b64(pki["ca"])
        etcd_client, etcd_peer, secure_port = _free_ports(3)
        self.server = f"https://127.0.0.1:{secure_port}"
        self.etcd_log, self.apiserver_log = d / "etcd.log", d / "kube-apiserver.log"

        etcd_argv = [
            str(etcd),
            "--name=envtest",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=envtest=http://127.0.0.1:{etcd_peer}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=envtest-{uuid.uuid4().hex[:8]}",
            "--heartbeat-interval=20",
            "--election-timeout=200",
            "--log-level=warn",
        ]
        if _etcd_supports(etcd, "unsafe-no-fsync"):
            etcd_argv.append("--unsafe-no-fsync")
        p_etcd = self._spawn(etcd_argv, self.etcd_log)
        self.etcd_pid = p_etcd.pid

        # The apiserver retries its etcd connection itself: start it right away.
        api_argv = [
            str(apiserver),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            f"--cert-dir={d / 'apiserver-certs'}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={secure_port}",
            f"--tls-cert-file={pki['serving_cert']}",
            f"--tls-private-key-file={pki['serving_key']}",
            f"--client-ca-file={pki['ca']}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki['sa_pub']}",
            f"--service-account-signing-key-file={pki['sa_key']}",
            "--allow-privileged=true",
            # No kube-controller-manager => no `default` ServiceAccounts to mount.
            "--disable-admission-plugins=ServiceAccount",
            "--profiling=false",
            "--v=1",
        ] + self.extra_apiserver_args
        p_api = self._spawn(api_argv, self.apiserver_log)
        self.apiserver_pid = p_api.pid
        (d / "pids.json").write_text(json.dumps([self.etcd_pid, self.apiserver_pid]))

        self._wait_ready()
        self.kubeconfig = _write_yaml(d / "admin.kubeconfig", _kubeconfig_doc(
            self.server, self._ca_data,
            {"client-certificate-data": _b64(pki["admin_cert"]),
             "client-key-data": _b64(pki["admin_key"])},
        ))
        self.version = self._get_json("/version").get("gitVersion")

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.tmpdir is not None
        ctx = ssl.create_default_context(cafile=str(self.tmpdir / "ca.crt"))
        ctx.load_cert_chain(str(self.tmpdir / "admin.crt"), str(self.tmpdir / "admin.key"))
        return ctx

    def _get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        req = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _get_json(self, path: str) -> dict:
        code, body = self._get(path)
        if code != 200:
            raise EnvtestError(f"GET {path} -> HTTP {code}: {body[:500]!r}")
        return json.loads(body)

    def _failure(self, why: str) -> EnvtestError:
        return EnvtestError(
            f"{why}\n--- etcd log ({self.etcd_log}) tail ---\n{_tail(self.etcd_log)}"
            f"\n--- kube-apiserver log ({self.apiserver_log}) tail ---\n{_tail(self.apiserver_log)}"
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        delay = 0.05
        while True:
            for label, pid in (("etcd", self.etcd_pid), ("kube-apiserver", self.apiserver_pid)):
                if not self._child_alive(pid):
                    raise self._failure(f"{label} exited during start-up ({self._exit_status(pid)})")
            try:
                code, body = self._get("/readyz", timeout=2.0)
                if code == 200:
                    return
                last = f"HTTP {code}: {body.decode(errors='replace')[-800:]}"
            except (OSError, ssl.SSLError) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise self._failure(
                    f"kube-apiserver at {self.server} not ready after {self.start_timeout:.0f}s; "
                    f"last /readyz: {last}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _child_alive(self, pid: int | None) -> bool:
        for p in self._procs:
            if p.pid == pid:
                return p.poll() is None
        return _alive(pid)

    def _exit_status(self, pid: int | None) -> str:
        for p in self._procs:
            if p.pid == pid and p.returncode is not None:
                return f"exit code {p.returncode}"
        return "gone"

    def is_running(self) -> bool:
        return self._owns(self.etcd_pid) and self._owns(self.apiserver_pid)

    def is_ready(self) -> bool:
        try:
            return self.server is not None and self._get("/readyz", timeout=2.0)[0] == 200
        except (OSError, ssl.SSLError):
            return False

    def _owns(self, pid: int | None) -> bool:
        """True when *pid* is alive and is one of ours (its argv names our tmpdir)."""
        return bool(pid) and _alive(pid) and str(self.tmpdir) in _cmdline(pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the processes this harness started (by process group) and remove the temp dir.

        No-op for an attached harness (:meth:`attach`), except removing its own scratch dir.
        """
        pids = [pid for pid in (self.apiserver_pid, self.etcd_pid) if pid]
        if self._owned:
            # verify ownership before signalling anything (pids may have been reused)
            mine = [pid for pid in pids if self._owns(pid) or
                    any(p.pid == pid and p.poll() is None for p in self._procs)]
            # apiserver first: on shutdown it still talks to etcd (lease/endpoint cleanup)
            for pid in mine:
                self._terminate_group(pid, timeout)
            for p in self._procs:
                try:
                    p.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        self._procs.clear()
        self.etcd_pid = self.apiserver_pid = None
        if self.tmpdir is not None and (self._owned or self._scratch):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        self.server = None if self._owned else self.server

    def _terminate_group(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)  # start_new_session => pgid == pid
            except (ProcessLookupError, PermissionError):
                pass
            end = time.monotonic() + wait
            while time.monotonic() < end:
                for p in self._procs:
                    p.poll()  # reap our own children
                if not _alive(pid):
                    return
                time.sleep(0.02)

    # ------------------------------------------------------------------ state / attach

    def state(self) -> dict:
        """JSON-able description for :meth:`from_state` (used by scripts/envtest)."""
        return {
            "state_version": _STATE_VERSION,
            "tmpdir": str(self.tmpdir),
            "kubeconfig": str(self.kubeconfig),
            "server": self.server,
            "version": self.version,
            "etcd_pid": self.etcd_pid,
            "apiserver_pid": self.apiserver_pid,
            "start_seconds": self.start_seconds,
            "started_at": time.time(),
        }

    @classmethod
    def from_state(cls, state: dict) -> "Envtest":
        """Re-create a handle for a harness started (detached) by another process."""
        env = cls(detach=True)
        env.tmpdir = Path(state["tmpdir"])
        env.kubeconfig = Path(state["kubeconfig"])
        env.server = state["server"]
        env.version = state.get("version")
        env.etcd_pid = state.get("etcd_pid")
        env.apiserver_pid = state.get("apiserver_pid")
        env.start_seconds = state.get("start_seconds")
        env.etcd_log = env.tmpdir / "etcd.log"
        env.apiserver_log = env.tmpdir / "kube-apiserver.log"
        if (env.tmpdir / "ca.crt").exists():
            env._ca_data = _b64(env.tmpdir / "ca.crt")
        env._owned = True
        return env

    @classmethod
    def attach(cls, kubeconfig: str | os.PathLike) -> "Envtest":
        """Use an already running cluster (e.g. from ``scripts/envtest up``); stop() won't kill it."""
        import yaml

        path = Path(kubeconfig)
        doc = yaml.safe_load(path.read_text())
        ctx_name = doc.get("current-context")
        ctx = next((c["context"] for c in doc.get("contexts", []) if c["name"] == ctx_name),
                   doc["contexts"][0]["context"])
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        env = cls()
        env.kubeconfig = path
        env.server = cluster["server"]
        if "certificate-authority-data" in cluster:
            env._ca_data = cluster["certificate-authority-data"]
        elif "certificate-authority" in cluster:
            env._ca_data = _b64(Path(cluster["certificate-authority"]))
        env.tmpdir = Path(tempfile.mkdtemp(prefix="rw-envtest-attached-"))
        env._scratch = True
        env._owned = False
        client = env.api_client()
        try:
            from kubernetes import client as k
            env.version = k.VersionApi(client).get_code().git_version
        finally:
            client.close()
        return env

    # ------------------------------------------------------------------ API helpers

    def api_client(self, kubeconfig: str | os.PathLike | None = None):
        """A fresh ``kubernetes.client.ApiClient`` (global default config untouched)."""
        from kubernetes import config

        if self.kubeconfig is None and kubeconfig is None:
            raise EnvtestError("Envtest not started")
        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def _scratch_path(self, stem: str) -> Path:
        assert self.tmpdir is not None, "Envtest not started"
        self._counter += 1
        return self.tmpdir / f"{stem}-{self._counter}.kubeconfig"

    def sa_kubeconfig(self, namespace: str, name: str, expiration_seconds: int = 3600) -> Path:
        """Kubeconfig authenticating as ServiceAccount *namespace/name* (must exist) via TokenRequest."""
        from kubernetes import client as k

        api = self.api_client()
        try:
            tr = k.CoreV1Api(api).create_namespaced_service_account_token(
                name, namespace,
                k.AuthenticationV1TokenRequest(
                    spec=k.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)),
            )
        finally:
            api.close()
        token = tr.status.token
        user = f"system:serviceaccount:{namespace}:{name}"
        return _write_yaml(
            self._scratch_path(f"sa-{namespace}-{name}"),
            _kubeconfig_doc(self.server, self._ca_data, {"token": token}, name=user.replace(":", "-"),
                            namespace=namespace),
        )

    def make_node(
        self,
        name: str,
        runtime: str = "containerd://1.7.0",
        arch: str = "amd64",
        os: str = "linux",
        labels: dict[str, str] | None = None,
        *,
        ready: bool = True,
        taints: list[dict] | None = None,
        kubelet_version: str | None = None,
    ) -> dict:
        """Create Node *name* and fill its status (nodeInfo + Ready condition) via the status subresource.

        Returns the node as read back (a plain dict).  TaintNodesByCondition's
        ``not-ready`` taint is replaced by *taints* (default: none).
        """
        from kubernetes import client as k

        all_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/arch": arch,
            "kubernetes.io/os": os,
            **(labels or {}),
        }
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        kver = kubelet_version or (self.version or f"v{K8S_VERSION}")
        status = {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": name}],
            "conditions": [{
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "KubeletReady" if ready else "KubeletNotReady",
                "message": "envtest fake node",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
            "nodeInfo": {
                "machineID": uuid.uuid4().hex,
                "systemUUID": str(uuid.uuid4()),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": "6.1.0-envtest",
                "osImage": "Debian GNU/Linux 12 (bookworm)" if os == "linux" else os,
                "containerRuntimeVersion": runtime,
                "kubeletVersion": kver,
                "kubeProxyVersion": "",
                "operatingSystem": os,
                "architecture": arch,
            },
        }
        api = self.api_client()
        try:
            v1 = k.CoreV1Api(api)
            v1.create_node({"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": name, "labels": all_labels}})
            v1.patch_node_status(name, {"status": status})
            v1.patch_node(name, {"spec": {"taints": taints or None}})
            return api.sanitize_for_serialization(v1.read_node_status(name))
        finally:
            api.close()


if __name__ == "__main__":  # pragma: no cover
    with Envtest() as e:
        print(f"ready in {e.start_seconds:.2f}s: {e.server} {e.version} {e.kubeconfig}")
