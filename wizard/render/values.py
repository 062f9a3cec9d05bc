"""Chart values (values.yaml) and the runner configuration (the ``[[runners]]`` template, config.toml)."""

from __future__ import annotations

from typing import Any

import tomlkit

from .. import names
from ..answers import Answers
from .common import CERTS_DIR_JOBS, CERTS_DIR_MANAGER, DIND_ENV, EXTERNAL_DIR, ca_secret_key, needs_tls_ca_file


def _kubernetes_table(a: Answers, *, ca_configured: bool) -> Any:
    r, c = a.runner, a.cluster
    k = tomlkit.table()
    k.add("namespace", c.jobs_namespace)
    k.add("service_account", c.job_service_account)
    if c.job_api_access == "none":
        k.add("automount_service_account_token", False)
    k.add("image", r.job_image)
    if r.helper_image:
        k.add("helper_image", r.helper_image)
    if a.privileged_jobs:
        k.add("privileged", True)
    k.add("poll_timeout", r.poll_timeout)
    res = r.resources
    k.add("cpu_request", res.cpu_request)
    k.add("cpu_limit", res.cpu_limit)
    k.add("memory_request", res.memory_request)
    k.add("memory_limit", res.memory_limit)
    pulls = names.pull_secrets(a)
    if pulls:
        k.add("image_pull_secrets", pulls)
    if r.node_selector:
        ns = tomlkit.table()
        for key in sorted(r.node_selector):
            ns.add(key, r.node_selector[key])
        k.add("node_selector", ns)
    if r.tolerations:
        tt = tomlkit.table()
        for t in r.tolerations:
            key = t.key or ""
            if t.operator == "Equal" and t.value:
                key = f"{key}={t.value}"
            if key not in tt:
                tt.add(key, t.effect)
        k.add("node_tolerations", tt)
    job_aliases = [h for h in a.host_aliases if "jobs" in h.targets]
    if job_aliases:
        aot = tomlkit.aot()
        for h in job_aliases:
            t = tomlkit.table()
            t.add("ip", h.ip)
            t.add("hostnames", list(h.hostnames))
            aot.append(t)
        k.add("host_aliases", aot)
    volumes: dict[str, list[dict[str, Any]]] = {}
    if ca_configured:
        volumes.setdefault("secret", []).append(
            {"name": names.ca_secret(a), "mount_path": CERTS_DIR_JOBS, "read_only": True})
    if r.docker_builds == "dind":
        volumes.setdefault("empty_dir", []).append(
            {"name": "docker-certs", "mount_path": "/certs/client", "medium": "Memory"})
    if r.docker_builds == "host-socket":
        volumes.setdefault("host_path", []).append(
            {"name": "docker-sock", "mount_path": "/var/run/docker.sock", "host_path": "/var/run/docker.sock"})
    if volumes:
        vt = tomlkit.table(is_super_table=True)
        for kind in ("secret", "empty_dir", "host_path"):
            if kind in volumes:
                aot = tomlkit.aot()
                for vol in volumes[kind]:
                    t = tomlkit.table()
                    for key, val in vol.items():
                        t.add(key, val)
                    aot.append(t)
                vt.add(kind, aot)
        k.add("volumes", vt)
    return k


def _environment(a: Answers) -> list[str]:
    env = list(a.runner.environment)
    if a.runner.docker_builds == "dind":
        have = {e.split("=", 1)[0] for e in env}
        env += [e for e in DIND_ENV if e.split("=", 1)[0] not in have]
    return env


def build_config_template(a: Answers, *, ca_configured: bool, external: bool = False) -> str:
    """The ``[[runners]]`` template: one runner, no global keys, no url/token (they come
    from the chart's environment, or from ``gitlab-runner register`` in external mode)."""
    run = tomlkit.table()
    run.add("executor", "kubernetes")
    if external and ca_configured:
        run.add("tls-ca-file", f"{EXTERNAL_DIR}/certs/{ca_secret_key(a)}")
    elif ca_configured and needs_tls_ca_file(a):
        run.add("tls-ca-file", f"{CERTS_DIR_MANAGER}/{ca_secret_key(a)}")
    if a.gitlab.clone_url:
        run.add("clone_url", a.gitlab.clone_url)
    env = _environment(a)
    if env:
        run.add("environment", env)
    run.add("kubernetes", _kubernetes_table(a, ca_configured=ca_configured))
    aot = tomlkit.aot()
    aot.append(run)
    doc = tomlkit.document()
    doc.add("runners", aot)
    return tomlkit.dumps(doc)


def global_config(a: Answers) -> str:
    doc = tomlkit.document()
    doc.add("concurrent", a.runner.concurrent)
    doc.add("check_interval", a.runner.check_interval)
    if a.runner.metrics:
        doc.add("listen_address", ":9252")
    return tomlkit.dumps(doc)


# --------------------------------------------------------------------------- values.yaml


def _unregister_runners(a: Answers, runner_token: str | None) -> bool:
    if runner_token is not None:
        return runner_token.strip().startswith("glrt-")
    # The prefix of a referenced or API-created token is unknown here: keep the chart
    # default (the checks warn when the token turns out not to be a glrt- token).
    return True


def build_values(a: Answers, config_template: str, *, ca_configured: bool,
                 runner_token: str | None = None) -> dict:
    r, c = a.runner, a.cluster
    v: dict[str, Any] = {"gitlabUrl": a.gitlab.base_url}
    v["unregisterRunners"] = _unregister_runners(a, runner_token)
    v["concurrent"] = r.concurrent
    v["checkInterval"] = r.check_interval
    v["replicas"] = r.replicas
    if ca_configured:
        v["certsSecretName"] = names.ca_secret(a)
    v["serviceAccount"] = {"create": False, "name": c.manager_service_account}
    v["rbac"] = {"create": False}
    v["metrics"] = {"enabled": bool(r.metrics)}
    manager_aliases = [{"ip": h.ip, "hostnames": list(h.hostnames)}
                       for h in a.host_aliases if "manager" in h.targets]
    if manager_aliases:
        v["hostAliases"] = manager_aliases
    runners: dict[str, Any] = {"name": r.name, "secret": names.token_secret(a)}
    if a.gitlab.registration_token is not None:
        # Legacy registration: the runner is created by `register`, so these still apply.
        runners["runUntagged"] = True
    # runners.config goes through Helm's `tpl`: keep any literal "{{" out of its reach.
    runners["config"] = config_template.replace("{{", '{{ "{{" }}')
    v["runners"] = runners
    return v

