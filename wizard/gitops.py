"""GitOps export: the same install as files a Flux or Argo CD engine applies from Git.

``runner-wizard render --gitops flux|argocd`` writes, next to the usual artifacts, a
folder ``gitops-flux/`` or ``gitops-argocd/``:

* the wizard's own objects (namespaces, ServiceAccounts, the manager's Role and
  RoleBindings, the GitLab CA Secrets) as plain manifests, ordered to apply before
  the release: Flux through ``kustomization.yaml`` (namespaces are applied first, the
  HelmRelease last in the list), Argo CD through sync waves (``-1`` before ``0``);
* the chart: Flux a ``HelmRepository`` (or an ``OCIRepository`` for an ``oci://``
  chart) and a ``HelmRelease`` carrying the values in ``spec.values``; Argo CD an
  ``Application`` (chart, repoURL, targetRevision, ``helm.valuesObject``);
* ``SECRETS.md``: the Secrets that are never written into the folder (the runner
  token, registry pull secrets), with the exact commands to create them, and
  ``README.md`` saying how to hand the folder to the engine.

:func:`export` is pure: it takes a :class:`~wizard.render.Rendered` and returns
relative path → text; :func:`write` writes them. The command that prints is
``wizard.console.gitops_command``.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from . import names
from .answers import Answers, SecretRef
from .errors import BadInput, FieldError
from .render import HEADER, Rendered, dump_yaml, dump_yaml_all
from .safeio import write_atomic

Engine = Literal["flux", "argocd"]
ENGINES: tuple[Engine, ...] = ("flux", "argocd")

GITLAB_CHART_REPO = "https://charts.gitlab.io"
GITLAB_CHART_ALIAS = "gitlab/gitlab-runner"
CHART_NAME = "gitlab-runner"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
ARGOCD_NAMESPACE = "argocd"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
FLUX_INTERVAL = "10m"
SOURCE_INTERVAL = "1h"


@dataclass(frozen=True)
class ChartSource:
    """Where the engine fetches the chart from."""

    kind: Literal["helm", "oci"]
    url: str
    """A Helm repository URL, or the full ``oci://host/path/chart`` reference."""
    chart: str
    version: str

    @property
    def oci_repo(self) -> str:
        """``host/path`` of an OCI chart without the chart name (Argo CD's repoURL)."""
        return self.url.removeprefix("oci://").rsplit("/", 1)[0]


def chart_source(ref: str | None, version: str, *, option: str = "--chart") -> ChartSource:
    """The chart for the engine: the GitLab repository (default), a repository URL, or ``oci://``.

    A GitOps engine fetches the chart itself, so a local path or a local ``helm repo``
    alias cannot be exported: bad input naming ``option``.
    """
    ref = (ref or "").strip()
    if not ref or ref == GITLAB_CHART_ALIAS:
        return ChartSource("helm", GITLAB_CHART_REPO, CHART_NAME, version)
    if ref.startswith("oci://"):
        path = ref.removeprefix("oci://").rstrip("/")
        if "/" not in path or ":" in path.rsplit("/", 1)[1] or "@" in path:
            raise BadInput([FieldError(option, f"{ref}: expected oci://REGISTRY/PATH/CHART (the version "
                                               "comes from runner.chart_version, not a :tag)")])
        return ChartSource("oci", f"oci://{path}", path.rsplit("/", 1)[1], version)
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https") and parts.netloc:
        return ChartSource("helm", ref.rstrip("/"), CHART_NAME, version)
    raise BadInput([FieldError(option, f"{ref}: a GitOps engine fetches the chart itself; give the chart "
                                       "repository URL (https://...) or an oci://REGISTRY/PATH/CHART "
                                       "reference instead of a local path or a local repo alias")])


# --------------------------------------------------------------------------- objects


def _own_objects(r: Rendered) -> tuple[list[dict], list[dict]]:
    """(objects that go into Git, Secrets left out because they have no data)."""
    keep, left_out = [], []
    for obj in r.manifests:
        if obj["kind"] == "Secret" and not obj.get("data") and not obj.get("stringData"):
            left_out.append(obj)
        else:
            keep.append(copy.deepcopy(obj))
    return keep, left_out


def _meta(a: Answers, name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": names.labels(a, "gitops")}


def flux_objects(r: Rendered, chart: ChartSource) -> tuple[dict, dict]:
    """(source, HelmRelease) for Flux."""
    a = r.answers
    ns = a.cluster.runner_namespace
    release: dict[str, Any] = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": _meta(a, a.runner.release_name, ns),
        "spec": {"interval": FLUX_INTERVAL, "releaseName": a.runner.release_name},
    }
    if chart.kind == "oci":
        source: dict[str, Any] = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": _meta(a, chart.chart, ns),
            "spec": {"interval": SOURCE_INTERVAL, "url": chart.url, "ref": {"tag": chart.version},
                     "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"}},
        }
        release["spec"]["chartRef"] = {"kind": "OCIRepository", "name": chart.chart, "namespace": ns}
    else:
        repo_name = "gitlab" if chart.url == GITLAB_CHART_REPO else f"{a.runner.release_name}-charts"
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": _meta(a, repo_name, ns),
            "spec": {"interval": SOURCE_INTERVAL, "url": chart.url},
        }
        release["spec"]["chart"] = {"spec": {
            "chart": chart.chart, "version": chart.version, "interval": SOURCE_INTERVAL,
            "sourceRef": {"kind": "HelmRepository", "name": repo_name, "namespace": ns}}}
    release["spec"]["install"] = {"remediation": {"retries": 3}}
    release["spec"]["upgrade"] = {"remediation": {"retries": 3}}
    release["spec"]["values"] = copy.deepcopy(r.values)
    return source, release


def argocd_application(r: Rendered, chart: ChartSource, *, namespace: str = ARGOCD_NAMESPACE) -> dict:
    a = r.answers
    source: dict[str, Any] = {
        "repoURL": chart.oci_repo if chart.kind == "oci" else chart.url,
        "chart": chart.chart,
        "targetRevision": chart.version,
        "helm": {"releaseName": a.runner.release_name, "valuesObject": copy.deepcopy(r.values)},
    }
    meta = _meta(a, a.runner.release_name, namespace)
    meta["annotations"] = {SYNC_WAVE: "0"}
    meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": a.cluster.runner_namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


# --------------------------------------------------------------------------- text


def _secret_shell(ref: SecretRef | None, fallback_var: str) -> str:
    if ref is None:
        return f'"${fallback_var}"'
    if ref.kind == "env":
        return f'"${ref.target}"'
    return f'"$(tr -d \'\\r\\n\' < {shlex.quote(ref.target)})"'


def _value_shell(value: SecretRef | str | None, fallback_var: str) -> str:
    return _secret_shell(value, fallback_var) if isinstance(value, SecretRef) or value is None else shlex.quote(value)


def secrets_md(r: Rendered, left_out: list[dict]) -> str:
    a = r.answers
    c, g = a.cluster, a.gitlab
    ctx = f" --context {shlex.quote(c.context)}" if c.context else ""
    kubectl = f"kubectl{ctx}"
    out = ["# Secrets to create before this folder is synced", "",
           f"{HEADER} Nothing in this folder holds a token or a password: create these Secrets in the "
           "cluster yourself, before the engine syncs the folder (the runner waits for its token Secret).",
           "", "Each command reads the value from the environment variable or the file the answers name "
           "(file paths are relative to the answers file's folder) and pipes the object to the cluster; "
           "nothing is written to disk. To keep them in Git instead, encrypt the same output rather than "
           "applying it: replace `kubectl apply -f -` with `kubeseal -o yaml` (Sealed Secrets) or "
           "`sops --encrypt --input-type yaml --output-type yaml /dev/stdin` (SOPS).", ""]

    def block(title: str, *cmd: str) -> None:
        out.extend([f"## {title}", "", "```sh", *cmd, "```", ""])

    tok = names.token_secret(a)
    rns, jns = c.runner_namespace, c.jobs_namespace
    if g.registration_token is not None:
        block(f"`{tok}` in `{rns}` (legacy registration token; the chart needs both keys)",
              f"{kubectl} -n {rns} create secret generic {tok} \\",
              "  --from-literal=runner-token= \\",
              f"  --from-literal=runner-registration-token={_secret_shell(g.registration_token, 'REG_TOKEN')} \\",
              f"  --dry-run=client -o yaml | {kubectl} apply -f -")
    else:
        if g.create_runner is not None:
            cr = g.create_runner
            where = {"instance_type": "the Admin area", "group_type": f"group {cr.group_id}",
                     "project_type": f"project {cr.project_id}"}.get(cr.runner_type, cr.runner_type)
            out.extend([f"The answers create the runner through the API (`gitlab.create_runner`); with GitOps, "
                        f"create it in GitLab first, in {where} (tags: {', '.join(cr.tags) or 'none'}; run "
                        f"untagged: {str(cr.run_untagged).lower()}), and put its `glrt-` token into "
                        "`RUNNER_TOKEN`.", ""])
        block(f"`{tok}` in `{rns}` (runner authentication token; the registration key stays empty)",
              f"{kubectl} -n {rns} create secret generic {tok} \\",
              f"  --from-literal=runner-token={_secret_shell(g.token, 'RUNNER_TOKEN')} \\",
              "  --from-literal=runner-registration-token= \\",
              f"  --dry-run=client -o yaml | {kubectl} apply -f -")
    for i, reg in enumerate(a.registries):
        if not reg.needs_pull_secret:
            continue
        block(f"`{names.pull_secret(a, reg)}` in `{jns}` (pull secret for `{reg.host}`, registries[{i}])",
              f"{kubectl} -n {jns} create secret docker-registry {names.pull_secret(a, reg)} \\",
              f"  --docker-server={shlex.quote(reg.host)} \\",
              f"  --docker-username={_value_shell(reg.username, 'REGISTRY_USERNAME')} \\",
              f"  --docker-password={_value_shell(reg.password, 'REGISTRY_PASSWORD')} \\",
              f"  --dry-run=client -o yaml | {kubectl} apply -f -")
    for obj in left_out:
        meta = obj["metadata"]
        if meta["name"] == names.ca_secret(a):
            block(f"`{meta['name']}` in `{meta['namespace']}` (the GitLab CA was not readable when rendering)",
                  f"{kubectl} -n {meta['namespace']} create secret generic {meta['name']} \\",
                  f"  --from-file={g.ca_key}=gitlab-ca.pem \\",
                  f"  --dry-run=client -o yaml | {kubectl} apply -f -")
    return "\n".join(out).rstrip("\n") + "\n"


def readme_md(r: Rendered, engine: Engine, files: list[str], chart: ChartSource, argocd_namespace: str) -> str:
    a = r.answers
    rel = a.runner.release_name
    out = [f"# GitLab Runner `{rel}` for {'Flux' if engine == 'flux' else 'Argo CD'}", "", HEADER, "",
           "1. Create the Secrets listed in `SECRETS.md` (they are never part of this folder).",
           "2. Commit this folder to the Git repository the engine watches."]
    c = a.cluster
    if not c.create_namespaces:
        nss = " and ".join(f"`{n}`" for n in dict.fromkeys([c.runner_namespace, c.jobs_namespace]))
        out[-2:-2] = [f"0. Make sure {nss} exist: the answers say `create_namespaces: false`, so this folder "
                      "does not create them."]
    if engine == "flux":
        src = "OCIRepository" if chart.kind == "oci" else "HelmRepository"
        out += ["3. Point a Flux `Kustomization` at the folder, for example:", "", "```yaml",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1", "kind: Kustomization", "metadata:",
                f"  name: {rel}", "  namespace: flux-system", "spec:", f"  interval: {FLUX_INTERVAL}",
                "  path: ./PATH/TO/THIS/FOLDER", "  prune: true",
                "  sourceRef:", "    kind: GitRepository", "    name: flux-system", "```", "",
                "Order: `kustomization.yaml` lists the wizard's objects (`manifests.yaml`) first; Flux applies "
                f"namespaces first and everything else in one server-side apply, so the Role, bindings, "
                f"ServiceAccounts and CA Secrets exist before the `HelmRelease` (chart `{chart.chart}` "
                f"{chart.version} from the `{src}`) installs the chart.", ""]
    else:
        out += ["3. Let Argo CD sync the folder, for example with this parent Application "
                f"(Applications live in the `{argocd_namespace}` namespace):", "", "```yaml",
                "apiVersion: argoproj.io/v1alpha1", "kind: Application", "metadata:",
                f"  name: {rel}-base", f"  namespace: {argocd_namespace}", "spec:", "  project: default",
                "  source:", "    repoURL: https://GIT.EXAMPLE/YOUR/REPO.git", "    targetRevision: HEAD",
                "    path: PATH/TO/THIS/FOLDER", "  destination:",
                "    server: https://kubernetes.default.svc", f"    namespace: {argocd_namespace}",
                "  syncPolicy:", "    automated: {prune: true, selfHeal: true}", "```", "",
                f"Order: the wizard's objects (`manifests.yaml`) carry `{SYNC_WAVE}: \"-1\"`, the chart's "
                f"`Application` (`application.yaml`, chart `{chart.chart}` {chart.version}) wave `\"0\"`, "
                "so the Role, bindings, ServiceAccounts and CA Secrets exist before the chart is installed."]
        if chart.kind == "oci":
            out += ["", f"The chart is in an OCI registry: register `{chart.oci_repo}` in Argo CD as a Helm "
                    "repository with `enableOCI: \"true\"` (plus credentials if it is private)."]
        out.append("")
    out += ["Files:", "", *[f"- `{f}`" for f in files], ""]
    return "\n".join(out)


def export(r: Rendered, engine: Engine, chart: ChartSource, *,
           argocd_namespace: str = ARGOCD_NAMESPACE) -> dict[str, str]:
    """Relative path (inside ``gitops-<engine>/``) -> text. Pure."""
    a = r.answers
    if a.cluster.mode != "helm":
        raise BadInput([FieldError("cluster.mode", "a GitOps export installs the Helm chart; with "
                                   "mode: external the manager runs outside the cluster, so there is no "
                                   "release to export (use render without --gitops)")])
    own, left_out = _own_objects(r)
    files: dict[str, str] = {}
    head = "# " + HEADER + "\n"
    if engine == "flux":
        source, release = flux_objects(r, chart)
        src_file = "ocirepository.yaml" if chart.kind == "oci" else "helmrepository.yaml"
        files["manifests.yaml"] = head + dump_yaml_all(own)
        files[src_file] = head + dump_yaml(source)
        files["helmrelease.yaml"] = head + dump_yaml(release)
        files["kustomization.yaml"] = head + dump_yaml({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["manifests.yaml", src_file, "helmrelease.yaml"]})
    elif engine == "argocd":
        for obj in own:
            obj["metadata"].setdefault("annotations", {})[SYNC_WAVE] = "-1"
        files["manifests.yaml"] = head + dump_yaml_all(own)
        files["application.yaml"] = head + dump_yaml(argocd_application(r, chart, namespace=argocd_namespace))
    else:  # pragma: no cover - argparse restricts the choice
        raise BadInput([FieldError("--gitops", f"{engine}: choose one of {', '.join(ENGINES)}")])
    files["SECRETS.md"] = secrets_md(r, left_out)
    files["README.md"] = readme_md(r, engine, sorted([*files, "README.md"]), chart, argocd_namespace)
    return {k: files[k] for k in sorted(files)}


# --------------------------------------------------------------------------- several clusters

GIT_REPO_PLACEHOLDER = "https://git.example.com/YOUR/REPO.git"
GIT_PATH_PLACEHOLDER = "PATH/TO/gitops-argocd"


def folder_names(contexts: list[str]) -> list[str]:
    """A DNS-label-like folder (and Argo CD Application suffix) per context, unique."""
    import re

    out: list[str] = []
    for ctx in contexts:
        base = re.sub(r"[^a-z0-9-]+", "-", ctx.lower()).strip("-")[:40].strip("-") or "cluster"
        name, n = base, 2
        while name in out:
            name, n = f"{base}-{n}", n + 1
        out.append(name)
    return out


def argocd_applicationset(members: list[tuple[str, str, Rendered, ChartSource]], *,
                          namespace: str = ARGOCD_NAMESPACE) -> dict:
    """One ApplicationSet for every cluster: a list generator with an element per cluster
    (destination cluster, namespaces, chart version, the cluster's values as YAML) and a template
    with two sources, the chart and the cluster's folder of the wizard's objects (sync wave -1)."""
    from .render import dump_yaml as _dump

    first = members[0][2].answers
    chart = members[0][3]
    rel = first.runner.release_name
    elements = [{"cluster": ctx, "name": name, "namespace": r.answers.cluster.runner_namespace,
                 "releaseName": r.answers.runner.release_name, "chartVersion": ch.version,
                 "values": _dump(r.values)} for ctx, name, r, ch in members]
    meta = _meta(first, rel, namespace)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": meta,
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": "{{.releaseName}}-{{.name}}", "namespace": namespace,
                             "labels": names.labels(first, "gitops"),
                             "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": "default",
                    "sources": [
                        {"repoURL": chart.oci_repo if chart.kind == "oci" else chart.url, "chart": chart.chart,
                         "targetRevision": "{{.chartVersion}}",
                         "helm": {"releaseName": "{{.releaseName}}", "values": "{{.values}}"}},
                        {"repoURL": GIT_REPO_PLACEHOLDER, "targetRevision": "HEAD",
                         "path": GIT_PATH_PLACEHOLDER + "/clusters/{{.name}}"},
                    ],
                    "destination": {"name": "{{.cluster}}", "namespace": "{{.namespace}}"},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                },
            },
        },
    }


def export_fleet(members: list[tuple[str, Rendered, ChartSource]], engine: Engine, *,
                 argocd_namespace: str = ARGOCD_NAMESPACE) -> dict[str, str]:
    """Several clusters (context, rendered answers, chart) -> relative path -> text. Pure.

    Flux: ``clusters/<name>/`` holds each cluster's own export (its HelmRelease, source and
    manifests; one Flux per cluster points at its folder). Argo CD: one ``applicationset.yaml``
    and ``clusters/<name>/`` with each cluster's objects (wave -1) and its ``SECRETS.md``."""
    folders = folder_names([ctx for ctx, _, _ in members])
    files: dict[str, str] = {}
    for (ctx, r, chart), name in zip(members, folders):
        one = export(r, engine, chart, argocd_namespace=argocd_namespace)
        for rel, text in one.items():
            if engine == "argocd" and rel in ("application.yaml", "README.md"):
                continue
            files[f"clusters/{name}/{rel}"] = text
    head = "# " + HEADER + "\n"
    listing = [f"- `{ctx}` → `clusters/{name}/`" for (ctx, _, _), name in zip(members, folders)]
    if engine == "argocd":
        appset = argocd_applicationset([(ctx, name, r, ch) for (ctx, r, ch), name in zip(members, folders)],
                                       namespace=argocd_namespace)
        files["applicationset.yaml"] = head + dump_yaml(appset)
        text = ["# GitLab Runner on several clusters with Argo CD", "", HEADER, "",
                "1. Create, in every cluster, the Secrets its `clusters/<name>/SECRETS.md` lists.",
                "2. Register each cluster in Argo CD under its kubeconfig context name (`argocd cluster add "
                "CONTEXT` does); the ApplicationSet's destination is `name: <context>`.",
                f"3. Commit this folder and, in `applicationset.yaml`, replace `{GIT_REPO_PLACEHOLDER}` and "
                f"`{GIT_PATH_PLACEHOLDER}` with the repository and the folder's path in it.",
                f"4. Apply `applicationset.yaml` in the `{argocd_namespace}` namespace. It makes one Application "
                "per cluster with two sources: the chart with that cluster's values, and the cluster's folder "
                f"of the wizard's objects, which carry `{SYNC_WAVE}: \"-1\"` so they exist before the chart.",
                "", "Clusters:", "", *listing, ""]
    else:
        text = ["# GitLab Runner on several clusters with Flux", "", HEADER, "",
                "Each cluster has its own folder, a complete export for that cluster (HelmRelease, chart "
                "source, the wizard's objects, `kustomization.yaml`, `SECRETS.md`, `README.md`). Point the "
                "Flux `Kustomization` of each cluster at its folder.", "", "Clusters:", "", *listing, ""]
    files["README.md"] = "\n".join(text)
    return {k: files[k] for k in sorted(files)}


def objects(files: dict[str, str]) -> list[dict]:
    """Every Kubernetes object of an export, in apply order (tests dry-run these)."""
    import yaml

    order = ["manifests.yaml", "helmrepository.yaml", "ocirepository.yaml", "helmrelease.yaml", "application.yaml",
             "applicationset.yaml"]
    out = [d for f in order if f in files for d in yaml.safe_load_all(files[f]) if d]
    for folder in sorted({f.rsplit("/", 1)[0] + "/" for f in files if f.startswith("clusters/")}):
        out += objects({f.removeprefix(folder): t for f, t in files.items() if f.startswith(folder)})
    return out


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write the export into ``out_dir`` (created), each file atomically; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in files.items():
        written.append(write_atomic(out_dir / rel, text))  # clusters/<name>/ of a fleet export is created
    return written
