"""Table-driven tests for wizard.diagnose.logs (log half of guided recovery)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wizard.diagnose.logs import (
    BENIGN,
    RULES,
    LogRule,
    analyze_file,
    analyze_lines,
    analyze_text,
    detect_source,
    normalize_line,
    redact,
)
from wizard.results import Status, report_json

DATA = Path(__file__).resolve().parent.parent / "data" / "logs"

# sample file -> (source hint, exact set of catalog ids expected)
EXPECTED: dict[str, tuple[str, set[str]]] = {
    # --- manager logs (M)
    "manager-healthy.log": ("M", set()),
    "manager-x509-unknown-authority.log": ("M", {"E02"}),  # seed 000 §1 (18.x)
    "manager-x509-unknown-authority-16x.json.log": ("M", {"E02"}),  # 16.x, JSON log format
    "manager-legacy-token-warning.log": ("M", {"E14"}),  # seed 000 §2 (warn)
    "manager-403-stale-token.log": ("M", {"E07"}),  # seed 003
    "manager-403-stale-token.json.log": ("M", {"E07"}),  # seed 003, JSON log format
    "manager-verify-not-valid-crashloop.log": ("M", {"E07"}),
    "manager-registration-token-forbidden.log": ("M", {"E06"}),
    "manager-reserved-config-glrt.log": ("M", {"E13"}),
    "manager-cert-name-mismatch.log": ("M", {"E04"}),
    "manager-dns-no-such-host.log": ("M", {"E29"}),
    "manager-token-trailing-newline.log": ("M", {"E32"}),
    "manager-nonexistent-home.log": ("M", {"E33"}),
    "manager-informers-rbac-warning.log": ("M", {"E11"}),
    "manager-kubernetes-config-missing.json.log": ("M", {"E18"}),
    # --- manager events (ME)
    "manager-events-secret-not-found.log": ("ME", {"E15"}),
    "manager-events-secret-missing-key.log": ("ME", {"E15"}),
    "manager-events-sa-not-found.log": ("ME", {"E16"}),
    "manager-events-windows-node.log": ("ME", {"E38"}),
    # --- job logs (J)
    "job-healthy.log": ("J", set()),
    "job-secrets-forbidden-default-sa.log": ("J", {"E01"}),  # seed 004 §9.1
    "job-secrets-forbidden-other-namespace.log": ("J", {"E17"}),  # seed 000 §3
    "job-serviceaccount-not-found.log": ("J", {"E16"}),  # seed 000 §4
    "job-pods-attach-forbidden.log": ("J", {"E11"}),  # seed 000 §6
    "job-kubernetes-config-missing.log": ("J", {"E18"}),  # seed 002 #1
    "job-apiserver-x509.log": ("J", {"E19"}),  # seed 002 #2
    "job-anonymous-forbidden.log": ("J", {"E20"}),  # seed 002 #3
    "job-unauthorized.log": ("J", {"E20"}),  # seed 002 #4
    "job-secrets-forbidden-wrong-namespace.log": ("J", {"E17"}),  # seed 002 #5
    "job-secrets-forbidden-no-rolebinding.log": ("J", {"E11"}),  # seed 002 #6
    "job-helper-pull-airgap.log": ("J", {"E09"}),  # seed 002 #7
    "job-pod-start-timeout.log": ("J", {"E10"}),  # seed 002 #8
    "job-could-not-resolve-host.log": ("J", {"E08"}),  # seed 002 "问题 1"
    "job-clone-ssl-syscall-hostaliases.log": ("J", {"E08"}),  # seed 004 §9.2
    "job-clone-ssl-unknown-issuer-ansi-17x.log": ("J", {"E05"}),
    "job-dind-tls-mismatch-18x.log": ("J", {"E12"}),
    "job-psa-privileged-dind-18x.log": ("J", {"E28"}),
    "job-quota-must-specify-limits.log": ("J", {"E26"}),
    "job-quota-exceeded-secrets.log": ("J", {"E26"}),
    "job-helper-mirror-x509.log": ("J", {"E22"}),
    "job-private-image-denied.log": ("J", {"E21"}),
    "job-crio-short-name.log": ("J", {"E24"}),
    "job-arch-exec-format.log": ("J", {"E31"}),
    "job-pull-policy-not-allowed.log": ("J", {"E34"}),
    "job-dind-mtu-ssl-syscall.log": ("J", {"E37"}),
    "job-unschedulable-insufficient-cpu.log": ("J", {"E10"}),
    # --- job pod events (JE)
    "job-events-secret-volume-not-found.log": ("JE", {"E15"}),  # seed 000 §5
    "job-events-insecure-registry-crio.log": ("JE", {"E23"}),  # seed 000 §7
    "job-events-unschedulable.json": ("JE", {"E10"}),
}


def test_every_sample_file_is_in_the_table() -> None:
    on_disk = {p.name for p in DATA.iterdir() if p.is_file()}
    assert on_disk == set(EXPECTED), on_disk ^ set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_yields_exactly_expected_catalog_ids(name: str) -> None:
    hint, expected = EXPECTED[name]
    analysis = analyze_file(DATA / name)
    assert analysis.catalog_ids == expected, [(f.rule.id, f.evidence[:1]) for f in analysis.findings]
    # the source hint must not change the outcome (rules' sources are generous enough)
    hinted = analyze_file(DATA / name, source_hint=hint)
    assert hinted.catalog_ids == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_prefilter_never_changes_the_outcome(name: str) -> None:
    lines = (DATA / name).read_text(encoding="utf-8").split("\n")
    fast = analyze_lines(lines)
    slow = analyze_lines(lines, prefilter=False)
    assert [(f.rule.id, f.count, f.groups) for f in fast.findings] == [
        (f.rule.id, f.count, f.groups) for f in slow.findings
    ]
    assert [(n.key, n.count) for n in fast.notices] == [(n.key, n.count) for n in slow.notices]


@pytest.mark.parametrize("name", ["manager-healthy.log", "job-healthy.log"])
def test_healthy_logs_have_no_failure_and_count_benign_lines(name: str) -> None:
    analysis = analyze_file(DATA / name)
    assert analysis.findings == []
    assert not analysis.failed
    assert analysis.to_results() == []
    notices = analysis.to_results(include_notices=True)
    assert notices and all(r.status is Status.SKIP for r in notices)
    assert all(r.id.startswith("log.notice.") for r in notices)


def test_healthy_manager_notices() -> None:
    keys = {n.key: n.count for n in analyze_file(DATA / "manager-healthy.log").notices}
    assert keys["listen-address"] == 1
    assert keys["session-server"] == 1
    assert keys["jsonschema"] == 3
    assert keys["user-mode"] >= 3
    assert keys["registration-attempt"] == 1


# --------------------------------------------------------------------- table sanity


def test_rule_table_shape() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    covered = {r.catalog for r in RULES}
    required = {f"E{i:02d}" for i in range(1, 39)} - {"E03", "E25", "E35"}
    assert required <= covered
    for r in RULES:
        assert isinstance(r, LogRule)
        assert re.fullmatch(r"E\d\d", r.catalog)
        assert r.needles, r.id
        assert set(r.sources) <= {"M", "ME", "J", "JE"}, r.id
        assert r.confirm, r.id
        assert r.fix.endswith("."), r.id
        assert "tls_server_name" not in r.fix
        assert r.level in (Status.FAIL, Status.WARN)


@pytest.mark.parametrize("rule", [r for r in RULES if r.examples], ids=lambda r: r.id)
def test_each_rule_wins_its_own_examples(rule: LogRule) -> None:
    for example in rule.examples:
        analysis = analyze_lines([example])
        assert [f.rule.id for f in analysis.findings] == [rule.id], example
        # needles are a real gate: at least one occurs in every example
        assert any(n in example for n in rule.needles)


def test_benign_lines_are_never_failures() -> None:
    lines = [
        "listen_address not defined, metrics & debug endpoints disabled  builds=0",
        "[session_server].listen_address not defined, session endpoints disabled  builds=0",
        "There might be a problem with your config based on jsonschema annotations in common/config.go (experimental feature):",
        "jsonschema: '/runners/0/kubernetes/pull_policy' does not validate with https://x#/type: expected array, but got null",
        "WARNING: Running in user-mode.",
        "WARNING: The user-mode requires you to manually start builds processing:",
        "WARNING: Use sudo for system-mode:",
        "WARNING: Support for registration tokens and runner parameters in the 'register' command has been deprecated",
        'Runner "https://gitlab.example.comt1_Ab3xYz" is not healthy, but check for a new job will be forced!',
        'Merging configuration from template file "/configmaps/config.template.toml"',
        "Registration attempt 1 of 30",
        "Waiting for pod ci/runner-abc-project-1-concurrent-0 to be running, status is Pending",
    ]
    analysis = analyze_lines(lines)
    assert analysis.findings == []
    assert sum(n.count for n in analysis.notices) == len(lines)
    hints = {n.key: n.hint for n in analysis.notices}
    assert hints["registration-token-deprecated"] == "E06"
    assert {b.key for b in BENIGN} >= set(hints)


# --------------------------------------------------------------------- disambiguation


def _ids(*lines: str, **kw: str) -> list[str]:
    return [f.rule.id for f in analyze_lines(list(lines), **kw).findings]


def test_secrets_forbidden_default_sa_is_e01_not_e11() -> None:
    line = (
        'secrets is forbidden: User "system:serviceaccount:ci:default" cannot create resource "secrets" '
        'in API group "" in the namespace "ci"'
    )
    assert _ids(line) == ["E01"]


def test_pods_attach_forbidden_default_sa_is_e01() -> None:
    line = (
        'pods "runner-x" is forbidden: User "system:serviceaccount:ci:default" cannot create resource '
        '"pods/attach" in API group "" in the namespace "ci"'
    )
    assert _ids(line) == ["E01"]


def test_pods_attach_forbidden_non_default_sa_is_e11_even_across_namespaces() -> None:
    line = (
        'pods "runner-x" is forbidden: User "system:serviceaccount:ci-system:gitlab-runner" cannot create '
        'resource "pods/attach" in API group "" in the namespace "ci-jobs"'
    )
    analysis = analyze_lines([line])
    assert [f.rule.id for f in analysis.findings] == ["E11"]
    f = analysis.findings[0]
    assert f.groups["r"] == "pods/attach" and f.groups["verb"] == "create"
    assert f.fix == (
        "Add pods/attach (create) to the Role bound to system:serviceaccount:ci-system:gitlab-runner "
        "in namespace ci-jobs."
    )


def test_x509_name_mismatch_is_e04_not_e02() -> None:
    line = (
        "ERROR: Verifying runner... failed runner=t1_x status=couldn't execute POST against "
        'https://gitlab.example.com/api/v4/runners/verify: Post "https://gitlab.example.com/api/v4/runners/verify": '
        "tls: failed to verify certificate: x509: certificate is valid for ingress.local, not gitlab.example.com"
    )
    assert _ids(line) == ["E04"]


def test_checking_for_jobs_forbidden_is_e07() -> None:
    line = (
        "WARNING: Checking for jobs... forbidden  runner=t1_x status=POST "
        "https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden"
    )
    assert _ids(line) == ["E07"]


def test_apiserver_x509_is_e19_not_e02_or_e04() -> None:
    line = (
        'prepare environment: setting up build pod: Post "https://10.0.0.1:6443/api/v1/namespaces/ci/pods": '
        "x509: certificate is valid for 10.96.0.1, 192.168.1.10, not 10.0.0.1"
    )
    assert _ids(line) == ["E19"]


def test_helper_pull_connection_refused_is_e09_not_e30() -> None:
    assert _ids(
        'image pull failed: failed to pull and unpack image "registry.gitlab.com/gitlab-org/gitlab-runner/'
        'gitlab-runner-helper:x86_64-v17.0.0": dial tcp 35.227.35.254:443: connect: connection refused'
    ) == ["E09"]


def test_panic_verify_after_x509_is_not_reported_as_e07() -> None:
    lines = [
        "ERROR: Verifying runner... failed runner=t1_x status=couldn't execute POST against "
        'https://gitlab.example.com/api/v4/runners/verify: x509: certificate signed by unknown authority',
        "PANIC: Failed to verify the runner.",
    ]
    assert _ids(*lines) == ["E02"]
    # alone, the PANIC line still points at the token
    assert _ids(lines[1]) == ["E07.unhealthy"]


def test_timeout_is_secondary_to_image_pull_failure() -> None:
    lines = [
        'WARNING: Event retrieved from the cluster: Failed to pull image "registry.gitlab.com/gitlab-org/'
        'gitlab-runner/gitlab-runner-helper:x86_64-v18.0.2": rpc error: code = Unknown desc = i/o timeout',
        "ERROR: Job failed (system failure): prepare environment: waiting for pod running: timed out waiting "
        "for pod to start",
    ]
    assert _ids(*lines) == ["E09"]


def test_clone_host_differs_from_gitlab_url_is_e36() -> None:
    line = "fatal: unable to access 'https://gitlab.example.com/root/app.git/': Could not resolve host: gitlab.example.com"
    assert _ids(line) == ["E08"]
    assert _ids(line, gitlab_url="http://gitlab-webservice-default.gitlab.svc:8181") == ["E36"]
    assert _ids(line, gitlab_url="https://gitlab.example.com") == ["E08"]
    f = analyze_lines([line], gitlab_url="http://gitlab-webservice-default.gitlab.svc:8181").findings[0]
    assert 'clone_url = "http://gitlab-webservice-default.gitlab.svc:8181"' in f.fix


# --------------------------------------------------------------------- dedup, fixes, ids


def test_dedup_counts_and_caps_evidence() -> None:
    line = (
        "WARNING: Checking for jobs... forbidden  runner=t1_x status=POST "
        "https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden  correlation_id={}"
    )
    analysis = analyze_lines([line.format(i) for i in range(10)])
    assert len(analysis.findings) == 1
    f = analysis.findings[0]
    assert f.count == 10
    assert len(f.evidence) == 3
    assert f.first_line == 1


def test_distinct_groups_make_distinct_findings_with_stable_ids() -> None:
    tpl = (
        'pods "runner-x" is forbidden: User "system:serviceaccount:ci-system:gitlab-runner" cannot {verb} '
        'resource "{res}" in API group "" in the namespace "ci-jobs"'
    )
    lines = [
        tpl.format(verb="create", res="pods/attach"),
        tpl.format(verb="create", res="pods/exec"),
        tpl.format(verb="create", res="pods/attach"),
    ]
    results = analyze_lines(lines).to_results()
    assert [r.id for r in results] == [
        "log.E11.ci-system.gitlab-runner.ci-jobs.pods-attach.create",
        "log.E11.ci-system.gitlab-runner.ci-jobs.pods-exec.create",
    ]
    # order of input does not change ids
    assert {r.id for r in analyze_lines(lines[::-1]).to_results()} == {r.id for r in results}
    assert all(r.area == "logs" and r.status is Status.FAIL and r.catalog == ("E11",) for r in results)


def test_e02_fix_names_ca_file_without_port_and_never_tls_server_name() -> None:
    f = analyze_file(DATA / "manager-x509-unknown-authority.log").findings[0]
    assert f.catalog == "E02"
    assert f.groups["hostname"] == "10.20.30.40"
    assert "10.20.30.40.crt" in f.fix and "8929" not in f.fix
    assert "certsSecretName" in f.fix
    r = f.to_result()
    assert r.catalog == ("E02", "E03")
    assert "tls_server_name" not in json.dumps(r.to_json())


def test_e08_fix_points_at_runners_kubernetes_host_aliases() -> None:
    f = analyze_file(DATA / "job-clone-ssl-syscall-hostaliases.log").findings[0]
    assert f.rule.id == "E08.tls-reset"
    assert "[[runners.kubernetes.host_aliases]]" in f.fix and "gitlab.mylab.com" in f.fix
    assert f.to_result().catalog == ("E08", "E37")


def test_warn_level_rules() -> None:
    results = analyze_file(DATA / "manager-legacy-token-warning.log").to_results()
    assert [(r.id, r.status) for r in results] == [("log.E14", Status.WARN)]
    results = analyze_file(DATA / "manager-informers-rbac-warning.log").to_results()
    assert [(r.id, r.status) for r in results] == [("log.E11.informers", Status.WARN)]


def test_confirm_prefixes() -> None:
    f = analyze_file(DATA / "job-pods-attach-forbidden.log").findings[0]
    assert f.confirm == ("rbac.manager",)
    assert f.rule.confirms("rbac.manager.pods-attach.create")
    assert not f.rule.confirms("rbac.managerial")


def test_to_results_json_document_is_valid() -> None:
    results = analyze_file(DATA / "job-helper-pull-airgap.log").to_results()
    doc = json.loads(report_json(results))
    assert doc["summary"]["fail"] == 1
    r = doc["results"][0]
    assert r["id"] == "log.E09.gitlab-runner-helper-x86_64-7178588d"
    assert r["evidence"] and len(r["evidence"]) <= 3
    assert r["fix"].count(".") >= 1 and "helper_image" in r["fix"]


# --------------------------------------------------------------------- redaction

SECRET_LINES = [
    "WARNING: Checking for jobs... forbidden  runner=glrt-t1_AbCdEfGhIjKlMnOpQrSt status=POST "
    "https://gitlab.example.com/api/v4/jobs/request?token=glrt-t1_AbCdEfGhIjKlMnOpQrSt: 403 Forbidden",
    '{"level":"error","msg":"Verifying runner... is not valid","runner":"glrtr-ZyXwVuTsRqPoNm12345",'
    '"token":"glrtr-ZyXwVuTsRqPoNm12345"}',
    "ERROR: Registering runner... forbidden (check registration token) runner=GR1348941aBcDeFgHiJkLmNoP "
    "cmd=gitlab-runner register --token GR1348941aBcDeFgHiJkLmNoP --url https://gitlab.example.com",
    "fatal: unable to access 'https://gitlab-ci-token:glcbt-64_aBcDeFgHiJkLmN@gitlab.example.com/a/b.git/': "
    "Could not resolve host: gitlab.example.com",
    'PANIC: Failed to verify the runner. request headers: PRIVATE-TOKEN: glpat-aaaaBBBBccccDDDDeeee '
    'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig',
    "ERROR: Verifying runner... is not valid runner=xYz --token c2VjcmV0LXJ1bm5lci10b2tlbi12YWx1ZQ==",
]


def test_redaction_in_results_json() -> None:
    analysis = analyze_lines(SECRET_LINES)
    assert analysis.findings
    blob = report_json(analysis.to_results(include_notices=True))
    for needle in ("glrt-", "glrtr-", "GR1348941", "glcbt-", "glpat-", "eyJhbGci", "c2VjcmV0"):
        assert needle not in blob, needle
    assert "[REDACTED]" in blob
    for f in analysis.findings:
        assert "glrt" not in json.dumps(f.groups)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("token=glrt-abcdef1234567890", "token=[REDACTED]"),
        ("PRIVATE-TOKEN: abcdefghijklmnop", "PRIVATE-TOKEN: [REDACTED]"),
        ("Private-Token: abcdefghijklmnop", "Private-Token: [REDACTED]"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [REDACTED]"),
        ("--token=Zm9vYmFyYmF6cXV4", "--token=[REDACTED]"),
        ("--registration-token GR1348941xyzxyzxyz", "--registration-token [REDACTED]"),
        ("acme-glrt-t2_0123456789abcdef", "acme-[REDACTED]"),
        ('net/http: invalid header field value for "Private-Token"', 'net/http: invalid header field value for "Private-Token"'),
        ("automountServiceAccountToken: false", "automountServiceAccountToken: false"),
        ("https://gitlab-ci-token:[MASKED]@gitlab.example.com/x.git", "https://gitlab-ci-token:[MASKED]@gitlab.example.com/x.git"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_redact(raw: str, expected: str) -> None:
    assert redact(raw) == expected


# --------------------------------------------------------------------- log shapes


def test_normalize_strips_ansi_sections_and_trace_timestamps() -> None:
    raw = (
        "2024-05-02T10:11:12.123456Z 00O section_start:1700000000:prepare_executor\r\x1b[0K"
        "\x1b[0K\x1b[36;1mPreparing the \"kubernetes\" executor\x1b[0;m"
    )
    assert normalize_line(raw) == ['Preparing the "kubernetes" executor']
    assert normalize_line("section_end:1700000000:prepare_executor\r\x1b[0K") == []
    assert normalize_line("2025-01-21T16:47:02+09:00 ERROR: x") == ["ERROR: x"]
    assert normalize_line("2025-01-21 16:47:02 ERROR: x") == ["ERROR: x"]
    assert normalize_line("Downloading 10%\rDownloading 100%") == ["Downloading 10%", "Downloading 100%"]


def test_normalize_json_records() -> None:
    line = (
        '{"error":"getting Kubernetes config: boom","level":"warning","msg":"Preparation failed",'
        '"runner":"t1_x","time":"2024-08-01T12:00:01Z"}'
    )
    assert normalize_line(line) == ["WARNING: Preparation failed error=getting Kubernetes config: boom runner=t1_x"]
    assert normalize_line('      "message": "MountVolume.SetUp failed for volume \\"a\\" : secret \\"a\\" not found",') == [
        'MountVolume.SetUp failed for volume "a" : secret "a" not found'
    ]
    # kubectl logs --prefix
    assert normalize_line('[pod/gitlab-runner-x/gitlab-runner] {"level":"info","msg":"hi"}') == ["INFO: hi"]


def test_ansi_wrapped_failure_line_is_found() -> None:
    raw = (
        "2024-05-02T10:11:12.123456Z 00O \x1b[31;1mERROR: Job failed (system failure): prepare environment: "
        'setting up credentials: secrets is forbidden: User "system:serviceaccount:ci:default" cannot create '
        'resource "secrets" in API group "" in the namespace "ci"\x1b[0;m'
    )
    f = analyze_text(raw).findings[0]
    assert f.catalog == "E01"
    assert "\x1b" not in f.evidence[0] and not f.evidence[0].startswith("2024")


def test_detect_source() -> None:
    assert detect_source((DATA / "job-healthy.log").read_text().splitlines()) == "J"
    assert detect_source((DATA / "manager-healthy.log").read_text().splitlines()) == "M"
    assert detect_source((DATA / "manager-events-secret-not-found.log").read_text().splitlines()) == "ME"
    assert detect_source((DATA / "job-events-secret-volume-not-found.log").read_text().splitlines()) == "JE"
    assert analyze_file(DATA / "job-healthy.log").source == "J"


def test_bad_source_hint() -> None:
    with pytest.raises(ValueError):
        analyze_text("x", source_hint="X")


def test_100k_lines_find_the_one_failure() -> None:
    """A long healthy log with one failing job at the end: found, nothing else (speed is in scripts/bench)."""
    healthy = (DATA / "manager-healthy.log").read_text().splitlines()
    failing = (DATA / "job-pods-attach-forbidden.log").read_text().splitlines()
    lines = (healthy * (100_000 // len(healthy) + 1))[:99_990] + failing
    analysis = analyze_lines(lines)
    assert analysis.catalog_ids == {"E11"}
    assert analysis.lines == len(lines)
