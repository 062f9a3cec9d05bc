"""``runner-wizard diagnose --bundle FILE.tar.gz``: everything the diagnosis read, redacted, in one file.

The bundle is for handing to someone else (a colleague, a support engineer), so what
goes in is decided by what is safe, not by what is handy:

* **Secrets' values never go in**: a Secret appears as its namespace, name, type and
  key names only (:class:`~wizard.diagnose.model.SecretInfo` keeps nothing else, and this
  module adds nothing).
* **Known secret values are scrubbed** from every member before it is written: the
  answers' token, registration token, API token and registry credentials (resolved from
  their ``env:``/``file:`` references when available), every value of every Secret the
  diagnosis looked at (read here only to learn what to scrub; dockerconfigjson
  passwords and ``auth`` fields included), and values under token/password keys of the
  Helm values, each also in its base64 forms (standard, URL-safe, unpadded, and the
  three alignments inside a longer base64 text).
* Then the project's one redaction step (:func:`wizard.logsafe.redact`) runs over every
  string, so tokens the tool never knew about (``glrt-…``, ``GR1348941…``,
  ``token=…``, ``Authorization: …``) are removed as well.

The tarball holds ``README.txt`` and ``index.json`` (every member, what it is, its size
and SHA-256) first, then JSON documents and logs. It is written to a temporary file in
the target directory with mode 0600 and renamed into place, so a reader never sees half
a bundle and nobody else can read it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wizard import __version__
from wizard.diagnose.model import Diagnosis
from wizard.logsafe import REDACTED, redact
from wizard.results import report_json

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.kube import Kube

ROOT = "runner-wizard-bundle"
SECRET_KEY_RE = re.compile(r"(?i)(token|password|passwd|secret|credential|auth|private[-_]?key)")
"""Values under keys like these (in Helm values and other documents) are replaced outright."""
_SAFE_SECRET_KEYS = {"secret", "certssecretname", "secretname", "imagepullsecrets", "secrets", "automount",
                     "automountserviceaccounttoken", "authorization", "auth_type"}
MIN_SCRUB = 6
"""Shorter known values are not scrubbed by substring (they would eat ordinary words)."""


# --------------------------------------------------------------------------- scrubbing


def base64_forms(value: str) -> set[str]:
    """The value's base64 encodings as they can appear in text: standard, URL-safe, unpadded,
    and the stable middle part of the value encoded at each of the three byte alignments
    inside a longer base64 text (a dockerconfigjson ``auth`` of ``user:password``, say)."""
    raw = value.encode()
    out: set[str] = set()
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        full = enc(raw).decode()
        out.update({full, full.rstrip("=")})
        for k in range(3):
            text = enc(b"\0" * k + raw).decode().rstrip("=")
            start = -(-k * 8 // 6)            # first character built from the value's bits only
            end = ((k + len(raw)) * 8) // 6   # last character built from the value's bits only
            part = text[start:end]
            if len(part) >= MIN_SCRUB:
                out.add(part)
    return {s for s in out if len(s) >= MIN_SCRUB}


@dataclass
class Scrubber:
    """Known secret values (and their base64 forms) plus :func:`wizard.logsafe.redact`."""

    values: set[str] = field(default_factory=set)

    def add(self, value: str | bytes | None) -> None:
        if value is None:
            return
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                return
        value = value.strip()
        if len(value) < MIN_SCRUB:
            return
        self.values.add(value)
        self.values.update(base64_forms(value))

    def extras(self) -> list[str]:
        # longest first, so a value is removed before a shorter one inside it
        return sorted(self.values, key=len, reverse=True)

    def text(self, s: str) -> str:
        return redact(s, self.extras())

    def tree(self, obj: Any, key: str = "") -> Any:
        """Scrub every string of a JSON-like tree; replace values under secret-looking keys."""
        extras = self.extras()
        return _walk(obj, key, extras)

    def clean(self, s: str) -> bool:
        """True when none of the known values is in ``s``."""
        return not any(v in s for v in self.values)


def _secretish(key: str) -> bool:
    k = key.lower()
    return bool(SECRET_KEY_RE.search(k)) and k not in _SAFE_SECRET_KEYS and not k.endswith(
        ("secretname", "secret_name", "secretref", "secrets", "tokenexpiration", "token_expiration"))


def _walk(obj: Any, key: str, extras: list[str]) -> Any:
    if isinstance(obj, dict):
        return {redact(str(k), extras): _walk(v, str(k), extras) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, key, extras) for v in obj]
    if isinstance(obj, str):
        if key and _secretish(key) and obj and obj not in ("true", "false"):
            return REDACTED
        return redact(obj, extras)
    return obj


def _answers_secrets(answers: Answers | None) -> Iterable[str]:
    if answers is None:
        return
    for path, ref in answers.secret_refs().items():
        try:
            if ref.available():
                yield ref.resolve(path)
        except Exception:  # noqa: BLE001 - an unreadable reference just has nothing to scrub
            continue


def _secret_values(obj: dict[str, Any]) -> Iterable[bytes]:
    """Every value of a Secret, plus what a dockerconfigjson hides inside."""
    for k, v in (obj.get("data") or {}).items():
        try:
            raw = base64.b64decode(v or "")
        except (binascii.Error, ValueError):
            continue
        yield raw
        if k in (".dockerconfigjson", ".dockercfg"):
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            auths = doc.get("auths", doc) if isinstance(doc, dict) else {}
            for entry in (auths or {}).values():
                if not isinstance(entry, dict):
                    continue
                for field_ in ("password", "auth", "identitytoken", "registrytoken"):
                    if entry.get(field_):
                        yield str(entry[field_]).encode()
                if entry.get("auth"):
                    try:
                        user_pass = base64.b64decode(entry["auth"]).decode()
                        yield user_pass.partition(":")[2].encode()
                    except (binascii.Error, ValueError):
                        pass
    for v in (obj.get("stringData") or {}).values():
        yield str(v).encode()


def _values_secrets(values: Any, key: str = "") -> Iterable[str]:
    if isinstance(values, dict):
        for k, v in values.items():
            yield from _values_secrets(v, str(k))
    elif isinstance(values, list):
        for v in values:
            yield from _values_secrets(v, key)
    elif isinstance(values, str) and key and _secretish(key):
        yield values


def scrubber_for(diag: Diagnosis, *, kube: Kube | None = None, answers: Answers | None = None,
                 extra: Iterable[str] = ()) -> Scrubber:
    """Everything known to be secret for this diagnosis (see the module docstring)."""
    sc = Scrubber()
    for v in extra:
        sc.add(v)
    for v in _answers_secrets(answers):
        sc.add(v)
    st = diag.state
    if st is not None:
        for v in _values_secrets(st.values):
            sc.add(v)
        if kube is not None:
            for (ns, name) in list(st.secrets):
                try:
                    obj = kube.get_or_none(f"/api/v1/namespaces/{quote(ns)}/secrets/{quote(name)}")
                except Exception:  # noqa: BLE001 - nothing to learn from a Secret we cannot read
                    obj = None
                for raw in _secret_values(obj or {}):
                    sc.add(raw)
    return sc


# --------------------------------------------------------------------------- the members


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n").encode()


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "log"


def _strip_meta(obj: Any) -> Any:
    """Objects without managedFields and last-applied annotations (noise; the latter may carry specs)."""
    if isinstance(obj, list):
        return [_strip_meta(o) for o in obj]
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = dict(meta)
        meta.pop("managedFields", None)
        ann = dict(meta.get("annotations") or {})
        ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if ann:
            meta["annotations"] = ann
        else:
            meta.pop("annotations", None)
        out["metadata"] = meta
    return out


def versions(diag: Diagnosis, kube: Kube | None) -> dict[str, Any]:
    out: dict[str, Any] = {"runner-wizard": __version__}
    if kube is not None:
        try:
            v = kube.version()
            out["kubernetes"] = v.get("gitVersion") or f"{v.get('major')}.{v.get('minor')}"
        except Exception as exc:  # noqa: BLE001
            out["kubernetes"] = f"unknown ({exc})"
    st = diag.state
    if st is not None:
        ref = st.release_ref
        out["chart"] = ref.chart if ref and ref.chart else None
        out["helm_revision"] = ref.revision if ref else None
        if st.deployment:
            cs = st.deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
            out["runner_image"] = [c.get("image") for c in cs]
    return out


def members(diag: Diagnosis, *, kube: Kube | None = None, answers_text: str | None = None,
            command: str = "") -> list[tuple[str, str, Any]]:
    """``(name, description, content)`` before scrubbing: content is a str (text) or JSON data."""
    out: list[tuple[str, str, Any]] = []
    out.append(("versions.json", "versions of runner-wizard, Kubernetes, the chart and the runner image",
                versions(diag, kube)))
    out.append(("findings.json", "the findings (contract section 4 --json document)",
                json.loads(report_json(diag.results))))
    lines = []
    for f in diag.findings:
        r = f.to_result()
        lines.append(f"{f.status.symbol} {f.catalog}  {r.title}")
        if r.detail:
            lines.append(f"    {r.detail}")
        for ev in r.evidence:
            lines.append(f"    evidence: {ev}")
        if r.fix:
            lines.append(f"    fix: {r.fix}")
    out.append(("findings.txt", "the findings as the terminal shows them",
                "\n".join(lines) + ("\n" if lines else "no findings\n")))
    if diag.notices:
        out.append(("notices.json", "benign log lines that were recognised (not failures)",
                    [{"key": n.key, "meaning": n.meaning, "count": n.count} for n in diag.notices]))
    out.append(("sources.json", "where the analyzed log and event lines came from", list(diag.sources)))
    if diag.releases:
        out.append(("releases.json", "gitlab-runner releases found in the cluster",
                    [{"namespace": r.namespace, "release": r.release, "fullname": r.fullname,
                      "revision": r.revision, "chart": r.chart, "status": r.status, "source": r.source}
                     for r in diag.releases]))
    if answers_text is not None:
        out.append(("answers.yaml", "the answers file given (references only, never values)", answers_text))
    st = diag.state
    if st is not None:
        out.append(("release/summary.json", "the release: names, namespaces, where the values came from", {
            "namespace": st.namespace, "release": st.release, "fullname": st.fullname,
            "jobs_namespace": st.jobs_namespace, "values_source": st.values_source,
            "config_source": st.config_source, "manager_service_account": st.manager_sa}))
        out.append(("release/values.json", "user-supplied Helm values (secret-looking keys replaced)", st.values))
        if st.chart_defaults:
            out.append(("release/chart-defaults.json", "the chart's default values", st.chart_defaults))
        if st.config_toml is not None:
            out.append(("release/config.template.toml", "the runner's config template", st.config_toml))
        for name, desc, obj in (
                ("objects/deployment.json", "the manager Deployment", st.deployment),
                ("objects/configmap.json", "the chart's ConfigMap", st.configmap),
                ("objects/manager-pods.json", "manager pods", st.manager_pods),
                ("objects/replicasets.json", "manager ReplicaSets", st.replicasets),
                ("objects/job-pods.json", "job pods (runner-*) in the jobs namespace", st.job_pods),
                ("objects/roles.json", "Roles in the jobs namespace", st.roles),
                ("objects/rolebindings.json", "RoleBindings in the jobs namespace", st.rolebindings),
                ("objects/resourcequotas.json", "ResourceQuotas in the jobs namespace", st.quotas),
                ("objects/limitranges.json", "LimitRanges in the jobs namespace", st.limitranges),
        ):
            if obj:
                out.append((name, desc, _strip_meta(obj)))
        out.append(("objects/nodes.json", "nodes: name, container runtime, architecture, OS", st.nodes))
        out.append(("objects/namespaces.json", "namespaces and their labels (null: does not exist)",
                    dict(st.namespaces)))
        out.append(("objects/serviceaccounts.json", "ServiceAccounts looked up (true: exists)",
                    [{"namespace": ns, "name": n, "exists": ok} for (ns, n), ok in st.service_accounts.items()]))
        out.append(("objects/secrets.json", "Secrets looked up: type and KEY NAMES ONLY (never values)",
                    [{"namespace": ns, "name": n, "exists": info is not None,
                      "type": info.type if info else None,
                      "keys": sorted(info.keys) if info else []}
                     for (ns, n), info in st.secrets.items()]))
        out.append(("events.json", "events in the runner and jobs namespaces", _strip_meta(st.events)))
        out.append(("access-reviews.json", "SubjectAccessReviews for the manager ServiceAccount",
                    [{"user": f"system:serviceaccount:{st.namespace}:{st.manager_sa}", "namespace": ns,
                      "resource": res, "verb": verb, "allowed": ok}
                     for (ns, res, verb), ok in sorted(st.access.items())]))
        for lt in st.logs:
            out.append((f"logs/{_slug(lt.name.replace('/', '_'))}.log", f"log {lt.name}", lt.text))
        if st.errors:
            out.append(("collect-errors.txt", "what could not be read", "\n".join(st.errors) + "\n"))
    if command:
        out.append(("command.txt", "the command that wrote this bundle", command + "\n"))
    return out


README = """runner-wizard support bundle
============================

Written by `runner-wizard diagnose --bundle` ({created}) for release {release}.
It holds everything the diagnosis read from the cluster, so someone else can look at
the same picture without access to the cluster:

{listing}

What is NOT in it:
  * no Secret values: Secrets are listed by namespace, name, type and key names only;
  * known secret values (runner token, registration token, API token, registry
    credentials, every value of the Secrets the diagnosis looked at) and their base64
    forms were replaced with {redacted} in every file, and the project's redaction rules
    (glrt-/glpat-/GR1348941 tokens, token=, password=, Authorization headers, URL
    passwords) ran over every line.
Still, read it before you send it: host names, IP addresses, namespace and object names
are kept on purpose.

index.json lists every file with its size and SHA-256.
"""


def build(diag: Diagnosis, scrub: Scrubber, *, kube: Kube | None = None, answers_text: str | None = None,
          command: str = "", now: _dt.datetime | None = None) -> list[tuple[str, bytes, str]]:
    """The scrubbed members ``(name, bytes, description)``, README.txt and index.json first."""
    created = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: list[tuple[str, bytes, str]] = []
    for name, desc, content in members(diag, kube=kube, answers_text=answers_text, command=command):
        data = scrub.text(content).encode() if isinstance(content, str) else _json(scrub.tree(content))
        body.append((name, data, desc))
    st = diag.state
    release = f"{st.namespace}/{st.release}" if st else "(no cluster: saved logs only)"
    index = {
        "format": "runner-wizard-bundle/v1",
        "created": created,
        "runner_wizard": __version__,
        "release": release,
        "redaction": {"secret_values": "never included (key names only)",
                      "known_values_scrubbed": len(scrub.values), "marker": REDACTED},
        "files": [{"name": n, "description": d, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for n, b, d in body],
    }
    listing = "\n".join(f"  {n:<36} {d}" for n, _b, d in body)
    readme = README.format(created=created, release=release, listing=listing, redacted=REDACTED)
    head = [("README.txt", scrub.text(readme).encode(), "what this is"),
            ("index.json", _json(scrub.tree(index)), "every file, its size and SHA-256")]
    return head + body


def write(path: str | os.PathLike[str], files: list[tuple[str, bytes, str]]) -> Path:
    """Write the tar.gz atomically (temp file in the same directory, mode 0600, fsync, rename)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                mtime = int(_dt.datetime.now(_dt.timezone.utc).timestamp())
                for name, data, _desc in files:
                    info = tarfile.TarInfo(f"{ROOT}/{name}")
                    info.size = len(data)
                    info.mode = 0o600
                    info.mtime = mtime
                    tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
        os.chmod(target, 0o600)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def write_bundle(path: str | os.PathLike[str], diag: Diagnosis, *, kube: Kube | None = None,
                 answers: Answers | None = None, answers_text: str | None = None, command: str = "",
                 extra_secrets: Iterable[str] = ()) -> Path:
    """Collect the known secrets, build the scrubbed members, write ``path``; returns it."""
    scrub = scrubber_for(diag, kube=kube, answers=answers, extra=extra_secrets)
    files = build(diag, scrub, kube=kube, answers_text=answers_text, command=command)
    return write(path, files)
