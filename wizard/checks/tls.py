"""TLS to GitLab: the presented chain, trust, name and expiry (E02, E03, E04), as the runner decides.

The manager's verdict is Go's (``wizard.tls``); git in job pods gets its own result (OpenSSL)."""

from __future__ import annotations

from typing import Any

from .. import tls as wtls
from ..errors import BadInput
from ..results import Status
from .engine import CheckContext, CheckSpec, Skip

STEP = "gitlab"
CA_FIX = ("set gitlab.ca.file to a PEM bundle with the CA that signed GitLab's certificate (root and "
          "intermediates); runner-wizard puts it into the runner's CA Secret as <host>.crt")


class FingerprintMismatch(Exception):
    pass


# --------------------------------------------------------------------------- shared facts


def gitlab_chain(ctx: CheckContext) -> list[Any]:
    """The chain GitLab presents (fetched once per run). Raises Skip for http URLs, FetchError."""
    g = ctx.answers.gitlab
    if not g.url.lower().startswith("https://"):
        raise Skip("gitlab.url is plain http: no TLS to check")

    def fetch() -> list[Any]:
        return wtls.fetch_chain(g.host, g.port, timeout=ctx.t(4.0),
                                   connect_to=ctx.alias_ip(g.host, "manager"))

    return ctx.fact("gitlab_chain", fetch)


def extra_roots(ctx: CheckContext) -> tuple[list[Any], str]:
    """(trust anchors from gitlab.ca, where they came from). Raises FingerprintMismatch, OSError."""
    ca = ctx.answers.gitlab.ca
    if ca is None:
        return [], ""

    def compute() -> tuple[list[Any], str]:
        if ca.file:
            path = ctx.answers.resolve_path(ca.file)
            data = path.read_bytes()
            try:  # judge what apply puts into the CA Secret (normalized PEM), when the file is usable
                data = wtls.ca_from_file(path).encode()
            except BadInput:
                pass
            return wtls.load_pem_certificates(data), f"gitlab.ca.file ({ca.file})"
        chain = gitlab_chain(ctx)
        if ca.fingerprint:
            want = wtls.normalize_fingerprint(ca.fingerprint)
            if not any(wtls.fingerprint(c) == want for c in chain):
                seen = ", ".join(f"{wtls.common_name(c.subject) or '?'} {wtls.fingerprint(c)}"
                                 for c in chain)
                raise FingerprintMismatch(f"no certificate the server presents has the fingerprint {want} "
                                          f"(presented: {seen}); someone may be intercepting the "
                                          "connection, or the fingerprint is of another certificate")
            try:  # exactly what apply puts into the CA Secret
                pinned = wtls.trusted_from_chain(chain, want)
            except ValueError as exc:
                raise FingerprintMismatch(str(exc)) from None
            return pinned, f"the presented chain, pinned by fingerprint {want}"
        cas = [c for c in chain if wtls.is_ca(c)] or chain[-1:]
        return cas[-1:], "the presented chain (trusted on first use: no fingerprint given)"

    return ctx.fact("gitlab_extra_roots", compute)


def ca_pem(ctx: CheckContext) -> str | None:
    """PEM of gitlab.ca for HTTP clients, or None (system store only)."""
    try:
        roots, _ = extra_roots(ctx)
    except (FingerprintMismatch, OSError, wtls.FetchError, Skip):
        return None
    return wtls.to_pem(roots) if roots else None


def gitlab_verdict(ctx: CheckContext) -> wtls.Verdict:
    chain = gitlab_chain(ctx)

    def compute() -> wtls.Verdict:
        try:
            roots, _ = extra_roots(ctx)
        except (FingerprintMismatch, OSError):
            roots = []
        return wtls.verify(chain, ctx.answers.gitlab.host, extra_roots=roots, port=ctx.answers.gitlab.port)

    return ctx.fact("gitlab_verdict", compute)


def _chain_or_fail(ctx: CheckContext) -> list[Any]:
    try:
        return gitlab_chain(ctx)
    except wtls.FetchError as exc:
        raise Skip(f"no certificate to check: {exc.message}") from None


# --------------------------------------------------------------------------- checks


def check_chain(ctx: CheckContext):
    g = ctx.answers.gitlab
    try:
        chain = gitlab_chain(ctx)
    except wtls.FetchError as exc:
        catalog = {"dns": ("E29", "E08"), "refused": ("E29",), "timeout": ("E29",),
                   "handshake": ("E02",), "network": ("E29",)}[exc.kind]
        fixes = {
            "dns": f"make {g.host} resolvable here and in the cluster, or add a host alias for it",
            "refused": f"check the port in gitlab.url ({g.port}) and that GitLab listens on it",
            "timeout": "check firewalls, proxies and the port; the server accepted nothing or never answered",
            "handshake": "check that the port serves HTTPS (not plain HTTP) and that TLS 1.2+ is enabled",
            "network": "check routing between this machine and GitLab",
        }
        via = ctx.alias_ip(g.host, "manager")
        extra = f" (dialled {via} from host_aliases)" if via else ""
        return ctx.fail(f"{exc.kind}: {exc.message}{extra}", fixes[exc.kind], catalog, data={"kind": exc.kind})
    infos = [wtls.describe(c) for c in chain]
    lines = [f"[{i}] {ci.one_line()}" for i, ci in enumerate(infos)]
    data = {"chain": [ci.as_dict() for ci in infos], "host": g.host, "port": g.port}
    detail = f"{g.host}:{g.port} presented {len(chain)} certificate(s): " + " | ".join(lines)
    verdict = gitlab_verdict(ctx)
    inc = verdict.by_code("incomplete_chain")
    if inc:
        return ctx.fail(f"{inc[0].message}. {detail}", inc[0].fix, ("E02",), data=data)
    return ctx.ok(detail, data=data)


def check_trust(ctx: CheckContext):
    g = ctx.answers.gitlab
    chain = _chain_or_fail(ctx)
    try:
        roots, source = extra_roots(ctx)
    except FingerprintMismatch as exc:
        return ctx.fail(str(exc), "compare the fingerprint with the one your GitLab admin publishes, then "
                        "correct gitlab.ca.fingerprint", ("E02",))
    except OSError as exc:
        return ctx.fail(f"cannot read gitlab.ca.file: {exc}", "fix the path in gitlab.ca.file", ("E03",))
    verdict = gitlab_verdict(ctx)
    runner = verdict.runner
    data = {"trusted_by": verdict.trusted_by, "path": verdict.path,
            "ca_source": source, "chain": [c.as_dict() for c in verdict.chain],
            "runner": {"trusted": bool(runner and runner.trusted), "go_error": runner.text if runner else ""}}
    faults = []
    if g.ca is not None and g.ca.file:
        faults = wtls.ca_bundle_faults(roots, chain[0], f"gitlab.ca.file ({g.ca.file})")
    hard = [f for f in faults if f.severity == "fail"]
    if hard:
        return ctx.fail(hard[0].message, "replace the file's content with the CA certificate(s) that signed "
                        "GitLab's certificate, in PEM", ("E02", "E03"), data=data)
    if verdict.trusted and faults:
        return ctx.warn(f"trusted with {source}; {faults[0].message}",
                        "put the CA that signed GitLab's certificate into gitlab.ca.file instead", ("E02",),
                        data=data)
    if verdict.trusted and verdict.trusted_by == "system":
        return ctx.ok(f"trusted by the system store (path: {' -> '.join(verdict.path)})", data=data,
                      catalog=("E02",))
    if verdict.trusted:
        detail = (f"trusted with {source} (path: {' -> '.join(verdict.path)}); the runner gets this CA "
                  f"through the CA Secret, key {g.ca_key}")
        if g.ca is not None and not g.ca.file and not g.ca.fingerprint:
            return ctx.warn(detail + "; without gitlab.ca.fingerprint the CA is trusted on first use",
                            "add gitlab.ca.fingerprint so headless runs pin this CA", ("E02",), data=data)
        return ctx.ok(detail, data=data, catalog=("E02", "E03"))
    trust_faults = verdict.by_code(*wtls.TRUST_CODES)
    msg = "; ".join(f.message for f in trust_faults) or "the chain is not trusted"
    where = f"system store + {source}" if source else "the system store (no gitlab.ca given)"
    fix = trust_faults[0].fix if trust_faults and trust_faults[0].fix else CA_FIX
    return ctx.fail(f"not trusted by {where}: {msg}", fix, ("E02",), data=data)


def check_name(ctx: CheckContext):
    g = ctx.answers.gitlab
    _chain_or_fail(ctx)
    verdict = gitlab_verdict(ctx)
    faults = verdict.by_code("cn_only", "name_mismatch", "ip_needs_ip_san")
    leaf = verdict.chain[0]
    data = {"sans": leaf.sans, "host": g.host, "suggestion": verdict.suggestion}
    if not faults:
        return ctx.ok(f"{g.host} is covered by the certificate's SANs ({', '.join(leaf.sans)})",
                      data=data, catalog=("E04",))
    if verdict.suggestion:
        fix = verdict.suggestion["text"]
    elif faults[0].fix:
        fix = faults[0].fix
    else:
        fix = (f"reissue the certificate with a SAN for {g.host}, or use a host name it covers "
               f"({', '.join(leaf.sans)}) in gitlab.url; installing CA files does not fix a name mismatch")
    return ctx.fail(faults[0].message, fix, ("E04",), data=data)


def check_expiry(ctx: CheckContext):
    _chain_or_fail(ctx)
    verdict = gitlab_verdict(ctx)
    leaf = verdict.chain[0]
    data = {"not_after": leaf.not_after.isoformat(), "days_left": int(leaf.days_left())}
    hard = verdict.by_code("expired", "not_yet_valid")
    if hard:
        return ctx.fail("; ".join(f.message for f in hard), "renew GitLab's certificate (or fix the clocks)",
                        ("E04",), data=data)
    soon = verdict.by_code("expiring")
    if soon:
        return ctx.warn("; ".join(f.message for f in soon), "renew the certificate before it expires; the "
                        "runner caches the chain, so restart the manager after renewing", ("E04", "E05"),
                        data=data)
    return ctx.ok(f"valid until {leaf.not_after:%Y-%m-%d} ({int(leaf.days_left())} days left)", data=data,
                  catalog=("E04",))


def check_jobs(ctx: CheckContext):
    """git in job pods (default Alpine helper: libcurl + OpenSSL) against the manager's verdict."""
    _chain_or_fail(ctx)
    verdict = gitlab_verdict(ctx)
    jobs = verdict.jobs
    if jobs is None:
        raise Skip("no job-pod verdict")
    manager = bool(verdict.runner and verdict.runner.trusted)
    data = {"trusted": jobs.trusted, "openssl_error": jobs.text, "manager_trusts": manager}
    if jobs.trusted and manager:
        return ctx.ok("git in job pods (OpenSSL, default helper image) trusts GitLab with the same CA file",
                      data=data, catalog=("E02",))
    if not manager:
        see = "tls.gitlab.trust" if not verdict.trusted else "tls.gitlab.name" if not verdict.name_ok \
            else "tls.gitlab.expiry"
        if jobs.trusted:
            return ctx.skip(f"git in job pods would accept this certificate, but the runner manager rejects it "
                            f"first (see {see})", data=data)
        return ctx.skip(f"the runner manager rejects the certificate first (see {see}); git in job pods would "
                        f"too (OpenSSL: {jobs.text})", data=data)
    f = verdict.jobs_fault
    assert f is not None
    return ctx.warn(f"the runner manager trusts GitLab, but {f.message}; jobs would fail at git clone",
                    f.fix, ("E02", "E05"), data=data)


CHECKS = [
    CheckSpec("tls.gitlab.chain", "tls", STEP, "GitLab presents a complete certificate chain", check_chain,
              timeout=6.0, catalog=("E29",)),
    CheckSpec("tls.gitlab.trust", "tls", STEP, "GitLab's certificate is trusted", check_trust, timeout=6.0,
              catalog=("E02",)),
    CheckSpec("tls.gitlab.name", "tls", STEP, "GitLab's certificate covers the URL's host", check_name,
              timeout=6.0, catalog=("E04",)),
    CheckSpec("tls.gitlab.expiry", "tls", STEP, "GitLab's certificate is within its validity", check_expiry,
              timeout=6.0, catalog=("E04",), on_timeout=Status.WARN),
    CheckSpec("tls.gitlab.jobs", "tls", STEP, "Job pods (git in the helper image) trust GitLab", check_jobs,
              timeout=6.0, catalog=("E02",), on_timeout=Status.WARN),
]
