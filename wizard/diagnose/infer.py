"""Reconstruct what an install means from what the cluster holds.

* :func:`render_config_template` evaluates the few Helm template expressions that
  appear in ``runners.config`` (the chart passes it through ``tpl``).
* :func:`parse_runner_config` reads the ``[[runners]]`` entry of a config template.
* :func:`manager_service_account` follows the chart's ``gitlab-runner.serviceAccountName``.
* :func:`values_from_deployment` rebuilds the values that matter when there is no
  Helm release Secret (installed with ``helm template | kubectl apply``, or by hand).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

_TPL = re.compile(r"\{\{-?\s*(?P<expr>.*?)\s*-?\}\}", re.S)
SHORT_NAME_RE = re.compile(r"^[^/]+$|^[^./:]+/[^/]+$")


def render_config_template(text: str, namespace: str, release: str, values: dict[str, Any] | None = None) -> str:
    """Evaluate the template expressions the chart's default ``runners.config`` uses."""
    values = values or {}
    runners = values.get("runners") or {}

    def sub(m: re.Match[str]) -> str:
        expr = m.group("expr")
        if "jobNamespace" in expr:
            return str(runners.get("jobNamespace") or namespace)
        if ".Release.Namespace" in expr:
            return namespace
        if ".Release.Name" in expr:
            return release
        path = re.search(r"\.Values\.([\w.]+)", expr)
        if path:
            cur: Any = values
            for part in path.group(1).split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            return "" if cur is None else str(cur)
        return ""

    return _TPL.sub(sub, text)


def parse_runner_config(text: str | None) -> dict[str, Any]:
    """The first ``[[runners]]`` table of a config template ({} when absent or invalid)."""
    if not text:
        return {}
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
    runners = doc.get("runners")
    if isinstance(runners, list) and runners and isinstance(runners[0], dict):
        return runners[0]
    return {}


def config_is_valid_toml(text: str | None) -> bool:
    if not text:
        return True
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def jobs_namespace(values: dict[str, Any], runner_config: dict[str, Any], release_namespace: str) -> str:
    ns = (runner_config.get("kubernetes") or {}).get("namespace")
    if ns:
        return str(ns)
    runners = values.get("runners") or {}
    return str(runners.get("jobNamespace") or values.get("namespace") or release_namespace)


def manager_service_account(values: dict[str, Any], fullname: str) -> str:
    """The chart's ``gitlab-runner.serviceAccountName`` (``default`` for an empty name)."""
    sa = values.get("serviceAccount") or {}
    rbac = values.get("rbac") or {}
    name = sa.get("name") or rbac.get("serviceAccountName") or ""
    create = sa.get("create")
    if create is None:
        create = bool(rbac.get("create"))
    if create or rbac.get("create"):
        return str(name or fullname)
    return str(name or "default")


def chart_creates_service_account(values: dict[str, Any]) -> bool:
    sa = values.get("serviceAccount") or {}
    create = sa.get("create")
    if create is None:
        return bool((values.get("rbac") or {}).get("create"))
    return bool(create)


def values_from_deployment(deployment: dict[str, Any], configmap: dict[str, Any] | None) -> dict[str, Any]:
    """The chart values that can be read back from a rendered Deployment and ConfigMap."""
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    values: dict[str, Any] = {}
    runners: dict[str, Any] = {}
    for c in spec.get("containers") or []:
        for env in c.get("env") or []:
            if env.get("name") == "CI_SERVER_URL" and env.get("value"):
                values["gitlabUrl"] = env["value"]
    sa = spec.get("serviceAccountName")
    values["serviceAccount"] = {"create": False, "name": sa or ""}
    values["rbac"] = {"create": False}
    for vol in spec.get("volumes") or []:
        if vol.get("name") == "custom-certs" and vol.get("secret"):
            values["certsSecretName"] = vol["secret"].get("secretName")
        for src in (vol.get("projected") or {}).get("sources") or []:
            sec = src.get("secret") or {}
            if {i.get("key") for i in sec.get("items") or []} & {"runner-token", "runner-registration-token"}:
                runners["secret"] = sec.get("name")
    if spec.get("hostAliases"):
        values["hostAliases"] = spec["hostAliases"]
    cm = ((configmap or {}).get("data") or {}).get("config.template.toml")
    if cm:
        runners["config"] = cm
    values["runners"] = runners
    return values


def is_short_image(image: str) -> bool:
    """True for an image name without a registry host (``alpine``, ``library/node:20``)."""
    if not image or "$" in image:
        return False
    first = image.split("/", 1)[0]
    if "/" not in image:
        return True
    return not ("." in first or ":" in first or first == "localhost")
