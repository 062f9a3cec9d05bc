"""Text for people: the smoke-test pipeline and NEXT-STEPS.md."""

from __future__ import annotations

import shlex
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


def build_next_steps(a: Answers, rendered_files: dict[str, str], *, ca_pem: str | None,
                     runtimes: list[str]) -> str:
    c, r, g = a.cluster, a.runner, a.gitlab
    rns, jns = c.runner_namespace, c.jobs_namespace
    out: list[str] = [f"# Next steps: GitLab Runner {r.name!s} on Kubernetes", "",
                      f"{HEADER} Run the commands in order, from this folder.", ""]
    n = 0

    def step(title: str, *body: str) -> None:
        nonlocal n
        n += 1
        out.append(f"## {n}. {title}")
        out.append("")
        out.extend(body)
        out.append("")

    def sh(*cmds: str) -> str:
        return "```sh\n" + "\n".join(cmds) + "\n```"

    ctx = f" --context {shlex.quote(c.context)}" if c.context else ""
    manifests_step = 0
    kubectl = f"kubectl{ctx}"

    # nodes
    node_dirs = [rt for rt in runtimes if f"nodes/{rt}/install.sh" in rendered_files]
    if node_dirs:
        which = (f"`nodes/{node_dirs[0]}/`" if len(node_dirs) == 1 else
                 " or ".join(f"`nodes/{rt}/`" for rt in node_dirs) +
                 " (the runtime was not known when rendering: use the folder that matches "
                 "`kubectl get nodes -o wide`, column CONTAINER-RUNTIME)")
        body = [f"Image pulls are done by the node's container runtime, not by the runner, so every node "
                f"that can run job pods needs the registry settings in {which}.",
                "Copy the folder to each node and run its script as root:", "",
                sh(f"scp -r nodes/{node_dirs[0]} root@NODE:/tmp/runner-wizard-nodes",
                   "ssh root@NODE bash /tmp/runner-wizard-nodes/install.sh")]
        cred = [(i, reg) for i, reg in enumerate(a.registries) if reg.needs_node_credentials]
        if cred:
            body += ["", "The script writes registry credentials for the kubelet into "
                     "`/var/lib/kubelet/config.json` (mode 0600); it reads them from these environment "
                     "variables on the node, so pass them through ssh, e.g. `ssh root@NODE env VAR=... bash ...`:",
                     ""]
            for i, reg in cred:
                for what in ("username", "password"):
                    _, var = secret_shell_var(reg, i, what)
                    if var:
                        body.append(f"- `{var}`: registries[{i}].{what} ({reg.host})")
        step("Prepare the nodes (registries)", *body)

    # manifests
    body = ["Namespaces, ServiceAccounts, the manager's Role and RoleBinding"
            + (" and the GitLab CA Secrets" if g.ca else "") + ". No secret in this file.", "",
            sh(f"{kubectl} apply --server-side --field-manager=runner-wizard -f manifests.yaml")]
    if not c.create_namespaces:
        body += ["", f"The namespaces are not created by the wizard (`create_namespaces: false`): "
                 f"`{rns}`" + (f" and `{jns}`" if jns != rns else "") + " must exist first."]
        if needs_privileged_psa(a):
            body += ["", f"Job pods are privileged or mount the Docker socket, so `{jns}` must allow them:", "",
                     sh(f"{kubectl} label namespace {jns} {PSA_ENFORCE}=privileged --overwrite")]
    if g.ca and ca_pem is None:
        body += ["", f"The GitLab CA was not available when rendering, so the Secret `{names.ca_secret(a)}` "
                 "has no data. Fill it from the CA file (in each namespace listed in manifests.yaml):", "",
                 sh(*(f"{kubectl} -n {ns} create secret generic {names.ca_secret(a)} "
                    f"--from-file={ca_secret_key(a)}=gitlab-ca.pem --dry-run=client -o yaml | "
                    f"{kubectl} apply -f -" for ns in dict.fromkeys([rns, jns])))]
    step("Apply the Kubernetes objects", *body)
    manifests_step = n

    # secrets
    pulls = [(i, reg) for i, reg in enumerate(a.registries) if reg.needs_pull_secret]
    if c.mode == "helm" or pulls:
        body = ["Secrets never touch the disk here: each command reads the value from the environment "
                "(or the file the answers name) and pipes the object to the cluster.",
                "Alternatively `runner-wizard render --with-secrets` writes them to `secrets.yaml` "
                "(mode 0600): apply it with `kubectl apply --server-side -f secrets.yaml`, then delete it.", ""]
        if c.mode == "helm":
            tok = names.token_secret(a)
            if g.registration_token is not None:
                body += [f"Legacy registration token (deprecated; GitLab 17.0+ refuses it unless an admin "
                         f"re-enabled registration tokens). The chart needs both keys in `{tok}`:", "",
                         sh(f"{kubectl} -n {rns} create secret generic {tok} \\",
                            "  --from-literal=runner-token= \\",
                            f"  --from-literal=runner-registration-token="
                            f"{_secret_shell(g.registration_token, 'REGISTRATION_TOKEN')} \\",
                            f"  --dry-run=client -o yaml | {kubectl} apply -f -")]
            else:
                if g.create_runner is not None:
                    cr = g.create_runner
                    where = {"instance_type": "the Admin area", "group_type": f"group {cr.group_id}",
                             "project_type": f"project {cr.project_id}"}[cr.runner_type]
                    body += [f"`runner-wizard apply` creates the runner in {where} (tags: "
                             f"{', '.join(cr.tags) or 'none'}; run untagged: {str(cr.run_untagged).lower()}) "
                             f"and this Secret. To do it by hand, create the runner in GitLab with those "
                             f"settings, copy its `glrt-` token into `RUNNER_TOKEN`, then:", ""]
                body += [f"The chart reads the token from Secret `{tok}`, which must hold both keys "
                         "(the registration key empty):", "",
                         sh(f"{kubectl} -n {rns} create secret generic {tok} \\",
                            f"  --from-literal=runner-token={_secret_shell(g.token, 'RUNNER_TOKEN')} \\",
                            "  --from-literal=runner-registration-token= \\",
                            f"  --dry-run=client -o yaml | {kubectl} apply -f -")]
        for i, reg in pulls:
            body += ["", f"Pull secret for `{reg.host}` (registries[{i}]), used by job pods through "
                     "`image_pull_secrets`:", "",
                     sh(f"{kubectl} -n {jns} create secret docker-registry {names.pull_secret(a, reg)} \\",
                        f"  --docker-server={shlex.quote(reg.host)} \\",
                        f"  --docker-username={_secret_shell(reg.username, 'REGISTRY_USERNAME')} \\",
                        f"  --docker-password={_secret_shell(reg.password, 'REGISTRY_PASSWORD')} \\",
                        f"  --dry-run=client -o yaml | {kubectl} apply -f -")]
        step("Create the Secrets", *body)

    if c.mode == "helm":
        kube = f" --kube-context {shlex.quote(c.context)}" if c.context else ""
        step("Install or upgrade the Helm release",
             sh(f"helm repo add gitlab {CHART_REPO}",
                "helm repo update gitlab",
                f"helm upgrade --install {r.release_name} {CHART_NAME} --version {r.chart_version} "
                f"--namespace {rns}{kube} -f values.yaml"),
             "",
             "`values.yaml` sets `rbac.create: false` and `serviceAccount.create: false`: the wizard's own "
             f"minimal Role and ServiceAccount from step {manifests_step} are used instead of the chart's wildcard Role.")
        body = [sh(f"{kubectl} -n {rns} rollout status deploy/{names.deployment(a)} --timeout=5m",
                   f"{kubectl} -n {rns} logs deploy/{names.deployment(a)} --tail=30")]
        body += ["", "The log should show `Runner registered successfully` and then `Checking for jobs`; "
                 "`runner-wizard check --answers ANSWERS` re-runs every check."]
        if g.token is not None:
            body += ["", "`unregisterRunners: true` runs `unregister` on every pod stop. That is right for a "
                     "`glrt-` token (it removes only this pod's runner manager); with any other token it "
                     "deletes the whole runner, so set `unregisterRunners: false` in that case."]
        step("Verify the manager", *body)
    else:
        steps_body = [
            "The manager runs on a VM, outside the cluster. It reaches the Kubernetes API with the "
            f"ServiceAccount `{rns}/{c.manager_service_account}`, whose only rights are the Role in `{jns}`.",
            "",
            "Design: `config.template.toml` leaves `host`/`bearer_token` unset, so the runner falls back to "
            f"the kubeconfig named by `KUBECONFIG` (`{EXTERNAL_KUBECONFIG}`, set by the systemd drop-in). "
            f"That kubeconfig reads the token from `tokenFile: {EXTERNAL_KUBE_TOKEN}`; Runner 18.9 has no "
            "`bearer_token_file`, and an inline `bearer_token` would put the token in config.toml.",
            "",
        ]
        if "external/kubernetes-ca.crt" not in rendered_files:
            steps_body += ["Save the cluster CA (from your admin kubeconfig) next to the script:", "",
                           sh(f"{kubectl} config view --minify --raw "
                              "-o jsonpath='{.clusters[0].cluster.certificate-authority-data}' "
                              "| base64 -d > external/kubernetes-ca.crt"), ""]
        if API_SERVER_PLACEHOLDER in rendered_files.get("external/kubeconfig", ""):
            steps_body += ["Put the API server URL into `external/kubeconfig` (it must be an address the "
                           "API server certificate covers):", "",
                           sh(f"server=\"$({kubectl} config view --minify -o jsonpath='{{.clusters[0].cluster.server}}')\"",
                              f"sed -i \"s|{API_SERVER_PLACEHOLDER}|$server|\" external/kubeconfig"), ""]
        steps_body += ["Copy the ServiceAccount token straight to the VM (the token controller filled "
                       f"Secret `{names.external_token_secret(a)}` in step {manifests_step}):", "",
                       sh(f"{kubectl} -n {rns} get secret {names.external_token_secret(a)} "
                          "-o jsonpath='{.data.token}' | base64 -d | \\",
                          f"  ssh root@RUNNER-VM 'install -d -m 0700 {EXTERNAL_DIR} && umask 077 && "
                          f"cat > {EXTERNAL_KUBE_TOKEN}'"), ""]
        var, _ = token_env(g.registration_token if g.registration_token is not None else g.token,
                            "RUNNER_TOKEN")
        tokwhere = ("Create the runner in GitLab first (`runner-wizard apply` does it), then put its "
                    "`glrt-` token" if g.create_runner else "Put the runner token")
        steps_body += [f"{tokwhere} in `{var}` on the VM and run the script; `gitlab-runner register` reads "
                       "it from the environment and writes it into config.toml (mode 0600) only there:", "",
                       sh("scp -r config.toml config.template.toml external root@RUNNER-VM:/tmp/runner-wizard/",
                          "ssh -t root@RUNNER-VM",
                          f"read -rs -p 'runner token: ' {var}; export {var}   # on the VM, in bash",
                          "bash /tmp/runner-wizard/external/install.sh")]
        step("Install the manager on the VM", *steps_body)
    step("Run the smoke test",
         "Commit `smoke-test.gitlab-ci.yml` as `.gitlab-ci.yml` in a test project the runner serves and run "
         "a pipeline. Watch the job pod appear:", "",
         sh(f"{kubectl} -n {jns} get pods -w"))

    notes = []
    warning = chart.version_warning(r.chart_version) if a.cluster.mode == "helm" else None
    if warning:
        notes.append(warning[0].upper() + warning[1:] + ".")
    if not fully_qualified(r.job_image):
        notes.append(f"`{r.job_image}` has no registry host: CRI-O refuses short names unless the node "
                         "defines unqualified-search-registries. Use a full name such as "
                         "docker.io/library/alpine:3.22.")
    if r.docker_builds == "dind":
        notes.append("docker-in-docker needs privileged job pods: the jobs namespace enforces the "
                     "`privileged` Pod Security level. Prefer a daemonless builder (BuildKit rootless, "
                     "kaniko, buildah) when you can.")
    if g.ca and v_is_ip(g.host):
        notes.append(f"GitLab is reached by IP address: its certificate must list {g.host} as an IP SAN "
                     "(the runner is written in Go, which ignores the Common Name); no setting such as "
                     "`tls_server_name` exists to check another name.")
    if g.ca:
        notes.append(f"The GitLab CA is in Secret `{names.ca_secret(a)}` under key `{ca_secret_key(a)}` "
                     "(the file name the runner looks for); job pods get it read-only in "
                     f"`{CERTS_DIR_JOBS}` for scripts that call other hosts signed by the same CA.")
    if notes:
        out.append("## Notes")
        out.append("")
        out.extend(f"- {x}" for x in notes)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"

