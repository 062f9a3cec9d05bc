"""DNS and host aliases, seen from this machine (E08, E29, E04)."""

from __future__ import annotations

import socket
import threading

from .. import tls
from ..results import Status
from .engine import CheckContext, CheckSpec, Skip


class ResolveTimeout(Exception):
    pass


def resolve(host: str, timeout: float) -> list[str]:
    """Addresses of ``host`` (getaddrinfo in a daemon thread, bounded by ``timeout``).

    Raises socket.gaierror when the name does not resolve, ResolveTimeout when the resolver hangs."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            box["ips"] = list(dict.fromkeys(str(i[4][0]) for i in infos))
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            box["exc"] = exc

    t = threading.Thread(target=work, name=f"resolve:{host}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise ResolveTimeout(f"the resolver gave no answer for {host} within {timeout:g}s")
    if "exc" in box:
        raise box["exc"]  # type: ignore[misc]
    return box["ips"]  # type: ignore[return-value]


def _lookup(ctx: CheckContext, host: str) -> tuple[list[str] | None, str]:
    """(addresses or None, problem text). Cached per host for the run."""
    def run() -> tuple[list[str] | None, str]:
        try:
            return resolve(host, ctx.t(3.0)), ""
        except socket.gaierror as exc:
            return None, f"does not resolve here ({exc.strerror or exc})"
        except ResolveTimeout as exc:
            return None, str(exc)
        except OSError as exc:
            return None, f"lookup failed ({exc})"

    return ctx.fact(f"dns:{host.lower()}", run)


def check_alias(ctx: CheckContext):
    alias = ctx.item
    rows, odd = [], []
    for name in alias.hostnames:
        ips, problem = _lookup(ctx, name)
        if ips is None:
            rows.append(f"{name}: {problem}; pods get {alias.ip} from the alias")
        elif alias.ip in ips:
            rows.append(f"{name}: resolves to {alias.ip} here too")
        else:
            rows.append(f"{name}: resolves to {', '.join(ips)} here, but the alias sends pods to {alias.ip}")
            odd.append(name)
    targets = " and ".join(alias.targets)
    detail = f"alias for {targets} pods: " + "; ".join(rows)
    if odd:
        return ctx.warn(detail, f"make sure {alias.ip} is right for {', '.join(odd)}: pods and this machine "
                        "would talk to different servers", ("E08", "E29"))
    return ctx.ok(detail, catalog=("E08",))


def check_gitlab(ctx: CheckContext):
    a = ctx.answers
    g = a.gitlab
    host = g.host
    if tls.is_ip(host):
        return ctx.ok(f"gitlab.url uses the IP {host}: no name to resolve (see tls.gitlab.name for the "
                      "certificate)", catalog=("E08", "E29"))
    mgr, jobs = ctx.alias_ip(host, "manager"), ctx.alias_ip(host, "jobs")
    ips, problem = _lookup(ctx, host)
    issues: list[tuple[Status, str, str, tuple[str, ...]]] = []
    if ips is None:
        if mgr and jobs:
            base = f"{host} {problem}; host_aliases give manager and job pods {mgr}"
        elif mgr:
            issues.append((Status.FAIL, f"{host} {problem}; the host alias covers only the manager pod, so job "
                                        "pods cannot resolve it and git clone fails (Could not resolve host)",
                           f"add jobs to the targets of the host alias for {host}", ("E08",)))
            base = ""
        elif jobs:
            issues.append((Status.FAIL, f"{host} {problem}; the host alias covers only job pods, so the manager "
                                        "cannot register", f"add manager to the targets of the host alias for "
                                                           f"{host}", ("E29",)))
            base = ""
        else:
            issues.append((Status.FAIL, f"{host} {problem} and no host alias covers it: the manager cannot "
                                        "register and job pods cannot clone",
                           f"fix DNS for {host} (cluster DNS too), or add host_aliases: "
                           f"[{{ip: <GitLab IP>, hostnames: [{host}]}}]", ("E29", "E08")))
            base = ""
    else:
        base = f"{host} resolves to {', '.join(ips)} here"
        for who, ip in (("manager", mgr), ("job", jobs)):
            if ip and ip not in ips:
                issues.append((Status.WARN, f"{base}, but the host alias sends {who} pods to {ip}",
                               "check that the alias IP is GitLab's address as seen from the cluster", ("E29",)))
                break
        if not issues and not (mgr and jobs):
            base += " (this machine's DNS; job pods use the cluster's DNS, which may differ)"
    # the certificate must cover the aliased name
    if (mgr or jobs) and g.url.startswith("https"):
        from .tls import gitlab_verdict

        try:
            v = gitlab_verdict(ctx)
            leaf = v.chain[0]
            if not tls.name_covered(leaf, host):
                issues.append((Status.FAIL, f"the host alias maps {host}, but GitLab's certificate does not cover "
                                            f"that name (it covers {', '.join(leaf.sans) or 'no SANs'})",
                               f"use a name the certificate covers, or reissue it with DNS:{host}", ("E04",)))
            elif base:
                base += f"; the certificate covers {host}"
        except (tls.FetchError, Skip):
            pass
    if issues:
        worst = max(issues, key=lambda i: i[0].rank)
        return ctx.result(worst[0], "; ".join(i[1] for i in issues), worst[2],
                          tuple(dict.fromkeys(c for i in issues for c in i[3])))
    return ctx.ok(base, catalog=("E08", "E29"))


CHECKS = [
    CheckSpec("dns.alias.<n>", "dns", "host_aliases", "Host alias {item.ip}", check_alias, timeout=5.0,
              each=lambda a: list(a.host_aliases), on_timeout=Status.WARN),
    CheckSpec("dns.gitlab", "dns", "gitlab", "GitLab's host name resolves (or has a host alias)", check_gitlab,
              timeout=7.0, catalog=("E29",)),
]
