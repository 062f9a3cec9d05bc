"""Text for people: the smoke-test pipeline and NEXT-STEPS.md."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from .. import chart, names
from ..answers import Answers, SecretRef
from .common import (API_SERVER_PLACEHOLDER, CERTS_DIR_JOBS, CHART_NAME, CHART_REPO, EXTERNAL_DIR, EXTERNAL_KUBE_TOKEN,
                     EXTERNAL_KUBECONFIG, HEADER, PSA_ENFORCE, ca_secret_key, comment, dump_yaml, fully_qualified,
                     needs_privileged_psa, v_is_ip)
from .external import token_env
from .nodes import secret_shell_var


def build_smoke_test(a: Answers) -> str:
    job: dict[str, Any] = {"image": a.runner.job_image}
    cr = a.gitlab.create_runner
    if cr and cr.tags:
        job["tags"] = list(cr.tags)
    script = [
        'echo "runner $CI_RUNNER_DESCRIPTION (id $CI_RUNNER_ID) picked up job $CI_JOB_ID"',
        'echo "pod $HOSTNAME, namespace ' + a.cluster.jobs_namespace + '"',
        "cat /etc/hosts",
        'test -f "$CI_PROJECT_DIR/.gitlab-ci.yml" && echo "git clone through the helper: ok"',
    ]
    for h in a.host_aliases:
        if "jobs" in h.targets:
            script.append(f'grep -q "{h.hostnames[0]}" /etc/hosts && echo "host alias {h.hostnames[0]}: ok"')
    job["script"] = script
    doc: dict[str, Any] = {"stages": ["smoke"]}
    job = {"stage": "smoke", **job}
    doc["runner-smoke-test"] = job
    if a.runner.docker_builds == "dind":
        doc["runner-smoke-test-dind"] = {
            "stage": "smoke", "image": "docker.io/library/docker:28",
            **({"tags": list(cr.tags)} if cr and cr.tags else {}),
            "services": [{"name": "docker.io/library/docker:28-dind", "alias": "docker"}],
            "script": ["until docker info >/dev/null 2>&1; do sleep 1; done", "docker info",
                       "docker run --rm docker.io/library/alpine:3.22 echo dind-ok"],
        }
    elif a.runner.docker_builds == "host-socket":
        doc["runner-smoke-test-docker"] = {
            "stage": "smoke", "image": "docker.io/library/docker:28",
            **({"tags": list(cr.tags)} if cr and cr.tags else {}),
            "script": ["docker info"],
        }
    head = [HEADER, "Commit as .gitlab-ci.yml in a test project that can use this runner, then run a pipeline."]
    if not (cr and cr.tags):
        head.append("If the runner does not run untagged jobs, add its tags to each job (tags: [...]).")
    return comment(head) + dump_yaml(doc)


# --------------------------------------------------------------------------- NEXT-STEPS.md


def _secret_shell(ref: SecretRef | str | None, fallback_var: str) -> str:
    """Shell expression for a secret value without writing it to disk."""
    if isinstance(ref, SecretRef):
        if ref.kind == "env":
            return f'"${ref.target}"'
        return f'"$(tr -d \'\\r\\n\' < {shlex.quote(ref.target)})"'
    if ref is None:
        return f'"${fallback_var}"'
    return shlex.quote(ref)


@dataclass(frozen=True)
class Section:
    """One piece of a text template: an optional step title and its body (``string.Template``)."""

    title: str
    body: Template

    def fill(self, **values: Any) -> str:
        return self.body.substitute(values)


Sections = Mapping[str, Section]

_MARK = re.compile(r"^<!-- ([a-z0-9_-]+)(?: \| (.+?))? -->$", re.M)


def parse_sections(text: str) -> dict[str, Section]:
    """``<!-- name -->`` or ``<!-- name | Step title -->`` starts a section that runs to the next one; the
    blank lines around it are dropped; text before the first marker is ignored."""
    marks = list(_MARK.finditer(text))
    out: dict[str, Section] = {}
    for m, nxt in zip(marks, [*marks[1:], None]):
        body = text[m.end():nxt.start() if nxt is not None else len(text)].strip("\n")
        out[m.group(1)] = Section(m.group(2) or "", Template(body))
    return out


@functools.cache
def load_templates() -> Sections:
    """The text templates shipped in the package (``wizard/templates/next-steps.md``), read once."""
    from importlib.resources import files

    return parse_sections((files("wizard") / "templates" / "next-steps.md").read_text(encoding="utf-8"))


def build_next_steps(a: Answers, rendered_files: dict[str, str], *, ca_pem: str | None,
                     runtimes: list[str], templates: Sections | None = None) -> str:
    """NEXT-STEPS.md: the numbered steps that do by hand what ``apply`` does, from the templates' sections."""
    t = templates if templates is not None else load_templates()
    c, r, g = a.cluster, a.runner, a.gitlab
    rns, jns = c.runner_namespace, c.jobs_namespace
    out: list[str] = [t["title"].fill(name=str(r.name), header=HEADER), ""]
    n = 0

    def step(key: str, *body: str) -> None:
        nonlocal n
        n += 1
        out.append(f"## {n}. {t[key].title}")
        out.append("")
        out.extend(body)
        out.append("")

    ctx = f" --context {shlex.quote(c.context)}" if c.context else ""
    kubectl = f"kubectl{ctx}"

    # nodes
    node_dirs = [rt for rt in runtimes if f"nodes/{rt}/install.sh" in rendered_files]
    if node_dirs:
        folders = (f"`nodes/{node_dirs[0]}/`" if len(node_dirs) == 1 else
                   t["nodes-runtime-unknown"].fill(folders=" or ".join(f"`nodes/{rt}/`" for rt in node_dirs)))
        body = [t["nodes"].fill(folders=folders, runtime=node_dirs[0])]
        cred = [(i, reg) for i, reg in enumerate(a.registries) if reg.needs_node_credentials]
        if cred:
            body += ["", t["nodes-credentials"].fill(), ""]
            for i, reg in cred:
                for what in ("username", "password"):
                    var = secret_shell_var(reg, i, what).var
                    if var:
                        body.append(t["nodes-credential"].fill(var=var, i=i, what=what, host=reg.host))
        step("nodes", *body)

    # manifests
    ca_secrets = " " + t["manifests-ca-secrets"].fill() if g.ca else ""
    body = [t["manifests"].fill(ca_secrets=ca_secrets, kubectl=kubectl)]
    if not c.create_namespaces:
        body += ["", t["manifests-namespaces"].fill(namespaces=f"`{rns}`" + (f" and `{jns}`" if jns != rns else ""))]
        if needs_privileged_psa(a):
            body += ["", t["manifests-privileged"].fill(jns=jns, kubectl=kubectl, psa=PSA_ENFORCE)]
    if g.ca and ca_pem is None:
        commands = "\n".join(t["manifests-ca-command"].fill(kubectl=kubectl, ns=ns, secret=names.ca_secret(a),
                                                            key=ca_secret_key(a))
                             for ns in dict.fromkeys([rns, jns]))
        body += ["", t["manifests-ca-missing"].fill(secret=names.ca_secret(a), commands=commands)]
    step("manifests", *body)
    manifests_step = n

    # secrets
    pulls = [(i, reg) for i, reg in enumerate(a.registries) if reg.needs_pull_secret]
    if c.mode == "helm" or pulls:
        body = [t["secrets"].fill(), ""]
        if c.mode == "helm":
            tok = names.token_secret(a)
            if g.registration_token is not None:
                body += [t["secrets-registration-token"].fill(
                    kubectl=kubectl, rns=rns, secret=tok,
                    value=_secret_shell(g.registration_token, "REGISTRATION_TOKEN"))]
            else:
                if g.create_runner is not None:
                    cr = g.create_runner
                    where = t[f"where-{cr.runner_type}"].fill(group_id=cr.group_id, project_id=cr.project_id)
                    body += [t["secrets-create-runner"].fill(where=where, tags=", ".join(cr.tags) or "none",
                                                             run_untagged=str(cr.run_untagged).lower()), ""]
                body += [t["secrets-token"].fill(kubectl=kubectl, rns=rns, secret=tok,
                                                 value=_secret_shell(g.token, "RUNNER_TOKEN"))]
        for i, reg in pulls:
            body += ["", t["secrets-pull"].fill(
                host=reg.host, i=i, kubectl=kubectl, jns=jns, secret=names.pull_secret(a, reg),
                server=shlex.quote(reg.host), username=_secret_shell(reg.username, "REGISTRY_USERNAME"),
                password=_secret_shell(reg.password, "REGISTRY_PASSWORD"))]
        step("secrets", *body)

    if c.mode == "helm":
        kube = f" --kube-context {shlex.quote(c.context)}" if c.context else ""
        step("helm", t["helm"].fill(chart_repo=CHART_REPO, release=r.release_name, chart=CHART_NAME,
                                    version=r.chart_version, rns=rns, kube_context=kube,
                                    manifests_step=manifests_step))
        body = [t["verify"].fill(kubectl=kubectl, rns=rns, deployment=names.deployment(a))]
        if g.token is not None:
            body += ["", t["verify-unregister"].fill()]
        step("verify", *body)
    else:
        body = [t["external"].fill(rns=rns, jns=jns, service_account=c.manager_service_account,
                                   kubeconfig=EXTERNAL_KUBECONFIG, token_file=EXTERNAL_KUBE_TOKEN), ""]
        if "external/kubernetes-ca.crt" not in rendered_files:
            body += [t["external-cluster-ca"].fill(kubectl=kubectl), ""]
        if API_SERVER_PLACEHOLDER in rendered_files.get("external/kubeconfig", ""):
            body += [t["external-api-server"].fill(kubectl=kubectl, placeholder=API_SERVER_PLACEHOLDER), ""]
        body += [t["external-token"].fill(kubectl=kubectl, rns=rns, secret=names.external_token_secret(a),
                                          manifests_step=manifests_step, dir=EXTERNAL_DIR,
                                          token_file=EXTERNAL_KUBE_TOKEN), ""]
        var = token_env(g.registration_token if g.registration_token is not None else g.token, "RUNNER_TOKEN").var
        token_where = t["external-token-created" if g.create_runner else "external-token-given"].fill()
        body += [t["external-install"].fill(token_where=token_where, var=var)]
        step("external", *body)
    step("smoke", t["smoke"].fill(kubectl=kubectl, jns=jns))

    notes = []
    warning = chart.version_warning(r.chart_version) if a.cluster.mode == "helm" else None
    if warning:
        notes.append(warning[0].upper() + warning[1:] + ".")
    if not fully_qualified(r.job_image):
        notes.append(t["note-short-name"].fill(image=r.job_image))
    if r.docker_builds == "dind":
        notes.append(t["note-dind"].fill())
    if g.ca and v_is_ip(g.host):
        notes.append(t["note-ip-san"].fill(host=g.host))
    if g.ca:
        notes.append(t["note-ca-secret"].fill(secret=names.ca_secret(a), key=ca_secret_key(a), path=CERTS_DIR_JOBS))
    if notes:
        out.append(f"## {t['notes'].title}")
        out.append("")
        out.extend(t["notes"].fill(note=x) for x in notes)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
