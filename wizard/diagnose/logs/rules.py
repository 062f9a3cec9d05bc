"""The rule table: one :class:`~.base.LogRule` row per failure-catalog log signature, each with
tested examples, and the benign (catalog 1b) lines. Data, with a few small predicates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wizard.results import Status
from .base import BenignRule, LogRule, MatchContext


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives))


_FORBIDDEN_SA = (
    r"(?P<kind>[\w.]+)(?: \"(?P<obj>[^\"]*)\")? is forbidden: "
    r"User \"system:serviceaccount:(?P<ns>[^:\"]+):(?P<sa>[^\"]+)\" "
    r"cannot (?P<verb>\w+) resource \"(?P<r>[^\"]+)\"(?: in API group \"[^\"]*\")? "
    r"in the namespace \"(?P<jobns>[^\"]+)\""
)

_TOP_LEVEL_RESOURCES = frozenset({"secrets", "pods", "configmaps", "persistentvolumeclaims"})


def _non_default_same_ns_or_subresource(g: Mapping[str, str], _c: MatchContext) -> bool:
    if g.get("sa") == "default":
        return False
    return g.get("r") not in _TOP_LEVEL_RESOURCES or g.get("ns") == g.get("jobns")


def _non_default_cross_ns(g: Mapping[str, str], _c: MatchContext) -> bool:
    return (
        g.get("sa") != "default"
        and g.get("r") in _TOP_LEVEL_RESOURCES
        and g.get("ns") != g.get("jobns")
    )


def _clone_host_differs(g: Mapping[str, str], c: MatchContext) -> bool:
    host = g.get("hostname")
    return bool(c.gitlab_host and host and host.lower() != c.gitlab_host.lower())


_PULL_PREFIX = r"(?:Failed to pull image|pulling image|failed to pull and unpack image|Back-off pulling image)"

# fmt: off
RULES: tuple[LogRule, ...] = (
    # ---------------------------------------------------------------- RBAC
    LogRule(
        catalog="E01", sources=("J", "M", "JE"),
        pattern=re.compile(
            r"(?P<kind>[\w.]+)(?: \"[^\"]*\")? is forbidden: User \"system:serviceaccount:(?P<ns>[^:\"]+):(?P<sa>default)\" "
            r"cannot (?P<verb>\w+) resource \"(?P<r>[^\"]+)\"(?: in API group \"[^\"]*\")? in the namespace \"(?P<jobns>[^\"]+)\""
        ),
        needles=(':default" cannot',),
        title="Runner uses the namespace's default ServiceAccount, which has no RBAC rights",
        detail="system:serviceaccount:{ns}:default cannot {verb} {r} in namespace {jobns}",
        fix="Set rbac.create: true and serviceAccount.create: true in the chart values so the manager stops "
            "running as system:serviceaccount:{ns}:default, which cannot {verb} {r} in namespace {jobns}.",
        confirm=("rbac.manager", "cluster.dryrun.jobpod"),
        key=("ns", "jobns"), specificity=30,
        examples=(
            'ERROR: Job failed (system failure): prepare environment: setting up credentials: secrets is forbidden: '
            'User "system:serviceaccount:cicd:default" cannot create resource "secrets" in API group "" in the namespace "cicd"',
        ),
    ),
    LogRule(
        catalog="E11", sources=("J", "M", "JE"),
        pattern=re.compile(_FORBIDDEN_SA), when=_non_default_same_ns_or_subresource,
        needles=("is forbidden: User \"system:serviceaccount:",),
        title="The runner's Role is missing a permission (sub-resource or verb)",
        detail="system:serviceaccount:{ns}:{sa} cannot {verb} {r} in namespace {jobns}",
        fix="Add {r} ({verb}) to the Role bound to system:serviceaccount:{ns}:{sa} in namespace {jobns}.",
        confirm=("rbac.manager",),
        key=("ns", "sa", "jobns", "r", "verb"), specificity=10,
        examples=(
            'pods "runner-abc-project-1-concurrent-0" is forbidden: User "system:serviceaccount:ci-system:gitlab-runner" '
            'cannot create resource "pods/attach" in API group "" in the namespace "ci-jobs"',
        ),
    ),
    LogRule(
        catalog="E11", variant="informers", sources=("M",), level=Status.WARN,
        pattern=re.compile(r"won't use informers:.*?not allowed: (?P<verb>list|watch) on (?P<r>pods)"),
        needles=("won't use informers",),
        title="RBAC lacks pods list/watch; the runner falls back to polling",
        fix="Add pods (list, watch) to the Role bound to the runner's ServiceAccount so it can use informers.",
        confirm=("rbac.manager",),
        examples=('WARNING: won\'t use informers: "not allowed: list on pods"',),
    ),
    LogRule(
        catalog="E17", sources=("J", "M"),
        pattern=re.compile(_FORBIDDEN_SA), when=_non_default_cross_ns,
        needles=("is forbidden: User \"system:serviceaccount:",),
        title="RBAC exists for the runner but not in the namespace jobs run in",
        detail="system:serviceaccount:{ns}:{sa} cannot {verb} {r} in namespace {jobns}",
        fix="Create a Role granting {r} ({verb}) in namespace {jobns} and a RoleBinding there to "
            "system:serviceaccount:{ns}:{sa} (with rbac.create: true, set runners.jobNamespace: {jobns} so the chart "
            "does it).",
        confirm=("rbac.manager",),
        key=("ns", "sa", "jobns", "r", "verb"), specificity=10,
        examples=(
            'secrets is forbidden: User "system:serviceaccount:ci-system:gitlab-runner" cannot create resource '
            '"secrets" in the namespace "ci-jobs"',
        ),
    ),
    LogRule(
        catalog="E17", variant="cluster-scope", sources=("J", "M"),
        pattern=re.compile(
            r"is forbidden: User \"system:serviceaccount:(?P<ns>[^:\"]+):(?P<sa>[^\"]+)\" cannot (?P<verb>\w+) "
            r"resource \"(?P<r>namespaces)\"(?: in API group \"[^\"]*\")? at the cluster scope"
        ),
        needles=("at the cluster scope",),
        title="namespace_per_job needs cluster-scope namespace rights",
        fix="Set rbac.clusterWideAccess: true (or bind a ClusterRole with namespaces create/delete) for "
            "system:serviceaccount:{ns}:{sa}, or turn off namespace_per_job.",
        confirm=("rbac.manager",), specificity=20,
        examples=('namespaces is forbidden: User "system:serviceaccount:ci:gitlab-runner" cannot create resource '
                  '"namespaces" in API group "" at the cluster scope',),
    ),
    LogRule(
        catalog="E17", variant="overwrite", sources=("J",),
        pattern=re.compile(r"provided value \"(?P<v>[^\"]*)\" does not match \"(?P<re>[^\"]*)\""),
        needles=("does not match",),
        title="A job overwrite (namespace, service account, ...) is not allowed by the runner",
        fix="Widen the matching *_overwrite_allowed regex in [runners.kubernetes] (now \"{re}\") or stop the job "
            "from requesting \"{v}\".",
        confirm=("values.lint",), key=("re",),
        examples=('ERROR: Preparation failed: namespace overwrite: provided value "team-b" does not match "team-a"',),
    ),
    LogRule(
        catalog="E20", sources=("J", "M"),
        pattern=_rx(
            r"is forbidden: User \"system:anonymous\" cannot (?P<verb>\w+) resource \"(?P<res>[^\"]+)\"",
            r"(?:Job failed \(system failure\)|Preparation failed): (?:prepare environment: )?(?:[\w ]+: )?Unauthorized",
            r"the server has asked for the client to provide credentials",
        ),
        needles=("system:anonymous", "Unauthorized", "provide credentials"),
        title="The runner reaches the Kubernetes API without valid credentials",
        fix="Set bearer_token in [runners.kubernetes] to a valid, non-expiring ServiceAccount token (a "
            "kubernetes.io/service-account-token Secret, since Kubernetes 1.24 no longer creates one), or run the "
            "runner inside the cluster.",
        confirm=("kapi.auth",), specificity=15,
        examples=(
            'ERROR: Job failed (system failure): prepare environment: setting up credentials: secrets is forbidden: '
            'User "system:anonymous" cannot create resource "secrets" in API group "" in the namespace "default"',
            "ERROR: Job failed (system failure): prepare environment: setting up credentials: Unauthorized. "
            "Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-loading for more information",
        ),
    ),
    # ---------------------------------------------------------------- TLS to GitLab
    LogRule(
        catalog="E02", sources=("M",), related=("E03",),
        pattern=_rx(
            r"(?:Registering|Verifying) runner\.\.\. failed.*status=(?:.*?https?://(?P<host>[^/ \"]+))?"
            r".*x509: certificate signed by unknown authority",
            r"couldn't execute POST against https?://(?P<host2>[^/ ]+)/api/v4/(?:runners|runners/verify|jobs/request)"
            r".*x509: certificate signed by unknown authority",
        ),
        needles=("x509: certificate signed by unknown authority",),
        title="Manager does not trust GitLab's TLS certificate",
        detail="TLS to {host} failed: certificate signed by unknown authority",
        fix="Create a Secret in the release namespace whose key is exactly {hostname}.crt (port stripped, PEM CA "
            "chain incl. intermediates) and set certsSecretName to it; if certsSecretName is already set, rename "
            "its key, because ca.crt and *.pem keys are ignored.",
        confirm=("tls.gitlab", "cluster.secret.ca"),
        key=("hostname",), specificity=10,
        examples=(
            'ERROR: Verifying runner... failed                  runner=Xy12abCd status=couldn\'t execute POST against '
            'https://10.1.2.3:8929/api/v4/runners/verify: Post "https://10.1.2.3:8929/api/v4/runners/verify": tls: '
            'failed to verify certificate: x509: certificate signed by unknown authority',
        ),
    ),
    LogRule(
        catalog="E04", sources=("M", "J"),
        pattern=re.compile(r"x509: certificate is valid for (?P<valid>.+?), not (?P<asked>[^\s\"]+)"),
        needles=("x509: certificate is valid for",),
        title="GitLab's certificate does not cover the host name used",
        detail="certificate is valid for {valid}, not {asked}",
        fix="Point gitlabUrl at a name the certificate covers ({valid}) or reissue the certificate with a SAN for "
            "{asked}; adding CA files does not fix a name mismatch.",
        confirm=("tls.gitlab",), key=("asked",), specificity=10,
        examples=('ERROR: Registering runner... failed runner=GR13489 status=couldn\'t execute POST against '
                  'https://gitlab.example.com/api/v4/runners: Post "https://gitlab.example.com/api/v4/runners": '
                  'x509: certificate is valid for ingress.local, not gitlab.example.com',),
    ),
    LogRule(
        catalog="E04", variant="ip-san", sources=("M", "J"),
        pattern=re.compile(r"x509: cannot validate certificate for (?P<ip>[0-9a-fA-F.:]+) because it doesn't contain any IP SANs"),
        needles=("doesn't contain any IP SANs",),
        title="gitlabUrl is an IP address but GitLab's certificate has no IP SAN",
        fix="Reissue GitLab's certificate with an IP SAN for {ip}, or set gitlabUrl to a DNS name the certificate "
            "covers (the CA key then becomes <that-name>.crt).",
        confirm=("tls.gitlab",), key=("ip",), specificity=10,
        examples=('x509: cannot validate certificate for 10.0.0.5 because it doesn\'t contain any IP SANs',),
    ),
    LogRule(
        catalog="E04", variant="cn-only", sources=("M", "J"),
        pattern=re.compile(r"x509: certificate relies on legacy Common Name field"),
        needles=("legacy Common Name field",),
        title="GitLab's certificate has only a Common Name, no SAN",
        fix="Reissue GitLab's certificate with the host name in subjectAltName; Go has ignored the Common Name "
            "since 1.15.",
        confirm=("tls.gitlab",), specificity=10,
        examples=("x509: certificate relies on legacy Common Name field, use SANs instead",),
    ),
    LogRule(
        catalog="E04", variant="expired", sources=("M", "J"),
        pattern=re.compile(r"x509: certificate has expired or is not yet valid"),
        needles=("x509: certificate has expired",),
        title="GitLab's certificate is expired (or not yet valid)",
        fix="Renew GitLab's TLS certificate, or fix the clock of the node running the manager if the certificate "
            "is in fact current.",
        confirm=("tls.gitlab",), specificity=5,
        examples=("x509: certificate has expired or is not yet valid: current time 2025-01-01T00:00:00Z is after "
                  "2024-12-31T00:00:00Z",),
    ),
    LogRule(
        catalog="E19", sources=("J", "M"),
        pattern=re.compile(
            r"(?:setting up credentials|setting up build pod|waiting for pod running|getting Kubernetes config)?"
            r":? ?(?:Post|Get|Delete|Patch) \"https://(?P<api>[^/\"]+)/api/v1/.*x509: "
            r"(?:certificate signed by unknown authority|certificate is valid for .+, not \S+|cannot validate "
            r"certificate for \S+ because it doesn't contain any IP SANs|certificate has expired)"
        ),
        needles=("/api/v1/",),
        title="Runner outside the cluster cannot verify the Kubernetes API server certificate",
        detail="TLS to the API server {api} failed",
        fix="Set ca_file in [runners.kubernetes] to the cluster CA (certificate-authority-data of the kubeconfig) "
            "and use an API address ({api}) that is in the apiserver certificate's SANs.",
        confirm=("kapi.tls",), key=("api",), specificity=20,
        examples=('ERROR: Job failed (system failure): prepare environment: setting up credentials: Post '
                  '"https://192.168.61.139:6443/api/v1/namespaces/default/secrets": x509: certificate signed by '
                  'unknown authority. Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-loading '
                  'for more information',),
    ),
    # ---------------------------------------------------------------- tokens
    LogRule(
        catalog="E06", sources=("M",),
        pattern=_rx(
            r"Registering runner\.\.\. forbidden \(check registration token\)",
            r"Registering runner\.\.\. (?:failed|forbidden).*410 Gone",
        ),
        needles=("check registration token", "410 Gone"),
        title="GitLab rejects the registration token",
        fix="Create the runner in GitLab (UI or POST /api/v4/user/runners) and put its authentication token (prefix glrt) in runnerToken "
            "(Secret key runner-token, with runner-registration-token left empty) instead of the registration token.",
        confirm=("gitlab.token",), specificity=10,
        examples=("ERROR: Registering runner... forbidden (check registration token)  runner=GR134894",),
    ),
    LogRule(
        catalog="E07", sources=("M",),
        pattern=_rx(
            r"Checking for jobs\.\.\. forbidden",
            r"Verifying runner\.\.\. (?:is removed|is not valid)",
        ),
        needles=("Checking for jobs... forbidden", "Verifying runner... is"),
        title="GitLab rejects the runner's authentication token (403)",
        fix="Create a new runner in GitLab, put its authentication token (prefix glrt) into the runner-token key of the runner Secret and "
            "restart the manager (the stored token was deleted, reset or has expired).",
        confirm=("gitlab.token",), specificity=10,
        examples=("WARNING: Checking for jobs... forbidden              runner=HYErDk_6w status=POST "
                  "https://git.example.com/api/v4/jobs/request: 403 Forbidden",
                  "ERROR: Verifying runner... is not valid              runner=t1_AbCd12",),
    ),
    LogRule(
        catalog="E07", variant="unhealthy", sources=("M",),
        pattern=_rx(
            r"Runner \"?[^\"]*\"? is unhealthy and will be disabled",
            r"Runner https?://\S+ is not healthy and will be disabled",
            r"PANIC: Failed to verify (?:the|this) runner",
        ),
        needles=("will be disabled", "PANIC: Failed to verify"),
        secondary_to=("E02", "E03", "E04", "E06", "E07", "E13", "E29", "E30", "E32"),
        title="Runner disabled after repeated failed requests (likely an invalid token)",
        fix="Check the runner token with the token check; if it is invalid, create a new runner and put its "
            "token into the runner-token key of the runner Secret, then restart the manager.",
        confirm=("gitlab.token",),
        examples=('ERROR: Runner "https://gitlab.example.comt3_TgbhXF" is unhealthy and will be disabled for 1h0m0s '
                  'seconds!  unhealthy_requests=3 unhealthy_requests_limit=3',),
    ),
    LogRule(
        catalog="E13", sources=("M",),
        pattern=re.compile(r"Runner configuration other than name.*is reserved"),
        needles=("is reserved",),
        title="Registration options are not allowed with a runner authentication token",
        fix="Remove runners.tags, runners.locked, runners.runUntagged, runners.protected, runners.maximumTimeout "
            "(and RUNNER_TAG_LIST / REGISTER_* envVars) from the values and set them on the runner in GitLab.",
        confirm=("values.lint", "gitlab.token"), specificity=10,
        examples=("FATAL: Runner configuration other than name and executor configuration is reserved (specifically "
                  "--locked, --access-level, --run-untagged, --maximum-timeout, --paused, --tag-list, and "
                  "--maintenance-note) and cannot be specified when registering with a runner authentication token.",),
    ),
    LogRule(
        catalog="E14", sources=("M",), level=Status.WARN,
        pattern=re.compile(r"You have specified an authentication token in the legacy parameter --registration-token"),
        needles=("legacy parameter --registration-token",),
        title="Authentication token passed as a registration token; tags and other flags are ignored",
        fix="Move the authentication token (prefix glrt) from runnerRegistrationToken (Secret key runner-registration-token) to runnerToken "
            "(Secret key runner-token) and set tags in the GitLab UI.",
        confirm=("gitlab.token", "cluster.secret.token"), specificity=10,
        examples=("WARNING: You have specified an authentication token in the legacy parameter --registration-token. "
                  "This has triggered the 'legacy-compatible registration process' which has resulted in the "
                  "following command line parameters being ignored: --locked, --access-level, --run-untagged, "
                  "--maximum-timeout, --paused, --tag-list, and --maintenance-note.",),
    ),
    LogRule(
        catalog="E32", sources=("M",),
        pattern=re.compile(r"net/http: invalid header field (?:value )?for \"Private-Token\""),
        needles=("invalid header field",),
        title="The runner token in the Secret ends with a newline",
        fix="Recreate the runner Secret without the trailing newline (kubectl create secret generic ... "
            "--from-literal=runner-token=... or echo -n ... | base64).",
        confirm=("cluster.secret.token", "gitlab.token"), specificity=20,
        examples=('ERROR: Verifying runner... failed runner=glrt-abc status=couldn\'t execute POST against '
                  'https://gitlab.example.com/api/v4/runners/verify: net/http: invalid header field value for '
                  '"Private-Token"',),
    ),
    # ---------------------------------------------------------------- manager startup
    LogRule(
        catalog="E15", sources=("ME", "JE", "J"),
        pattern=re.compile(r"MountVolume\.SetUp failed for volume \"(?P<vol>[^\"]+)\" : secret \"(?P<secret>[^\"]+)\" not found"),
        needles=("MountVolume.SetUp failed",),
        title="A Secret mounted by the pod does not exist in the pod's namespace",
        detail="volume {vol} needs Secret {secret}",
        fix="Create Secret {secret} in the namespace of the pod that mounts volume {vol} (the release namespace for "
            "the manager, the job namespace for job pods); Secrets are not shared across namespaces.",
        confirm=("cluster.secret",), key=("secret",), specificity=10,
        examples=('Warning  FailedMount  pod/runner-x1-project-2-concurrent-0  MountVolume.SetUp failed for volume '
                  '"gitlab-ca" : secret "gitlab-ca" not found',),
    ),
    LogRule(
        catalog="E15", variant="key", sources=("ME", "JE", "J"),
        pattern=re.compile(r"MountVolume\.SetUp failed for volume \"(?P<vol>[^\"]+)\" : references non-existent secret key: (?P<key>\S+)"),
        needles=("non-existent secret key",),
        title="A Secret mounted by the pod lacks a required key",
        fix="Add key {key} to the Secret behind volume {vol} (the runner Secret needs both runner-token and "
            "runner-registration-token, the unused one empty).",
        confirm=("cluster.secret",), key=("key",), specificity=10,
        examples=('MountVolume.SetUp failed for volume "projected-secrets" : references non-existent secret key: '
                  'runner-registration-token',),
    ),
    LogRule(
        catalog="E16", sources=("ME", "J", "M"),
        pattern=_rx(
            r"error looking up service account (?P<ns>[^/\s]+)/(?P<sa>[^:]+): serviceaccount \"(?P<sa2>[^\"]+)\" not found",
            r"Timed out while waiting for ServiceAccount/(?P<sa3>\S+) to be present in the cluster",
            r"serviceaccounts? \"(?P<sa4>[^\"]+)\" not found",
            r"couldn't find ImagePullSecret or ServiceAccount",
        ),
        needles=("service account", "ServiceAccount", "serviceaccount"),
        title="A ServiceAccount the runner or its job pods use does not exist",
        detail="ServiceAccount {sa} not found",
        fix="Create ServiceAccount {sa} in the namespace that uses it (or set serviceAccount.create: true / fix "
            "service_account in [runners.kubernetes]) and allow serviceaccounts get in the runner's Role.",
        confirm=("cluster.sa",), key=("sa",), specificity=10,
        examples=('ERROR: Job failed (system failure): prepare environment: setting up build pod: pods '
                  '"runner-x-project-1-concurrent-0" is forbidden: error looking up service account '
                  'ci-jobs/gitlab-runner: serviceaccount "gitlab-runner" not found',
                  'Error from server (NotFound): serviceaccounts "gitlab-runner" not found',),
    ),
    LogRule(
        catalog="E18", sources=("J", "M"),
        pattern=re.compile(r"(?:getting Kubernetes config|error connecting to Kubernetes): invalid configuration: no configuration has been provided"),
        needles=("no configuration has been provided",),
        title="The runner has no Kubernetes credentials at all",
        fix="Run the runner in the cluster with a mounted ServiceAccount token (drop automountServiceAccountToken: "
            "false), or set host plus bearer_token (or cert_file, key_file, ca_file) in [runners.kubernetes].",
        confirm=("kapi.auth",), specificity=10,
        examples=("ERROR: Preparation failed: getting Kubernetes config: invalid configuration: no configuration has "
                  "been provided, try setting KUBERNETES_MASTER environment variable",),
    ),
    LogRule(
        catalog="E33", sources=("M",),
        pattern=re.compile(r"PANIC: creating directory: mkdir /nonexistent: permission denied"),
        needles=("mkdir /nonexistent",),
        title="Runner image flavour and pod UID do not match",
        fix="Match podSecurityContext to the image flavour (runAsUser/fsGroup 999 for the ubuntu image, 100/65533 "
            "for alpine) or use the UBI/OCP image for arbitrary UIDs.",
        confirm=("values.lint",), specificity=10,
        examples=("PANIC: creating directory: mkdir /nonexistent: permission denied",),
    ),
    LogRule(
        catalog="E38", sources=("ME",),
        pattern=re.compile(r"MountVolume\.SetUp failed for volume \"kube-api-access-\w+\" : chown .* not supported by windows"),
        needles=("not supported by windows",),
        title="Manager pod scheduled on a Windows node",
        fix="Set nodeSelector: {kubernetes.io/os: linux} in the chart values so the manager only runs on Linux nodes.",
        confirm=("cluster.nodes",), specificity=20,
        examples=('MountVolume.SetUp failed for volume "kube-api-access-7xk2p" : chown '
                  'c:\\var\\lib\\kubelet\\pods\\x\\volumes\\token: not supported by windows',),
    ),
    # ---------------------------------------------------------------- manager -> GitLab network
    LogRule(
        catalog="E29", sources=("M",),
        pattern=re.compile(
            r"couldn't execute POST against https?://(?P<host>[^/]+)/api/v4/\S+: .*(?:dial tcp: lookup \S+(?: on "
            r"(?P<dns>\S+))?: no such host|dial tcp \S+: i/o timeout|connect: connection refused|connect: no route "
            r"to host|Proxy Authentication Required|Client\.Timeout exceeded|context deadline exceeded)"
        ),
        needles=("couldn't execute POST against",),
        title="The manager cannot reach GitLab (DNS, egress or proxy)",
        detail="requests to {host} fail at the network level",
        fix="Make {hostname} reachable from the runner namespace: resolvable (chart hostAliases or a CoreDNS "
            "forward), allowed by NetworkPolicy egress on 53 and 443, and listed in NO_PROXY when HTTP(S)_PROXY is set.",
        confirm=("dns", "gitlab.reach"), key=("hostname",), specificity=15,
        examples=('ERROR: Registering runner... failed runner=GR13489 status=couldn\'t execute POST against '
                  'https://gitlab.corp.local/api/v4/runners: Post "https://gitlab.corp.local/api/v4/runners": dial '
                  'tcp: lookup gitlab.corp.local on 10.96.0.10:53: no such host',),
    ),
    LogRule(
        catalog="E30", sources=("J", "M"),
        pattern=re.compile(r"dial tcp (?P<ip>[\d.]+):(?:443|6443): (?:i/o timeout|connect: connection refused)"),
        needles=("dial tcp",), unless=("pull", "/api/v4/", "/v2/"),
        title="The Kubernetes API server is unreachable from the runner",
        fix="Allow egress from the runner namespace to the API server {ip} (443/6443) in NetworkPolicies and keep "
            "KUBERNETES_SERVICE_HOST in NO_PROXY.",
        confirm=("kapi.reach",), key=("ip",),
        examples=('ERROR: Job failed (system failure): prepare environment: setting up credentials: Post '
                  '"https://10.96.0.1:443/api/v1/namespaces/ci/secrets": dial tcp 10.96.0.1:443: i/o timeout',),
    ),
    LogRule(
        catalog="E30", variant="slow", sources=("J", "M"),
        pattern=_rx(
            r"context deadline exceeded",
            r"etcdserver: (?:request timed out|leader changed)",
            r"Timeout: request did not complete within requested timeout",
            r"resource quota evaluates timeout",
        ),
        needles=("context deadline exceeded", "etcdserver:", "Timeout: request did not complete", "evaluates timeout"),
        unless=("pull", "/api/v4/", "/v2/"),
        title="The Kubernetes API server is slow or timing out",
        fix="Check API server health and failurePolicy=Fail webhooks that match the job namespace, and raise "
            "poll_timeout / prepare_timeout in [runners.kubernetes] if the cluster is just slow.",
        confirm=("kapi.reach", "cluster.webhooks"),
        examples=("ERROR: Job failed (system failure): prepare environment: setting up build pod: Timeout: request "
                  "did not complete within requested timeout - context deadline exceeded",),
    ),
    LogRule(
        catalog="E30", variant="webhook", sources=("J", "M", "ME"),
        pattern=re.compile(r"failed calling webhook \"(?P<hook>[^\"]+)\""),
        needles=("failed calling webhook",),
        title="An admission webhook is down or slow and blocks pod creation",
        fix="Repair webhook {hook} or exclude the job namespace from it (namespaceSelector / objectSelector) while "
            "its failurePolicy is Fail.",
        confirm=("cluster.webhooks",), key=("hook",), specificity=10,
        examples=('Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call '
                  'webhook: context deadline exceeded',),
    ),
    # ---------------------------------------------------------------- job pod creation
    LogRule(
        catalog="E26", sources=("J", "JE"),
        pattern=re.compile(r"failed quota: (?P<q>[^:]+): must specify (?P<missing>[^;\"]+)"),
        needles=("failed quota",),
        title="A ResourceQuota requires requests/limits that a job container lacks",
        fix="Set cpu/memory requests and limits for every container (cpu_request, cpu_limit, memory_request, "
            "memory_limit and the helper_ / service_ variants in [runners.kubernetes]) or add a LimitRange with "
            "defaults in the job namespace, as quota {q} requires {missing}.",
        confirm=("cluster.quota", "cluster.dryrun.jobpod"), key=("q",), specificity=10,
        examples=('pods "runner-x-project-1-concurrent-0" is forbidden: failed quota: ci-quota: must specify '
                  'limits.cpu for: init-permissions; limits.memory for: init-permissions',),
    ),
    LogRule(
        catalog="E26", variant="exceeded", sources=("J", "JE"),
        pattern=re.compile(r"exceeded quota: (?P<q>[^,]+), requested: (?P<req>.+?), used: (?P<used>.+?), limited: (?P<lim>[^\"]+?)\.?(?:\s|$|\")"),
        needles=("exceeded quota",),
        title="The job namespace's ResourceQuota is exhausted",
        detail="quota {q}: requested {req}, used {used}, limited {lim}",
        fix="Raise quota {q} or lower concurrent / per-job requests (limited: {lim}), and delete orphaned runner-* "
            "Secrets if secrets is the exhausted resource.",
        confirm=("cluster.quota",), key=("q",), specificity=10,
        examples=('secrets "runner-x-project-1-concurrent-0-abc" is forbidden: exceeded quota: ci-objects, '
                  'requested: secrets=1, used: secrets=100, limited: secrets=100',),
    ),
    LogRule(
        catalog="E27", sources=("J", "JE"),
        pattern=re.compile(r"(?:maximum|minimum) (?P<res>cpu|memory|ephemeral-storage) usage per (?:Container|Pod) is (?P<bound>\S+), but (?:limit|request) is (?P<val>\S+?)\.?(?:\s|$|\")"),
        needles=("usage per Container", "usage per Pod"),
        title="A LimitRange rejects the job pod's resources",
        fix="Adjust the LimitRange in the job namespace or the job's {res} request/limit ({val} vs bound {bound}).",
        confirm=("cluster.quota", "cluster.dryrun.jobpod"), key=("res",), specificity=10,
        examples=('pods "runner-x" is forbidden: maximum cpu usage per Container is 2, but limit is 4',),
    ),
    LogRule(
        catalog="E27", variant="overwrite-max", sources=("J",),
        pattern=re.compile(r"the resource \"(?P<r>\w+)\" requested \"(?P<req>[^\"]+)\" is higher than limit allowed \"(?P<max>[^\"]+)\""),
        needles=("is higher than limit allowed",),
        title="A job's resource overwrite exceeds the runner's *_overwrite_max_allowed",
        fix="Raise the {r} *_overwrite_max_allowed key in [runners.kubernetes] (now {max}) or lower the job's "
            "requested {r} ({req}).",
        confirm=("values.lint",), key=("r",), specificity=10,
        examples=('ERROR: Preparation failed: the resource "cpu" requested "4" is higher than limit allowed "2"',),
    ),
    LogRule(
        catalog="E28", sources=("J", "JE", "ME"),
        pattern=re.compile(r"violates PodSecurity \"(?P<level>baseline|restricted):(?P<ver>[^\"]+)\": (?P<why>.+)"),
        needles=("violates PodSecurity",),
        title="Pod Security Admission rejects the pod",
        detail="PodSecurity {level}: {why}",
        fix="Make the pod comply with PodSecurity {level} via pod_security_context and the *_container_security_context "
            "keys in [runners.kubernetes], or run privileged jobs in a dedicated namespace labelled "
            "pod-security.kubernetes.io/enforce=privileged.",
        confirm=("cluster.dryrun.jobpod", "cluster.psa"), key=("level",), specificity=20,
        examples=('ERROR: Job failed (system failure): prepare environment: setting up build pod: pods '
                  '"runner-x-project-1-concurrent-0" is forbidden: violates PodSecurity "baseline:latest": privileged '
                  '(containers "build", "helper", "svc-0" must not set securityContext.privileged=true)',),
    ),
    LogRule(
        catalog="E28", variant="scc", sources=("J", "JE", "ME"),
        pattern=re.compile(r"unable to validate against any security context constraint"),
        needles=("security context constraint",),
        title="OpenShift SCC rejects the pod",
        fix="Grant the pod's ServiceAccount a suitable SCC (oc adm policy add-scc-to-user <scc> -z <sa> -n "
            "<namespace>) or make the pod fit restricted-v2.",
        confirm=("cluster.dryrun.jobpod", "cluster.psa"), specificity=20,
        examples=('pods "runner-x" is forbidden: unable to validate against any security context constraint: '
                  '[fsGroup: Invalid value: []int64{65533}: 65533 is not an allowed group]',),
    ),
    LogRule(
        catalog="E28", variant="webhook", sources=("J", "JE", "ME"),
        pattern=re.compile(r"admission webhook \"(?P<hook>[^\"]+)\" denied the request"),
        needles=("denied the request",),
        title="A policy admission webhook denies the pod",
        fix="Exempt the job namespace from admission webhook {hook}, or label and configure the pods (pod_labels, "
            "security contexts) so the policy admits them.",
        confirm=("cluster.dryrun.jobpod", "cluster.webhooks"), key=("hook",), specificity=20,
        examples=('admission webhook "validation.gatekeeper.sh" denied the request: [psp-privileged-container] '
                  'Privileged container is not allowed: build',),
    ),
    LogRule(
        catalog="E28", variant="readonly-rootfs", sources=("J", "JE"),
        pattern=re.compile(r"only read-only root filesystem container is allowed"),
        needles=("read-only root filesystem",),
        title="A policy requires read-only root filesystems",
        fix="Set read_only_root_filesystem = true in the build, helper and service container security contexts of "
            "[runners.kubernetes], or exempt the job namespace from that policy.",
        confirm=("cluster.dryrun.jobpod",), specificity=20,
        examples=("only read-only root filesystem container is allowed: build",),
    ),
    LogRule(
        catalog="E34", sources=("J",),
        pattern=re.compile(r"pull_policy \((?P<asked>\[[^\]]*\])\) defined in (?:GitLab pipeline config|.*) is not one of the allowed_pull_policies \((?P<allowed>\[[^\]]*\])\)"),
        needles=("allowed_pull_policies",),
        title="The job's pull_policy is not allowed by the runner",
        fix="Add {asked} to allowed_pull_policies in [runners.kubernetes] (now {allowed}) or drop pull_policy from the job.",
        confirm=("values.lint",), key=("asked",), specificity=10,
        examples=("ERROR: Preparation failed: invalid pull policy for image \"alpine\": pull_policy ([Always]) defined "
                  "in GitLab pipeline config is not one of the allowed_pull_policies ([if-not-present])",),
    ),
    # ---------------------------------------------------------------- image pulls
    LogRule(
        catalog="E09", sources=("J", "JE"),
        pattern=_rx(
            r"(?:Failed to pull image|pulling image|Back-off pulling image) \"(?P<img>[^\"]*gitlab-runner-helper[^\"]*)\"",
            r"image pull failed: .*?\"?(?P<img2>[^\"\s]*gitlab-runner-helper[^\"\s]*)",
            r"gitlab-runner-helper.*failed to (?:authorize|fetch oauth token|fetch anonymous token): unexpected "
            r"status: (?:401 Unauthorized|502 Bad Gateway)",
        ),
        needles=("gitlab-runner-helper",),
        title="Job pods cannot pull the runner helper image",
        detail="helper image {img} could not be pulled",
        fix="Mirror {img} into a registry the nodes can reach and set helper_image = "
            "\"<mirror>/gitlab-runner-helper:x86_64-v${CI_RUNNER_VERSION}\" in [runners.kubernetes] (plus "
            "image_pull_secrets if the mirror is private).",
        confirm=("registry", "cluster.nodes"), key=("img",), specificity=12,
        secondary_to=("E21", "E22", "E23", "E24", "E31"), secondary_match="registry",
        examples=('WARNING: Event retrieved from the cluster: Failed to pull image "registry.gitlab.com/gitlab-org/'
                  'gitlab-runner/gitlab-runner-helper:x86_64-v18.0.2": rpc error: code = DeadlineExceeded desc = '
                  'context deadline exceeded',),
    ),
    LogRule(
        catalog="E21", sources=("J", "JE"),
        pattern=re.compile(
            _PULL_PREFIX + r" \"(?P<img>[^\"]+)\".*(?:pull access denied|401 Unauthorized|authorization failed|"
            r"no basic auth credentials|denied: requested access to the resource is denied|403 Forbidden)"
        ),
        needles=("denied", "Unauthorized", "authorization failed", "no basic auth credentials", "403 Forbidden"),
        title="A job image cannot be pulled: registry credentials missing or wrong",
        detail="pull of {img} was denied",
        fix="Create a kubernetes.io/dockerconfigjson Secret for {registry} in the job namespace and list it in "
            "image_pull_secrets in [runners.kubernetes] (or set DOCKER_AUTH_CONFIG as a CI variable).",
        confirm=("registry", "cluster.secret.pull"), key=("img",), specificity=10,
        examples=('WARNING: Event retrieved from the cluster: Failed to pull image "registry.corp.local/team/app:1.2": '
                  'rpc error: code = Unknown desc = failed to pull and unpack image "registry.corp.local/team/app:1.2": '
                  'failed to resolve reference: pull access denied, repository does not exist or may require authorization',),
    ),
    LogRule(
        catalog="E21", variant="secret-missing", sources=("J", "JE"),
        pattern=_rx(
            r"Timed out while waiting for PullSecret/(?P<s>\S+) to be present in the cluster",
            r"checking ImagePullSecret: couldn't find ImagePullSecret or ServiceAccount",
        ),
        needles=("PullSecret",),
        title="An image pull Secret named in the runner config does not exist",
        fix="Create pull Secret {s} (type kubernetes.io/dockerconfigjson) in the job namespace, or remove it from "
            "image_pull_secrets in [runners.kubernetes].",
        confirm=("cluster.secret.pull",), key=("s",), specificity=15,
        examples=("ERROR: Job failed (system failure): prepare environment: Timed out while waiting for "
                  "PullSecret/regcred to be present in the cluster",),
    ),
    LogRule(
        catalog="E22", sources=("JE", "J", "ME"),
        pattern=re.compile(_PULL_PREFIX + r" \"(?P<img>[^\"]+)\".*x509: "),
        needles=("x509: ",),
        title="Nodes do not trust the registry's TLS certificate",
        detail="pull of {img} failed TLS verification on the node",
        fix="Install the CA of {registry} in every node's container runtime (containerd: certs.d/{registry}/hosts.toml "
            "ca = ...; CRI-O or Docker: certs.d/{registry}/ca.crt); the runner's certsSecretName does not affect "
            "image pulls.",
        confirm=("registry", "cluster.nodes"), key=("registry",), specificity=20,
        examples=('Failed to pull image "harbor.corp.local/ci/node:20": rpc error: code = Unknown desc = failed to '
                  'pull and unpack image "harbor.corp.local/ci/node:20": failed to resolve reference: failed to do '
                  'request: Head "https://harbor.corp.local/v2/ci/node/manifests/20": tls: failed to verify '
                  'certificate: x509: certificate signed by unknown authority',),
    ),
    LogRule(
        catalog="E23", sources=("JE", "J"),
        pattern=re.compile(r"(?:" + _PULL_PREFIX + r" \"(?P<img>[^\"]+)\".*)?http: server gave HTTP response to HTTPS client"),
        needles=("server gave HTTP response to HTTPS client",),
        title="The registry speaks plain HTTP but the node runtime uses HTTPS",
        detail="pull of {img} hit a plain-HTTP registry",
        fix="Declare {registry} as an insecure registry in every node's runtime (CRI-O: [[registry]] location = "
            "\"{registry}\", insecure = true in /etc/containers/registries.conf; containerd: certs.d/{registry}/"
            "hosts.toml with server = \"http://{registry}\") or put TLS in front of it.",
        confirm=("registry", "cluster.nodes"), key=("registry",), specificity=20,
        examples=('Failed to pull image "registry2.company.com:5000/system/docker:latest": rpc error: code = Unknown '
                  'desc = pinging container registry registry2.company.com:5000: Get '
                  '"https://registry2.company.com:5000/v2/": http: server gave HTTP response to HTTPS client',),
    ),
    LogRule(
        catalog="E24", sources=("JE", "J"),
        pattern=re.compile(r"short-name \"(?P<img>[^\"]+)\" did not resolve to an alias and no unqualified-search registries are defined in \"(?P<file>[^\"]+)\""),
        needles=("did not resolve to an alias",),
        title="CRI-O cannot expand a short image name",
        fix="Use the fully qualified image name (docker.io/library/{img}) in .gitlab-ci.yml and runners.config, or "
            "set unqualified-search-registries = [\"docker.io\"] in {file} on the CRI-O nodes.",
        confirm=("cluster.nodes",), key=("img",), specificity=20,
        examples=('Failed to pull image "alpine:latest": rpc error: code = Unknown desc = short-name "alpine:latest" '
                  'did not resolve to an alias and no unqualified-search registries are defined in '
                  '"/etc/containers/registries.conf"',),
    ),
    LogRule(
        catalog="E31", sources=("J", "JE"),
        pattern=_rx(
            r"exec format error",
            r"no match for platform in manifest",
            r"unable to upgrade connection: container not found \(\"(?P<c>helper|build)\"\)",
            r"container \"(?P<c2>[^\"]+)\" is in CrashLoopBackOff",
        ),
        needles=("exec format error", "no match for platform", "container not found", "CrashLoopBackOff"),
        title="Image architecture does not match the node",
        fix="Pin job pods to nodes of the images' architecture with node_selector \"kubernetes.io/arch\" in "
            "[runners.kubernetes] (or helper_image_autoset_arch_and_os = true) and use multi-arch helper and job images.",
        confirm=("cluster.nodes", "registry"), specificity=22,
        examples=("exec /usr/bin/sh: exec format error",),
    ),
    LogRule(
        catalog="E10", sources=("J",),
        pattern=re.compile(r"timed out waiting for pod to start(?: \(last phase: (?P<phase>\w+)\))?"),
        needles=("timed out waiting for pod to start",),
        secondary_to=("E09", "E10", "E15", "E16", "E21", "E22", "E23", "E24", "E31"),
        title="The job pod never started (stayed Pending)",
        fix="Look at the pod's events, then lower the job pod's resource requests, fix node_selector / "
            "node_tolerations, or raise poll_timeout in [runners.kubernetes].",
        confirm=("cluster.nodes", "cluster.dryrun.jobpod"),
        examples=("ERROR: Job failed (system failure): prepare environment: waiting for pod running: timed out "
                  "waiting for pod to start. Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-"
                  "loading for more information",),
    ),
    LogRule(
        catalog="E10", variant="unschedulable", sources=("J", "JE"),
        pattern=re.compile(r"(?P<avail>\d+/\d+) nodes are available: (?P<why>[^\"]+)"),
        needles=("nodes are available",),
        title="The scheduler cannot place the job pod",
        detail="{avail} nodes are available: {why}",
        fix="Lower cpu_request / memory_request or fix node_selector / node_tolerations in [runners.kubernetes] so "
            "at least one node fits the job pod.",
        confirm=("cluster.nodes",), specificity=10,
        examples=("Warning  FailedScheduling  pod/runner-x  0/3 nodes are available: 3 Insufficient cpu. "
                  "preemption: 0/3 nodes are available",),
    ),
    # ---------------------------------------------------------------- job script
    LogRule(
        catalog="E36", sources=("J",), related=("E08", "E05"),
        pattern=re.compile(
            r"fatal: unable to access '(?P<url>https?://[^']+)': (?:Could(?:n't| not) resolve host|SSL certificate "
            r"problem|server certificate verification failed|(?:OpenSSL )?SSL_connect: SSL_ERROR_SYSCALL|Failed to "
            r"connect to)"
        ),
        needles=("fatal: unable to access",), when=_clone_host_differs,
        title="Jobs clone from a different host than the runner uses for GitLab",
        detail="clone host {hostname} differs from gitlabUrl host {gitlab_host}",
        fix="Set clone_url = \"{gitlab_url}\" in [[runners]] so job pods clone from the address the runner uses "
            "instead of {hostname}.",
        confirm=("dns", "tls.gitlab"), key=("hostname",), specificity=40,
        examples=(),  # needs gitlab_url; covered by a dedicated test
    ),
    LogRule(
        catalog="E05", sources=("J",), related=("E36",),
        pattern=re.compile(
            r"fatal: unable to access '(?P<url>https://[^']+)': (?:SSL certificate problem: (?:unable to get local "
            r"issuer certificate|self[- ]signed certificate in certificate chain|certificate has expired)|server "
            r"certificate verification failed\. CAfile: .* CRLfile: none)"
        ),
        needles=("SSL certificate problem", "server certificate verification failed"),
        title="Job pods fail TLS verification when cloning",
        detail="git clone from {host} failed certificate verification",
        fix="Make the clone host {hostname} the gitlabUrl host covered by the CA the manager uses (set clone_url in "
            "[[runners]] if jobs clone elsewhere), and restart the manager after a certificate rotation.",
        confirm=("tls.gitlab",), key=("hostname",), specificity=10,
        examples=("fatal: unable to access 'https://gitlab.example.com/group/app.git/': SSL certificate problem: "
                  "unable to get local issuer certificate",),
    ),
    LogRule(
        catalog="E08", sources=("J",), related=("E36",),
        pattern=re.compile(r"fatal: unable to access '(?P<url>[^']*)': Could(?:n't| not) resolve host:? '?(?P<host>[^'\s]+)"),
        needles=("resolve host",),
        title="Job pods cannot resolve the GitLab host",
        detail="job pod could not resolve {hostname}",
        fix="Add [[runners.kubernetes.host_aliases]] for {hostname} to runners.config (chart hostAliases only reach "
            "the manager pod) or make cluster DNS resolve {hostname} for job pods.",
        confirm=("dns",), key=("hostname",), specificity=10,
        examples=("fatal: unable to access 'https://gitlab.example.com/root/app.git/': Could not resolve host: "
                  "gitlab.example.com",),
    ),
    LogRule(
        catalog="E08", variant="tls-reset", sources=("J",), related=("E37",),
        pattern=re.compile(
            r"fatal: unable to access '(?P<url>https?://[^']+)': (?:OpenSSL )?SSL_connect: SSL_ERROR_SYSCALL in "
            r"connection to (?P<host>[^\s:]+)"
        ),
        needles=("SSL_ERROR_SYSCALL",),
        title="Job pod's TLS connection to the GitLab host is cut (job pods reach another address than the manager)",
        detail="git clone from {hostname} was cut during the TLS handshake",
        fix="Give job pods the manager's address for {hostname} with [[runners.kubernetes.host_aliases]] in "
            "runners.config (chart hostAliases cover only the manager), or lower the pod MTU if it already resolves "
            "correctly.",
        confirm=("dns",), key=("hostname",), specificity=15,
        examples=("fatal: unable to access 'https://gitlab.mylab.com/root/mycicd.git/': OpenSSL SSL_connect: "
                  "SSL_ERROR_SYSCALL in connection to gitlab.mylab.com:443 ",),
    ),
    LogRule(
        catalog="E37", sources=("J",),
        pattern=re.compile(r"SSL_connect: SSL_ERROR_SYSCALL in connection to (?P<host>[^\s:]+)"),
        needles=("SSL_ERROR_SYSCALL",),
        title="TLS connections from dind die mid-handshake (MTU too large)",
        fix="Start the dind service with an MTU below the CNI MTU (services: docker:dind with command: "
            "[\"--mtu=1450\"]).",
        confirm=("cluster.network",), specificity=5,
        examples=("curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to registry.npmjs.org:443",),
    ),
    LogRule(
        catalog="E12", sources=("J",),
        pattern=_rx(
            r"Cannot connect to the Docker daemon at tcp://(?P<host>[^:]+):(?P<port>2375|2376)",
            r"unable to resolve docker endpoint: open /certs/client/ca\.pem: no such file or directory",
            r"dial tcp: lookup docker on \S+: no such host",
        ),
        needles=("Cannot connect to the Docker daemon at tcp://", "/certs/client/ca.pem", "lookup docker on"),
        title="The docker:dind service does not answer",
        fix="Run dind with privileged = true in [runners.kubernetes] and make DOCKER_HOST match its TLS mode: "
            "tcp://docker:2375 with DOCKER_TLS_CERTDIR=\"\", or tcp://docker:2376 with DOCKER_TLS_VERIFY=1, "
            "DOCKER_CERT_PATH=/certs/client and a shared empty_dir at /certs/client.",
        confirm=("cluster.dryrun.jobpod", "values.lint"), specificity=10,
        examples=("Cannot connect to the Docker daemon at tcp://docker:2375. Is the docker daemon running?",),
    ),
    LogRule(
        catalog="E25", sources=("J", "JE"),
        pattern=_rx(
            r"Cannot connect to the Docker daemon at unix:///var/run/docker\.sock",
            r"dial unix /var/run/docker\.sock: connect: no such file or directory",
            r"hostPath type check failed: /var/run/docker\.sock",
        ),
        needles=("docker.sock",),
        title="Job mounts docker.sock but the nodes run containerd/CRI-O",
        fix="Remove the /var/run/docker.sock host_path volume and build images with dind (privileged), BuildKit "
            "rootless, kaniko or buildah instead.",
        confirm=("cluster.nodes",), specificity=10,
        examples=("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",),
    ),
    LogRule(
        catalog="E35", sources=("J",),
        pattern=re.compile(r"This job is stuck because (?:you don't have any active runners|of one of the following problems|the project doesn't have any runners online)"),
        needles=("This job is stuck because",),
        title="No runner picks up the job",
        fix="Make the runner's tags, run-untagged, protected and paused settings in GitLab match the job (with a "
            "runner authentication token they are set in the GitLab UI, not in the values).",
        confirm=("gitlab.runner",),
        examples=("This job is stuck because of one of the following problems. There are no active runners online, "
                  "no runners for the protected branch, or no runners that match all of the job's tags",),
    ),
)
# fmt: on

BENIGN: tuple[BenignRule, ...] = (
    BenignRule("listen-address", re.compile(r"listen_address not defined, metrics & debug endpoints disabled"),
               ("metrics & debug endpoints disabled",),
               "Metrics server is off (values metrics.enabled: true turns it on)."),
    BenignRule("session-server", re.compile(r"\[session_server\]\.listen_address not defined, session endpoints disabled"),
               ("session endpoints disabled",), "No interactive web terminal."),
    BenignRule("jsonschema", re.compile(
        r"There might be a problem with your config based on jsonschema annotations|jsonschema: '/[^']*' does not validate"),
        ("jsonschema",), "Best-effort schema validation; the runner keeps running. Upgrade if noisy."),
    BenignRule("user-mode", re.compile(
        r"Running in user-mode|The user-mode requires you to manually start builds processing|Use sudo for system-mode"),
        ("user-mode", "Use sudo for system-mode"), "Normal for a non-root container."),
    BenignRule("registration-token-deprecated", re.compile(
        r"Support for registration tokens and runner parameters in the 'register' command has been deprecated"),
        ("has been deprecated",), "A legacy registration token is in use; plan the migration to runner authentication tokens.",
        hint="E06"),
    BenignRule("forced-check", re.compile(r"is not healthy, but check for a new job will be forced"),
               ("check for a new job will be forced",),
               "Retry after an unhealthy interval; the lines before it carry the cause.", hint="E07"),
    BenignRule("template-merge", re.compile(r"Merging configuration from template file"),
               ("Merging configuration from template file",), "Normal chart startup."),
    BenignRule("registration-attempt", re.compile(r"Registration attempt (?P<n>\d+) of (?P<of>\d+)"),
               ("Registration attempt",), "Chart register loop; only a rising counter is a problem."),
    BenignRule("pod-pending", re.compile(r"Waiting for pod \S+ to be running, status is Pending"),
               ("status is Pending",), "Job pod is starting; a problem only if followed by a timeout.", hint="E10"),
    BenignRule("containers-not-ready", re.compile(r"ContainersNotReady: \"containers with unready status"),
               ("ContainersNotReady",), "Job pod containers are starting."),
    BenignRule("helper-docker-hub", re.compile(r"Pulling GitLab Runner helper image from Docker Hub"),
               ("helper image from Docker Hub",), "Old runners pulled the helper from Docker Hub."),
)

_RULE_INDEX = {rule.id: rule for rule in RULES}
if len(_RULE_INDEX) != len(RULES):  # pragma: no cover - guards the table
    raise RuntimeError("duplicate LogRule id")
