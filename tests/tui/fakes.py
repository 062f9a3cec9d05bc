"""Deterministic stand-ins for the outside world, for the TUI tests.

Canned check results per step (pass / fail), a check runner that stays pending
until its worker is cancelled, a fixed certificate chain, fixed DNS, canned
rendered files and a scripted apply. Nothing here depends on the clock or the network.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from screens.services import Services
from wizard.kube import ContextInfo
from wizard.results import Result, Status

PASS = {
    "cluster": [Result("cluster.reachable", "cluster", Status.PASS, "API server reachable (v1.33.1)"),
                Result("cluster.auth", "cluster", Status.PASS, "Authenticated as admin")],
    "gitlab": [Result("gitlab.reachable", "gitlab", Status.PASS, "GitLab answers (18.2.1)"),
               Result("tls.trusted", "tls", Status.PASS, "Certificate trusted; name matches")],
    "token": [Result("token.valid", "gitlab", Status.PASS, "Runner token is valid (runner #7)")],
    "namespaces": [Result("ns.ci-system", "namespaces", Status.PASS, "Namespace ci-system can be created"),
                   Result("rbac.apply", "rbac", Status.PASS, "You may create Roles and RoleBindings")],
    "host_aliases": [Result("dns.alias", "dns", Status.PASS, "gitlab.company.com answers on 192.168.80.14")],
    "registries": [Result("registry.reach", "registry", Status.PASS, "registry.company.com:5000 answers /v2/"),
                   Result("registry.auth", "registry", Status.PASS, "Credentials accepted")],
    "runner": [Result("runner.chart", "runner", Status.PASS, "Chart 0.86.0 exists"),
               Result("runner.image", "runner", Status.PASS, "Job image resolves")],
}

FAIL = {
    "cluster": [Result("cluster.reachable", "cluster", Status.PASS, "API server reachable (v1.33.1)"),
                Result("cluster.can-i", "rbac", Status.FAIL, "You cannot create namespaces",
                       detail="SelfSubjectAccessReview: create namespaces denied",
                       fix="ask an admin to create ci-system and ci-jobs, then set create_namespaces: no")],
    "gitlab": [Result("tls.trusted", "tls", Status.FAIL, "Certificate signed by an unknown CA",
                      detail="x509: certificate signed by unknown authority",
                      fix="trust the presented root by its fingerprint, or load the CA bundle")],
    "token": [Result("token.valid", "gitlab", Status.FAIL, "GitLab rejects the runner token",
                     detail="POST /runners/verify: 403 Forbidden",
                     fix="create a new runner in GitLab and paste its glrt- token")],
    "namespaces": [Result("ns.ci-system", "namespaces", Status.PASS, "Namespace ci-system exists"),
                   Result("rbac.pods-attach", "rbac", Status.FAIL,
                          "Runner manager cannot create pods/attach in ci-jobs",
                          detail="SubjectAccessReview for gitlab-runner: denied",
                          fix="let the wizard create Role gitlab-runner-manager in ci-jobs")],
    "host_aliases": [Result("dns.jobs", "dns", Status.WARN, "Pods cannot resolve gitlab.company.com",
                            detail="lookup from a test pod: NXDOMAIN",
                            fix="keep the alias for jobs, or add the name to the cluster DNS")],
    "registries": [Result("registry.tls", "registry", Status.FAIL, "registry.company.com:5000: unknown CA",
                          detail="x509: certificate signed by unknown authority",
                          fix="set the registry's CA file so nodes and jobs trust it")],
    "runner": [Result("runner.helper", "runner", Status.WARN, "Helper image tag does not match the runner",
                      fix="pin the helper to x86_64-v18.2.1 and mirror that tag"),
               Result("runner.quota", "runner", Status.FAIL, "Requests exceed the ResourceQuota in ci-jobs",
                      detail="quota cpu 2, 10 concurrent jobs x 250m",
                      fix="lower concurrent to 8 or raise the quota")],
}

def runtime_result(no_nodes: bool) -> Result:
    if no_nodes:
        return Result("cluster.nodes.runtime", "cluster", Status.WARN, "Node container runtime fits the build setup",
                      detail="the cluster reports no nodes", fix="join nodes before running jobs")
    return Result("cluster.nodes.runtime", "cluster", Status.PASS, "nodes run containerd on 3 node(s)",
                  data={"runtimes": {"containerd": 3}})


CONTEXTS = [
    ContextInfo("kind-ci", "kind-ci", "kind-ci", None, "https://127.0.0.1:6443", True),
    ContextInfo("prod", "prod-cluster", "admin", "default", "https://k8s.company.com:6443", False),
]

FILES = {
    "values.yaml": "gitlabUrl: https://gitlab.company.com:8929/\nconcurrent: 10\ncheckInterval: 3\n"
                   "rbac:\n  create: false\nrunners:\n  secret: gitlab-runner-token\n",
    "manifests.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ci-system\n---\n"
                      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ci-jobs\n",
    "NEXT-STEPS.md": "# Next steps\n\n1. helm upgrade --install gitlab-runner gitlab/gitlab-runner\n",
}


def _cert(subject: str, issuer: str, dns: tuple[str, ...], fp: str, is_ca: bool, self_signed: bool) -> Any:
    from wizard.tls import CertInfo

    return CertInfo(subject=subject, issuer=issuer, common_name=subject.split("=", 1)[-1],
                    dns_names=dns, ip_addresses=(), has_san=bool(dns) or not is_ca,
                    not_before=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
                    not_after=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc),
                    fingerprint=fp, is_ca=is_ca, self_signed=self_signed)


ROOT_FP = "SHA256:" + ":".join(["AB", "CD", "EF", "01"] * 8)


def verdict(trusted: bool) -> Any:
    from wizard.tls import Fault, Verdict

    chain = [_cert("CN=gitlab.company.com", "CN=Company Root CA", ("gitlab.company.com",),
                   "SHA256:" + ":".join(["12", "34", "56", "78"] * 8), False, False),
             _cert("CN=Company Root CA", "CN=Company Root CA", (), ROOT_FP, True, True)]
    v = Verdict(host="gitlab.company.com", chain=chain, trusted=trusted,
                trusted_by="extra" if trusted else "", name_ok=True)
    if not trusted:
        v.faults.append(Fault("unknown_ca", "signed by Company Root CA, which this machine does not trust "
                                            "(a private CA): the runner will fail with x509 unknown authority"))
    return v


@dataclass
class FakeWorld:
    """Builds :class:`Services` whose answers are chosen by ``mode``."""

    mode: str = "pass"  # pass | fail | pending
    tls_trusted: bool | None = None
    resolvable: dict[str, list[str]] = field(default_factory=dict)
    apply_ok: bool = True
    no_nodes: bool = False
    results: dict[str, list[Result]] | None = None
    """Overrides the canned PASS/FAIL tables (results are streamed in reverse: last first)."""
    single_cert: bool = False
    """GitLab presents only its own certificate (no CA in the chain)."""
    apply_extra: tuple[tuple[str, str, str], ...] = ()
    """Events (step, status, message) added to the scripted apply."""
    raise_in_checks: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def run_checks(self, answers: Any, *, kubeconfig: Any = None, context: Any = None, steps: Any = None,
                   ids: Any = None, on_result: Any = None) -> list[Result]:
        self.calls.append(("run_checks", tuple(steps or ())))
        if self.mode == "pending":
            from textual.worker import get_current_worker

            worker = get_current_worker()
            while not worker.is_cancelled:
                time.sleep(0.01)
            return []
        if self.raise_in_checks:
            raise AttributeError("'str' object has no attribute '__cause__'")
        if ids is not None:
            out = [runtime_result(self.no_nodes)] if "cluster.nodes.runtime" in ids else []
        else:
            table = self.results if self.results is not None else FAIL if self.mode == "fail" else PASS
            out = [r for s in steps or table for r in table.get(s, [])]
        for r in (reversed(out) if self.results is not None else out):
            if on_result:
                on_result(r)
        return out

    def inspect_tls(self, url: str, ca_file: str | None) -> Any:
        self.calls.append(("inspect_tls", url))
        trusted = self.tls_trusted if self.tls_trusted is not None else self.mode == "pass"
        v = verdict(trusted)
        if self.single_cert:
            v.chain = v.chain[:1]
        return v

    def resolve(self, host: str) -> list[str]:
        return list(self.resolvable.get(host, []))

    def render(self, answers: Any) -> Any:
        self.calls.append(("render", answers))

        class Rendered:
            files = dict(FILES)

        return Rendered()

    def apply(self, answers: Any, *, kubeconfig: Any, context: Any, dry_run: bool, reporter: Any,
              ignore: Any = ()) -> Any:
        from wizard.progress import Event

        self.calls.append(("apply", dry_run))
        self.calls.append(("apply.ignore", tuple(ignore)))
        script = [("render", "ok", "rendered 3 files"), ("check", "ok", "12 checks passed"),
                  ("plan", "ok", "4 objects to create"), ("apply", "changed", "created Namespace ci-jobs")]
        if self.apply_ok:
            script += [("token", "ok", "runner token stored in Secret gitlab-runner-token"),
                       ("helm", "changed", "installed release gitlab-runner (chart 0.86.0)"),
                       ("external", "skip", "manager runs in the cluster"),
                       ("verify", "ok", "runner k8s-runner is online")]
        else:
            script += [("token", "ok", "runner token stored in Secret gitlab-runner-token"),
                       ("helm", "changed", "installed release gitlab-runner (chart 0.86.0)"),
                       ("external", "skip", "manager runs in the cluster"),
                       ("verify", "fail", "runner did not come online within 120 s")]
        script += list(self.apply_extra)
        for step, status, msg in script:
            reporter(Event(step, "start", f"{step}…"))
            reporter(Event(step, status, msg))

        from wizard.apply import ApplyReport
        from wizard.verify import Verification

        report = ApplyReport(dry_run=dry_run)
        if self.apply_ok:
            report.verifications = [Verification("deployment", True, "1/1 manager pods available")]
        else:
            report.stopped = "verify failed: the runner is not online"
        return report

    def find_releases(self) -> list[Any]:
        self.calls.append(("find_releases", None))
        return []

    def diagnose(self, namespace: Any, release: Any, progress: Any) -> Any:
        self.calls.append(("diagnose", (namespace, release)))
        raise RuntimeError("no cluster in this test")

    def services(self) -> Services:
        return Services(run_checks=self.run_checks, list_contexts=lambda kubeconfig: list(CONTEXTS),
                        inspect_tls=self.inspect_tls, resolve=self.resolve, render=self.render,
                        apply=self.apply, recover=self)


SAMPLE_ANSWERS = {
    "version": 1,
    "gitlab": {"url": "https://gitlab.company.com:8929/", "token": "env:RUNNER_TOKEN",
               "ca": {"fetch": True, "fingerprint": ROOT_FP}},
    "cluster": {"context": "kind-ci", "runner_namespace": "ci-system", "jobs_namespace": "ci-jobs"},
    "runner": {"concurrent": 4},
    "host_aliases": [{"ip": "192.168.80.14", "hostnames": ["gitlab.company.com"]}],
    "registries": [{"host": "registry.company.com:5000", "username": "ci-pull", "password": "env:REG_PASS"}],
    "node_runtime": "cri-o",
}


def sample_answers() -> Any:
    from wizard.answers import parse

    return parse(SAMPLE_ANSWERS, check_files=False)
