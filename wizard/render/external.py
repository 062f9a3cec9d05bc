"""``mode: external``: the files for a runner manager on a VM (config.toml, kubeconfig, install script)."""

from __future__ import annotations

import shlex
from typing import NamedTuple

from ..answers import Answers, SecretRef
from .common import (API_SERVER_PLACEHOLDER, EXTERNAL_DIR, EXTERNAL_KUBE_CA, EXTERNAL_KUBE_TOKEN, EXTERNAL_KUBECONFIG,
                     HEADER, ca_secret_key, comment, dump_yaml)
from .values import global_config


def external_files(a: Answers, ca_pem: str | None, api_server: str | None,
                    api_ca_pem: str | None) -> dict[str, str]:
    files: dict[str, str] = {}
    files["config.toml"] = (
        comment([HEADER,
                  "Global settings of the runner on the VM (install as /etc/gitlab-runner/config.toml).",
                  "The [[runners]] section is appended by `gitlab-runner register` from",
                  "config.template.toml, which also writes the runner token here (mode 0600):",
                  "Runner 18.9 does not expand $VARIABLES in `token`, so it cannot be a reference.",
                  "See NEXT-STEPS.md."]) + "\n" + global_config(a))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "runner-wizard", "cluster": {"server": api_server or API_SERVER_PLACEHOLDER,
                                                           "certificate-authority": EXTERNAL_KUBE_CA}}],
        "users": [{"name": f"{a.cluster.runner_namespace}-{a.cluster.manager_service_account}",
                   "user": {"tokenFile": EXTERNAL_KUBE_TOKEN}}],
        "contexts": [{"name": "runner-wizard",
                      "context": {"cluster": "runner-wizard",
                                  "user": f"{a.cluster.runner_namespace}-{a.cluster.manager_service_account}",
                                  "namespace": a.cluster.jobs_namespace}}],
        "current-context": "runner-wizard",
    }
    files["external/kubeconfig"] = (
        comment([HEADER,
                  f"Kubernetes access for the runner on the VM; install as {EXTERNAL_KUBECONFIG}.",
                  "No secret here: the ServiceAccount token is read from tokenFile, which client-go",
                  "re-reads, so rotating it needs no runner restart."]) + dump_yaml(kubeconfig))
    files["external/gitlab-runner.service.d/kubeconfig.conf"] = (
        comment([HEADER, "systemd drop-in: /etc/systemd/system/gitlab-runner.service.d/kubeconfig.conf"])
        + "[Service]\n" + f"Environment=KUBECONFIG={EXTERNAL_KUBECONFIG}\n")
    if api_ca_pem:
        files["external/kubernetes-ca.crt"] = api_ca_pem
    if ca_pem:
        files[f"external/certs/{ca_secret_key(a)}"] = ca_pem
    files["external/install.sh"] = _external_script(a, files)
    return files


class TokenSource(NamedTuple):
    """Where the external manager's install script reads the GitLab token from."""

    var: str
    """The environment variable holding the value."""
    file: str | None
    """The file to read it from, when the answers name a file."""


def token_env(ref: SecretRef | None, default: str) -> TokenSource:
    """The environment variable holding the value, and the file to read it from when the ref is a file."""
    if ref is None:
        return TokenSource(default, None)
    if ref.kind == "env":
        return TokenSource(ref.target, None)
    return TokenSource(default, ref.target)


def _external_script(a: Answers, files: dict[str, str]) -> str:
    g = a.gitlab
    legacy = g.registration_token is not None
    var = token_env(g.registration_token if legacy else g.token, "RUNNER_TOKEN").var
    envname = "REGISTRATION_TOKEN" if legacy else "CI_SERVER_TOKEN"
    lines = [
        "#!/usr/bin/env bash",
        f"# {HEADER}",
        "# Run as root on the runner VM from this folder (gitlab-runner 18.9 installed). Safe to run again:",
        "# it registers only when config.toml has no [[runners]] section yet.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        f"dir={EXTERNAL_DIR}",
        'install -d -m 0700 "$dir" "$dir/certs"',
        '[ -f "$dir/config.toml" ] || install -m 0600 ../config.toml "$dir/config.toml"',
        "install -m 0644 ../config.template.toml \"$dir/config.template.toml\"",
        "install -m 0644 kubeconfig \"$dir/kubeconfig\"",
        "install -D -m 0644 gitlab-runner.service.d/kubeconfig.conf "
        "/etc/systemd/system/gitlab-runner.service.d/kubeconfig.conf",
    ]
    if "external/kubernetes-ca.crt" in files:
        lines.append(f"install -m 0644 kubernetes-ca.crt {EXTERNAL_KUBE_CA}")
    for p in sorted(files):
        if p.startswith("external/certs/"):
            rel = p[len("external/"):]
            lines.append(f"install -m 0644 {shlex.quote(rel)} \"$dir/{rel}\"")
    lines += [
        f"if [ ! -s {EXTERNAL_KUBE_CA} ] || [ ! -s {EXTERNAL_KUBE_TOKEN} ]; then",
        f"  echo 'ERROR: {EXTERNAL_KUBE_CA} and {EXTERNAL_KUBE_TOKEN} are needed (see NEXT-STEPS.md)' >&2",
        "  exit 1",
        "fi",
        "systemctl daemon-reload",
        "if ! grep -q '^\\[\\[runners\\]\\]' \"$dir/config.toml\"; then",
        f"  : \"${{{var}:?export {var} (the runner token) before running}}\"",
        "  # The token goes through the environment (not argv, which other users can read).",
        f"  {envname}=\"${var}\" gitlab-runner register --non-interactive --config \"$dir/config.toml\" \\",
        "    --template-config \"$dir/config.template.toml\" \\",
        f"    --url {shlex.quote(g.base_url)} --executor kubernetes --name {shlex.quote(a.runner.name)}",
        "fi",
        "systemctl restart gitlab-runner",
        "gitlab-runner verify --config \"$dir/config.toml\"",
    ]
    return "\n".join(lines) + "\n"

