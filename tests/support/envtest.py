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
POD_CIDR = "10.244.0.0/16"
_STATE_VERSION = 2

# kwok manages the nodes that carry this annotation (make_node adds it by default).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# Pods with this annotation keep the status a test writes by hand (kwok leaves them alone).
KWOK_CUSTOM_STATUS_ANNOTATION = ("runner-wizard.test/pod-status", "manual")
# The simulated nodes every harness starts with: both runtimes x both architectures.
SIMULATED_NODES = (
    ("kwok-containerd-amd64", "containerd://2.1.4", "amd64"),
    ("kwok-containerd-arm64", "containerd://2.1.4", "arm64"),
    ("kwok-crio-amd64", "cri-o://1.33.2", "amd64"),
    ("kwok-crio-arm64", "cri-o://1.33.2", "arm64"),
)
PLANE = ("kube-controller-manager", "kube-scheduler", "kwok")


class EnvtestError(RuntimeError):
    """The harness could not be built, started or used."""


def cache_dir() -> Path:
    return Path(os.environ.get("RUNNER_WIZARD_CACHE") or Path.home() / ".cache" / "runner-wizard")


# --------------------------------------------------------------------------- binaries


KWOK_VERSION = os.environ.get("RW_KWOK_VERSION", "0.7.0")

# component -> (override env var, cached file name, build-script target)
_COMPONENTS = {
    "kube-apiserver": ("RW_KUBE_APISERVER", f"kube-apiserver-v{K8S_VERSION}", "control-plane"),
    "kube-controller-manager": ("RW_KUBE_CONTROLLER_MANAGER", f"kube-controller-manager-v{K8S_VERSION}",
                                "control-plane"),
    "kube-scheduler": ("RW_KUBE_SCHEDULER", f"kube-scheduler-v{K8S_VERSION}", "control-plane"),
    "kwok": ("RW_KWOK", f"kwok-v{KWOK_VERSION}", "kwok"),
}


def ensure_binary(component: str) -> Path:
    """Return the path of *component* (see ``_COMPONENTS``), building it if needed.

    ``RW_KUBE_APISERVER`` / ``RW_KUBE_CONTROLLER_MANAGER`` / ``RW_KUBE_SCHEDULER`` /
    ``RW_KWOK`` override the lookup.  Otherwise ``scripts/build-envtest-bins <target>``
    is run (a no-op when the binary is cached; a cold build takes several minutes
    and needs ``go``).
    """
    env_var, file_name, target = _COMPONENTS[component]
    override = os.environ.get(env_var)
    if override:
        p = Path(override)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise EnvtestError(f"{env_var}={override} is not an executable file")
        return p
    cached = cache_dir() / "bin" / file_name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    if shutil.which("go") is None:
        raise EnvtestError(
            f"{file_name} is not cached at {cached} and `go` is not on PATH; "
            "install Go (https://go.dev/dl/) so scripts/build-envtest-bins can build it, "
            f"or point {env_var} at an existing binary"
        )
    if not BUILD_SCRIPT.is_file():
        raise EnvtestError(f"build script missing: {BUILD_SCRIPT}")
    print(f"envtest: building {target} ({file_name}; a cold build takes several minutes)",
          file=sys.stderr, flush=True)
    proc = subprocess.run(
        [str(BUILD_SCRIPT), target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-40:])
        raise EnvtestError(
            f"{BUILD_SCRIPT} {target} failed with exit code {proc.returncode}:\n{tail}"
        )
    if not (cached.is_file() and os.access(cached, os.X_OK)):
        raise EnvtestError(f"{BUILD_SCRIPT} {target} succeeded but {cached} is not an executable file")
    return cached


def ensure_binaries() -> Path:
    """The kube-apiserver binary (see :func:`ensure_binary`)."""
    return ensure_binary("kube-apiserver")


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


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _free_ports(n: int) -> list[int]:
    """Ports for the components to listen on, free now and below the kernel's ephemeral range.

    A port from ``bind(("127.0.0.1", 0))`` is an ephemeral one: between our close and the
    component's bind, any outgoing connection on the machine (this suite's own clients, another
    suite on the same cores) may be given it as its local port, and the component then fails to
    start. Below the range only an explicit bind can take it, and the check below sees those."""
    import random

    lo, _hi = _ephemeral_range()
    floor = 20000 if lo > 21000 else 1024
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(floor, lo)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
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


def _child_env() -> dict[str, str]:
    """A minimal environment for the components (nothing of the caller's, e.g. tokens, leaks in)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
    }


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
    """etcd + kube-apiserver on loopback, and (``control_plane=True``, the default)
    kube-controller-manager, kube-scheduler and kwok with :data:`SIMULATED_NODES`,
    so Deployments roll out, pods get scheduled and become Ready, ServiceAccounts
    and their tokens appear and namespaces finish deleting.

    Attributes after :meth:`start`: ``kubeconfig`` (Path of the admin
    kubeconfig), ``server`` (``https://127.0.0.1:<port>``), ``version``
    (the apiserver's gitVersion), ``start_seconds`` (everything ready),
    ``apiserver_seconds`` (apiserver ready), ``tmpdir``.
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
        control_plane: bool | None = None,
    ) -> None:
        self.apiserver_bin = Path(apiserver) if apiserver else None
        self.etcd_bin = Path(etcd) if etcd else None
        self.start_timeout = float(start_timeout or os.environ.get("RW_ENVTEST_START_TIMEOUT", 90))
        self.detach = detach
        self.tmp_base = tmp_base
        self.extra_apiserver_args = list(extra_apiserver_args)
        if control_plane is None:
            control_plane = os.environ.get("RW_ENVTEST_PLANE", "full") != "apiserver"
        self.control_plane = control_plane
        self.apiserver_seconds: float | None = None
        self.controller_manager_pid: int | None = None
        self.scheduler_pid: int | None = None
        self.kwok_pid: int | None = None
        self._bins: dict[str, Path] = {}
        self._ports: dict[str, int] = {}
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
        if self.control_plane:  # fail before starting anything when a binary is missing
            self._bins = {c: ensure_binary(c) for c in PLANE}
        base = self.tmp_base or _default_tmp_base() or tempfile.gettempdir()
        sweep_stale(base)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="rw-envtest-", dir=base))
        self._owned = True
        try:
            self._start(Path(apiserver), Path(etcd))
            self.apiserver_seconds = time.monotonic() - t0
            if self.control_plane:
                self._start_plane()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as fh:
            p = subprocess.Popen(
                argv,
                env=_child_env(),
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
            # Debian's etcd 3.4.23 has no watch progress requests, so streaming lists cannot work.
            # With WatchList off the apiserver rejects them up front and every client falls back
            # to LIST + WATCH at once (instead of kwok backing off for a minute).
            "--feature-gates=WatchList=false",
            # simulated nodes: never resolve their host names; their InternalIP is 127.0.0.1
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            "--v=1",
        ]
        if not self.control_plane:
            # No kube-controller-manager => no `default` ServiceAccounts to mount.
            api_argv.append("--disable-admission-plugins=ServiceAccount")
        api_argv += self.extra_apiserver_args
        p_api = self._spawn(api_argv, self.apiserver_log)
        self.apiserver_pid = p_api.pid
        self._write_pids()

        self._wait_ready()
        self.kubeconfig = _write_yaml(d / "admin.kubeconfig", _kubeconfig_doc(
            self.server, self._ca_data,
            {"client-certificate-data": _b64(pki["admin_cert"]),
             "client-key-data": _b64(pki["admin_key"])},
        ))
        self.version = self._get_json("/version").get("gitVersion")

    def _write_pids(self) -> None:
        assert self.tmpdir is not None
        (self.tmpdir / "pids.json").write_text(json.dumps([p for p in self._all_pids() if p]))

    def _all_pids(self) -> list[int | None]:
        """Every component's pid, in stop order (clients of the apiserver first, etcd last)."""
        return [self.kwok_pid, self.scheduler_pid, self.controller_manager_pid, self.apiserver_pid,
                self.etcd_pid]

    # ------------------------------------------------------------------ the rest of the control plane

    def _start_plane(self) -> None:
        """Start kube-controller-manager, kube-scheduler and kwok together, create the
        simulated nodes while they boot, then wait until all of them do their work."""
        assert self.tmpdir is not None and self.kubeconfig is not None
        d = self.tmpdir
        kcm_port, sched_port, kwok_port = _free_ports(3)
        self._ports = {"kube-controller-manager": kcm_port, "kube-scheduler": sched_port, "kwok": kwok_port}
        kubeconfig = str(self.kubeconfig)
        serving = [f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}"]
        kcm_argv = [
            str(self._bins["kube-controller-manager"]),
            f"--kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={d / 'sa.key'}",  # pairs with the apiserver's sa.pub
            f"--root-ca-file={d / 'ca.crt'}",
            f"--cluster-signing-cert-file={d / 'ca.crt'}",
            f"--cluster-signing-key-file={d / 'ca.key'}",
            "--use-service-account-credentials=true",
            "--controllers=*",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={d / 'kcm-certs'}",
            *serving,
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--profiling=false",
            "--v=1",
        ]
        sched_argv = [
            str(self._bins["kube-scheduler"]),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={sched_port}",
            f"--cert-dir={d / 'scheduler-certs'}",
            *serving,
            "--profiling=false",
            "--v=1",
        ]
        kwok_cfg = d / "kwok.yaml"
        # an explicit config file (never ~/.kwok/kwok.yaml): no Stage objects => kwok's default
        # stages (node-initialize, node-heartbeat; pod-ready, pod-complete, pod-delete).
        # Pods annotated KWOK_CUSTOM_STATUS_ANNOTATION keep the status a test writes by hand.
        kwok_cfg.write_text(
            "apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n"
            f"  disregardStatusWithAnnotationSelector: {'='.join(KWOK_CUSTOM_STATUS_ANNOTATION)}\n")
        kwok_argv = [
            str(self._bins["kwok"]),
            f"--config={kwok_cfg}",
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=" + "=".join(KWOK_NODE_ANNOTATION),
            # like a kubelet: a node lease renewed every 10s (kwok v0.7 leaves leases off unless
            # asked, and then its default status heartbeat comes only every ~10 minutes, so the
            # node lifecycle controller would mark the nodes unreachable after ~50s)
            "--node-lease-duration-seconds=40",
            "--node-ip=127.0.0.1",
            f"--cidr={POD_CIDR}",
            f"--server-address=127.0.0.1:{kwok_port}",
        ]
        self.component_logs = {c: d / f"{c}.log" for c in PLANE}
        # spawned from this (the main) thread: PR_SET_PDEATHSIG is tied to the spawning thread
        self.controller_manager_pid = self._spawn(kcm_argv, self.component_logs["kube-controller-manager"]).pid
        self.scheduler_pid = self._spawn(sched_argv, self.component_logs["kube-scheduler"]).pid
        self.kwok_pid = self._spawn(kwok_argv, self.component_logs["kwok"]).pid
        self._write_pids()
        for name, runtime, arch in SIMULATED_NODES:
            self._create_node(name, runtime, arch)
        self._wait_plane_ready()

    def _plane_pids(self) -> dict[str, int | None]:
        return {"kube-controller-manager": self.controller_manager_pid, "kube-scheduler": self.scheduler_pid,
                "kwok": self.kwok_pid}

    def _wait_plane_ready(self) -> None:
        """Ready means: each component's /healthz answers ok, the ServiceAccount controller
        has made ``default/default`` and kwok holds a lease for every simulated node."""
        deadline = time.monotonic() + self.start_timeout
        pending = {"kube-controller-manager healthz", "kube-scheduler healthz", "kwok healthz",
                   "ServiceAccount default/default", "kwok node leases"}
        last: dict[str, str] = {}
        delay = 0.05
        leases = {n for n, _r, _a in SIMULATED_NODES}
        while pending:
            for label, pid in self._plane_pids().items():
                if not self._child_alive(pid):
                    raise self._failure(f"{label} exited during start-up ({self._exit_status(pid)})")
            for item in sorted(pending):
                try:
                    if item.endswith(" healthz"):
                        comp = item.split()[0]
                        scheme = "http" if comp == "kwok" else "https"
                        code, body = self._get("/healthz", timeout=2.0,
                                               base=f"{scheme}://127.0.0.1:{self._ports[comp]}")
                        ok = code == 200
                    elif item.startswith("ServiceAccount"):
                        code, body = self._get("/api/v1/namespaces/default/serviceaccounts/default", timeout=2.0)
                        ok = code == 200
                    else:
                        code, body = self._get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                                               timeout=2.0)
                        have = {i["metadata"]["name"] for i in json.loads(body).get("items", [])} if code == 200 \
                            else set()
                        ok = leases <= have
                        body = f"leases so far: {sorted(have)}".encode()
                    if ok:
                        pending.discard(item)
                    else:
                        last[item] = f"HTTP {code}: {body.decode(errors='replace')[-300:]}"
                except (OSError, ssl.SSLError, ValueError) as e:
                    last[item] = repr(e)
            if not pending:
                return
            if time.monotonic() > deadline:
                waiting = "; ".join(f"{i}: {last.get(i, 'no answer yet')}" for i in sorted(pending))
                raise self._failure(f"control plane not ready after {self.start_timeout:.0f}s, waiting for {waiting}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _api(self, method: str, path: str, body: dict | None = None,
             content_type: str = "application/json") -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _create_node(self, name: str, runtime: str, arch: str) -> None:
        meta, status = _node_doc(name, runtime, arch, "linux", None, ready=True,
                                 kubelet_version=self.version or f"v{K8S_VERSION}", kwok=True)
        # status in the create, as a kubelet registers: kwok then keeps it (a node without a
        # Ready status gets kwok's own nodeInfo and capacity)
        code, out = self._api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": meta,
                                                        "status": status})
        if code >= 300:
            raise self._failure(f"POST /api/v1/nodes -> HTTP {code}: {out[:300]!r}")
        # drop the not-ready taint admission puts on every new node (the node lifecycle
        # controller would, a few seconds later): pods can land at once
        code, out = self._api("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": None}},
                              "application/merge-patch+json")
        if code >= 300:
            raise self._failure(f"PATCH /api/v1/nodes/{name} -> HTTP {code}: {out[:300]!r}")

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.tmpdir is not None
        ctx = ssl.create_default_context(cafile=str(self.tmpdir / "ca.crt"))
        ctx.load_cert_chain(str(self.tmpdir / "admin.crt"), str(self.tmpdir / "admin.key"))
        return ctx

    def _get(self, path: str, timeout: float = 5.0, base: str | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request((base or self.server) + path)
        ctx = self._ssl_context() if (base or self.server).startswith("https:") else None
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _get_json(self, path: str) -> dict:
        code, body = self._get(path)
        if code != 200:
            raise EnvtestError(f"GET {path} -> HTTP {code}: {body[:500]!r}")
        return json.loads(body)

    def _failure(self, why: str) -> EnvtestError:
        text = (f"{why}\n--- etcd log ({self.etcd_log}) tail ---\n{_tail(self.etcd_log)}"
                f"\n--- kube-apiserver log ({self.apiserver_log}) tail ---\n{_tail(self.apiserver_log)}")
        for comp, log in getattr(self, "component_logs", {}).items():
            if log.exists():
                text += f"\n--- {comp} log ({log}) tail ---\n{_tail(log, 15)}"
        return EnvtestError(text)

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
        started = [p for p in self._all_pids() if p]
        return bool(started) and self._owns(self.etcd_pid) and self._owns(self.apiserver_pid) and all(
            self._owns(p) for p in started)

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
        pids = [pid for pid in self._all_pids() if pid]
        if self._owned:
            # verify ownership before signalling anything (pids may have been reused)
            mine = [pid for pid in pids if self._owns(pid) or
                    any(p.pid == pid and p.poll() is None for p in self._procs)]
            # the apiserver's clients first, then the apiserver (on shutdown it still talks to
            # etcd: lease/endpoint cleanup), etcd last
            for pid in mine:
                self._terminate_group(pid, timeout)
            for p in self._procs:
                try:
                    p.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        self._procs.clear()
        self.etcd_pid = self.apiserver_pid = None
        self.controller_manager_pid = self.scheduler_pid = self.kwok_pid = None
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
            "controller_manager_pid": self.controller_manager_pid,
            "scheduler_pid": self.scheduler_pid,
            "kwok_pid": self.kwok_pid,
            "start_seconds": self.start_seconds,
            "apiserver_seconds": self.apiserver_seconds,
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
        env.controller_manager_pid = state.get("controller_manager_pid")
        env.scheduler_pid = state.get("scheduler_pid")
        env.kwok_pid = state.get("kwok_pid")
        env.control_plane = bool(env.controller_manager_pid)
        env.start_seconds = state.get("start_seconds")
        env.apiserver_seconds = state.get("apiserver_seconds")
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
        runtime: str = "containerd://2.1.4",
        arch: str = "amd64",
        os: str = "linux",
        labels: dict[str, str] | None = None,
        *,
        ready: bool = True,
        taints: list[dict] | None = None,
        kubelet_version: str | None = None,
        kwok: bool = True,
    ) -> dict:
        """Create Node *name* and fill its status (nodeInfo + Ready condition) via the status subresource.

        Returns the node as read back (a plain dict).  TaintNodesByCondition's
        ``not-ready`` taint is replaced by *taints* (default: none).  With *kwok*
        (default) the node carries kwok's annotation, so kwok keeps it Ready
        (heartbeats) and runs the pods scheduled to it; ``kwok=False`` leaves a
        node nobody maintains (the node lifecycle controller marks it unreachable).
        """
        from kubernetes import client as k

        meta, status = _node_doc(name, runtime, arch, os, labels, ready=ready,
                                 kubelet_version=kubelet_version or (self.version or f"v{K8S_VERSION}"),
                                 kwok=kwok)
        api = self.api_client()
        try:
            v1 = k.CoreV1Api(api)
            # status in the create, as a kubelet registers: kwok keeps it instead of writing its own
            v1.create_node({"apiVersion": "v1", "kind": "Node", "metadata": meta, "status": status,
                            "spec": {"taints": taints or None}})
            v1.patch_node_status(name, {"status": status})  # replaces what TaintNodesByCondition reacted to
            v1.patch_node(name, {"spec": {"taints": taints or None}})
            return api.sanitize_for_serialization(v1.read_node_status(name))
        finally:
            api.close()


def _node_doc(name: str, runtime: str, arch: str, os: str, labels: dict[str, str] | None, *, ready: bool,
              kubelet_version: str, kwok: bool) -> tuple[dict, dict]:
    """(metadata, status) of a simulated node."""
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": os,
        **(labels or {}),
    }
    meta: dict[str, Any] = {"name": name, "labels": all_labels}
    if kwok:
        meta["annotations"] = {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1]}
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}
    status = {
        "capacity": dict(resources),
        "allocatable": dict(resources),
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
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": os,
            "architecture": arch,
        },
    }
    return meta, status


if __name__ == "__main__":  # pragma: no cover
    with Envtest() as e:
        print(f"ready in {e.start_seconds:.2f}s (apiserver {e.apiserver_seconds:.2f}s): "
              f"{e.server} {e.version} {e.kubeconfig}")
