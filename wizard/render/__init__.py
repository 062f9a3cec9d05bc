"""Render every artifact of an install from the answers.

Two steps: :func:`load_inputs` reads what the answers name (CA files) into :class:`Inputs`;
:func:`build` is pure: it reads nothing, contacts nothing and returns the same bytes for the
same inputs. :func:`render` does both. Secrets are resolved only by
:meth:`Rendered.secret_objects`, which ``write(..., with_secrets=True)`` calls before it writes
anything.

One module per artifact:

- :mod:`.values`: chart values (values.yaml) and the runner configuration (``[[runners]]`` template);
- :mod:`.manifests`: the Kubernetes objects (namespaces, ServiceAccounts, Role, bindings, Secrets);
- :mod:`.nodes`: node files (CRI-O and containerd registry settings, registry CAs, install.sh);
- :mod:`.external`: the files for a manager on a VM (``mode: external``);
- :mod:`.text`: text for people (NEXT-STEPS.md from ``wizard/templates/next-steps.md``, the smoke test);
- :mod:`.files`: writing them (all or nothing); :mod:`.common`: what they share.
"""

from __future__ import annotations

import os  # noqa: F401 - tests patch os through this module

from .. import chart, names
from ..answers import Answers
from .common import (API_SERVER_PLACEHOLDER, CERTS_DIR_JOBS, CERTS_DIR_MANAGER, CHART_NAME, CHART_REPO, CRIO_DROPIN,
                     DIND_ENV, EXTERNAL_DIR, EXTERNAL_KUBE_CA, EXTERNAL_KUBE_TOKEN, EXTERNAL_KUBECONFIG, HEADER,
                     PSA_ENFORCE, ca_secret_key, comment, dump_yaml, dump_yaml_all, needs_privileged_psa)
from .external import external_files
from .files import preflight_out, secrets_yaml, write
from .inputs import Inputs, load_inputs
from .manifests import build_manifests, token_secret_object
from .nodes import build_node_files
from .result import Rendered
from .text import build_next_steps, build_smoke_test
from .values import build_config_template, build_values

__all__ = [
    "API_SERVER_PLACEHOLDER", "CERTS_DIR_JOBS", "CERTS_DIR_MANAGER", "CHART_NAME", "CHART_REPO", "CRIO_DROPIN",
    "DIND_ENV", "EXTERNAL_DIR", "EXTERNAL_KUBE_CA", "EXTERNAL_KUBE_TOKEN", "EXTERNAL_KUBECONFIG", "HEADER",
    "PSA_ENFORCE", "Inputs", "Rendered", "build", "build_config_template", "build_manifests", "build_next_steps",
    "build_node_files", "build_smoke_test", "build_values", "ca_secret_key", "dump_yaml", "dump_yaml_all",
    "load_inputs", "needs_privileged_psa", "preflight_out", "render", "secrets_yaml", "token_secret_object",
    "write",
]


def _runtimes(a: Answers, node_runtime: str | None) -> list[str]:
    rt = a.node_runtime if a.node_runtime != "auto" else node_runtime
    if rt in ("cri-o", "containerd"):
        return [rt]
    return ["cri-o", "containerd"]


def build(inputs: Inputs) -> Rendered:
    """Every artifact for these inputs. Pure: no file, no network, no secret read."""
    a = inputs.answers
    ca_pem = inputs.ca_pem
    ca_configured = a.gitlab.ca is not None
    external = a.cluster.mode == "external"
    template = build_config_template(a, ca_configured=ca_configured, external=external)
    files: dict[str, str] = {}
    values: dict = {}
    if external:
        files.update(external_files(a, ca_pem, inputs.api_server, inputs.api_ca_pem))
        files["config.template.toml"] = (
            comment([HEADER, "Template for `gitlab-runner register --template-config` (one [[runners]], no",
                     "global keys); url, token, name and executor are passed to register."]) + "\n" + template)
    else:
        values = build_values(a, template, ca_configured=ca_configured, runner_token=inputs.runner_token)
        warning = chart.version_warning(a.runner.chart_version)
        files["values.yaml"] = (
            comment([HEADER, f"Values for the gitlab-runner chart {a.runner.chart_version} "
                     f"(helm upgrade --install ... -f values.yaml). No token or password here:",
                     f"the token is read from Secret {names.token_secret(a)} (runners.secret).",
                     *([f"WARNING: {warning}"] if warning else [])])
            + dump_yaml(values))
    manifests = build_manifests(a, ca_pem)
    files["manifests.yaml"] = (
        comment([HEADER, "Apply with: kubectl apply --server-side --field-manager=runner-wizard -f manifests.yaml",
                 "Tokens and registry passwords are not here: see NEXT-STEPS.md (or secrets.yaml with",
                 "render --with-secrets)."]) + dump_yaml_all(manifests))
    runtimes = _runtimes(a, inputs.node_runtime)
    files.update(build_node_files(a, runtimes, inputs.registry_cas))
    files["smoke-test.gitlab-ci.yml"] = build_smoke_test(a)
    files["NEXT-STEPS.md"] = build_next_steps(a, files, ca_pem=ca_pem, runtimes=runtimes,
                                              templates=inputs.templates)
    executable = frozenset(p for p in files if p.endswith(".sh"))
    ordered = {k: files[k] for k in sorted(files)}
    return Rendered(values=values, config_template=template, manifests=manifests, files=ordered,
                    answers=a, runner_token=inputs.runner_token, executable=executable)


def render(answers: Answers, *, node_runtime: str | None = None, ca_pem: str | None = None,
           runner_token: str | None = None, api_server: str | None = None,
           api_ca_pem: str | None = None) -> Rendered:
    """Every artifact for these answers: :func:`load_inputs` (reads the CA files), then :func:`build`.

    ``node_runtime``: the runtime read from the cluster when the answers say ``auto``.
    ``ca_pem``: the GitLab CA bundle (``wizard.tls.load_ca_pem``); when ``None`` and the
    answers name a CA file, it is read. ``runner_token``: a token already known (from
    ``create_runner``), used by ``secret_objects`` and to decide ``unregisterRunners``.
    ``api_server``/``api_ca_pem``: the cluster API for ``mode: external``.
    """
    return build(load_inputs(answers, node_runtime=node_runtime, ca_pem=ca_pem, runner_token=runner_token,
                             api_server=api_server, api_ca_pem=api_ca_pem))
