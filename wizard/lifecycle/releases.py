"""``runner-wizard rollback`` and ``runner-wizard upgrade``: move the Helm release between revisions
and chart versions, always after a preview.

The preview is read from the cluster, not from helm's memory: the release records
(``sh.helm.release.v1.<release>.v<N>`` Secrets, decoded) hold every revision's chart
version and user values. It shows

* the **values diff** (user-supplied values, key by key; ``runners.config`` line by line;
  values under token/password keys are never shown), and
* **what the chart changes** between the two versions (:func:`wizard.chart.facts`: the
  GitLab Runner version and so the manager and helper images, the top-level ``namespace``
  value from 0.83.0, the Role placement of ``rbac.create`` from 0.84.0, and the top-level
  keys the target chart does not define, which it ignores).

``rollback [--to REVISION]`` then runs ``helm rollback`` (default: the revision before
the deployed one) and checks the release records again.

``upgrade [--to VERSION]`` (or a changed ``runner.chart_version``) runs the whole apply
path (render, checks, server-side apply, ``helm upgrade --install``, verify) with the new
version. When helm fails, or verification says the manager is not available, it offers
``helm rollback`` to the revision that was deployed before; on a terminal it asks, and
``--rollback-on-failure`` says yes in advance (``--yes`` alone accepts the upgrade only).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from wizard import chart as _chart
from wizard.errors import WizardError
from wizard.lifecycle.common import (Confirm, Revision, Target, bad, connect, current, go_ahead, helm_binary,
                                     revisions, target_from_args)

if TYPE_CHECKING:
    from wizard.kube import Kube

SECRET_KEY = re.compile(r"(?i)(token|password|passwd)")
HIDDEN = "(secret value, not shown)"


# --------------------------------------------------------------------------- preview


def _flatten(v: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(v, dict) and v:
        out: dict[str, Any] = {}
        for k, sub in v.items():
            out.update(_flatten(sub, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: v}


def _show(path: str, v: Any) -> str:
    if SECRET_KEY.search(path.rsplit(".", 1)[-1]) and isinstance(v, str) and v:
        return HIDDEN
    return json.dumps(v, ensure_ascii=False)


def values_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``- path: old`` / ``+ path: new`` lines; multi-line strings as a unified diff."""
    a, b = _flatten(old or {}), _flatten(new or {})
    lines: list[str] = []
    for path in sorted(set(a) | set(b)):
        if path in a and path in b and a[path] == b[path]:
            continue
        va, vb = a.get(path), b.get(path)
        if isinstance(va, str) and isinstance(vb, str) and ("\n" in va or "\n" in vb):
            lines.append(f"~ {path}:")
            diff = difflib.unified_diff(va.splitlines(), vb.splitlines(), lineterm="", n=1)
            lines += [f"    {ln}" for ln in list(diff)[2:]]
            continue
        if path in a:
            lines.append(f"- {path}: {_show(path, va)}")
        if path in b:
            lines.append(f"+ {path}: {_show(path, vb)}")
    return lines


def chart_changes(old_version: str, new_version: str, old_values: dict[str, Any] | None = None,
                  new_values: dict[str, Any] | None = None, release_namespace: str = "") -> list[str]:
    """What moving from chart ``old_version`` to ``new_version`` changes, in plain sentences."""
    if old_version == new_version:
        return [f"chart stays {new_version}"]
    fo, fn = _chart.facts(old_version), _chart.facts(new_version)
    po, pn = _chart.parse(old_version), _chart.parse(new_version)
    direction = "downgrade" if po and pn and pn < po else "upgrade"
    out = [f"chart {old_version} -> {new_version} ({direction})"]
    if fo.runner_version != fn.runner_version:
        out.append(f"GitLab Runner {fo.runner_version} -> {fn.runner_version}: the manager image becomes "
                   f"alpine-v{fn.runner_version} and job pods pull helper x86_64-v{fn.runner_version} "
                   "(mirror it first on an air-gapped cluster)")
    if fo.namespace_value != fn.namespace_value:
        out.append("the top-level `namespace` value " + ("is read from now on (0.83.0+): it moves every object"
                                                         if fn.namespace_value else
                                                         "is not read by the target chart (before 0.83.0)"))
    if fo.role_in_jobs_namespace != fn.role_in_jobs_namespace:
        ov, nv = old_values or {}, new_values or {}
        if (ov.get("rbac") or {}).get("create") or (nv.get("rbac") or {}).get("create"):
            before = _chart.role_namespace(old_version, ov, release_namespace)
            after = _chart.role_namespace(new_version, nv, release_namespace)
            out.append(f"rbac.create: the chart's Role moves from namespace {before} to {after} (0.84.0 moved it "
                       "into runners.jobNamespace)")
        else:
            out.append("the chart's rbac.create Role placement changes at 0.84.0; rbac.create is false here "
                       "(runner-wizard's own Role lives in the jobs namespace), so nothing moves")
    for ver, facts in ((old_version, fo), (new_version, fn)):
        if not facts.tested:
            out.append(f"chart {ver} is not one runner-wizard is tested with ({', '.join(_chart.TESTED)})")
    return out


def ignored_keys(values: dict[str, Any], chart_version: str, chart: str | None = None) -> list[str]:
    """Top-level keys of ``values`` the packaged chart's values.yaml does not define (the chart
    ignores them), when the chart is a local package; [] when it cannot be read."""
    defaults = chart_defaults(chart_version, chart)
    if defaults is None:
        return []
    return sorted(k for k in values if k not in defaults)


def chart_defaults(chart_version: str, chart: str | None = None) -> dict[str, Any] | None:
    """values.yaml of the local chart of ``chart_version`` (``chart``: ``--chart``), None when it is not local."""
    import os
    import tarfile

    import yaml

    from wizard.helm import chart_reference

    ref = chart_reference(chart_version, chart)
    if not (os.path.isfile(ref) and tarfile.is_tarfile(ref)):
        return None
    try:
        with tarfile.open(ref) as tar:
            member = next((m for m in tar.getmembers() if m.name.count("/") == 1
                           and m.name.endswith("/values.yaml")), None)
            f = tar.extractfile(member) if member else None
            doc = yaml.safe_load(f.read()) if f else None
    except (OSError, tarfile.TarError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


def preview(t: Target, old: Revision, *, new_version: str, new_values: dict[str, Any], new_label: str) -> str:
    lines = [f"{t}: revision {old.number} (chart {old.chart_version}, {old.status}) -> {new_label}",
             "what the chart changes:"]
    lines += [f"  {s}" for s in chart_changes(old.chart_version, new_version, old.values, new_values, t.namespace)]
    dropped = ignored_keys(new_values, new_version, t.config().chart)
    if dropped:
        lines.append(f"  chart {new_version} does not define {', '.join(dropped)}: helm passes them, the chart "
                     "ignores them")
    diff = values_diff(old.values, new_values)
    lines.append("values diff (user-supplied values):" if diff else "values: unchanged")
    lines += [f"  {ln}" for ln in diff]
    return "\n".join(lines)


# --------------------------------------------------------------------------- helm rollback


def helm_rollback(t: Target, revision: int) -> str:
    from wizard.helm import error_from, run

    binary = helm_binary()
    proc = run([binary, "rollback", t.release, str(revision), *t.helm_flags()], timeout_s=t.config().helm_timeout)
    if proc.returncode != 0:
        err = error_from(proc, what="helm rollback")
        raise WizardError(f"{err.message}" + (f"; {err.next_step}" if err.next_step else ""))
    return (proc.stdout or "").strip()


def rollback(kube: Kube, t: Target, revision: int) -> Revision:
    """``helm rollback`` to ``revision``; returns the new deployed revision (checked in the records)."""
    helm_rollback(t, revision)
    revs = revisions(kube, t)
    now = current(revs)
    target = revs.get(revision)
    if now is None or now.status != "deployed" or (target and now.chart_version != target.chart_version):
        raise WizardError(f"helm rollback ran, but the release records do not show revision {revision}'s chart "
                          "deployed; inspect with: helm history " + f"-n {t.namespace} {t.release}")
    return now


def _previous(revs: dict[int, Revision], cur: Revision) -> Revision | None:
    """The newest revision before ``cur`` that once worked (deployed or superseded), else any earlier one."""
    earlier = [r for n, r in revs.items() if n < cur.number]
    good = [r for r in earlier if r.status in ("deployed", "superseded")]
    return (good or earlier or [None])[-1]


# --------------------------------------------------------------------------- commands


def command(args: Any, opts: Any) -> int:
    if args.command == "rollback":
        return rollback_command(args, opts)
    return upgrade_command(args, opts)


def rollback_command(args: Any, opts: Any) -> int:
    """``runner-wizard rollback [--to REVISION]``: 0 rolled back (or dry run), 1 declined/failed, 2 bad input."""
    t = target_from_args(args, opts)
    kube = connect(t)
    try:
        revs = revisions(kube, t)
        if not revs:
            raise bad("--namespace/--release", f"no Helm release {t} (no release Secret); nothing to roll back")
        cur = list(revs.values())[-1]  # the newest record: deployed, or failed after a bad upgrade
        if args.to is not None:
            to = revs.get(args.to)
            if to is None:
                have = ", ".join(str(n) for n in revs)
                raise bad("--to", f"revision {args.to} of {t} is not stored (revisions: {have})")
        else:
            to = _previous(revs, cur)
            if to is None:
                raise bad("--to", f"{t} has only revision {cur.number}; there is nothing to roll back to")
        if to.number == cur.number:
            print(f"{t} is at revision {cur.number} already; nothing to do")
            return 0
        print(preview(t, cur, new_version=to.chart_version, new_values=to.values,
                      new_label=f"revision {to.number} (chart {to.chart_version})"))
        ask, rc = go_ahead(args, f"roll {t} back to revision {to.number}?")
        if ask is None:
            return rc
        now = rollback(kube, t, to.number)
        print(f"rolled back: {t} is at revision {now.number} (chart {now.chart_version}, a copy of revision "
              f"{to.number})")
        if t.answers is not None and t.answers.runner.chart_version != now.chart_version:
            print(f"note: runner.chart_version in {args.answers} is {t.answers.runner.chart_version}; set it to "
                  f"\"{now.chart_version}\", or the next apply upgrades again")
        _verify_after(kube, t)
        return 0
    finally:
        kube.close()


def _verify_after(kube: Kube, t: Target) -> bool | None:
    if t.answers is None:
        return None
    from wizard.verify import wait_deployment

    v = wait_deployment(t.answers, kube, timeout_s=t.config().verify_timeout)
    print(f"{'verified' if v.ok else 'NOT VERIFIED'}: {v.what}: {v.reason}")
    return v.ok


def upgrade_command(args: Any, opts: Any) -> int:
    """``runner-wizard upgrade --answers FILE [--to VERSION]``: 0 upgraded and verified (or nothing to do, or
    dry run), 1 not verified / failed (rolled back or not), 2 bad input."""
    from wizard.tls import load_ca_pem
    from wizard.render import render

    t = target_from_args(args, opts)
    a = t.answers
    if a is None:
        raise bad("--answers", "upgrade runs the apply path, which renders the values from an answers file "
                       "(runner-wizard adopt writes one for an install made by hand)")
    version = args.to or a.runner.chart_version
    if _chart.parse(version) is None:
        raise bad("--to", f'"{version}" is not a chart version like 0.86.0')
    problem = _chart.version_problem(version)
    if problem:
        raise bad("--to", problem)
    a = dataclasses.replace(a, runner=dataclasses.replace(a.runner, chart_version=version))
    kube = connect(t)
    try:
        revs = revisions(kube, t)
        cur = current(revs)
        if cur is None:
            raise bad("--answers", f"no Helm release {t} to upgrade; install it with runner-wizard apply")
        rendered = render(a, ca_pem=load_ca_pem(a, fetch=False))
        print(preview(t, cur, new_version=version, new_values=rendered.values, new_label=f"chart {version}"))
        if cur.chart_version == version and not values_diff(cur.values, rendered.values):
            print(f"nothing to upgrade: {t} already runs chart {version} with these values")
            return 0
        ask, rc = go_ahead(args, f"upgrade {t} to chart {version}?")
        if ask is None:
            return rc
        return _upgrade(kube, t, a, cur, args, opts, ask)
    finally:
        kube.close()


def _upgrade(kube: Kube, t: Target, a: Any, before: Revision, args: Any, opts: Any, ask: Confirm) -> int:
    from wizard.apply import apply
    from wizard.console import redacted_printer

    report = apply(a, kube=kube, assume_yes=True, out_dir=getattr(args, "out", None), reporter=redacted_printer(),
                   kubeconfig=opts.kubeconfig, settings=t.config())
    helm_failed = report.helm_action == "failed"
    not_available = [v for v in report.verifications if v.ok is False]
    unjudged = not helm_failed and bool(not_available) and not _deployment_processed(kube, a)
    if unjudged:
        # Nothing in this cluster processes Deployments (no controller-manager): the new revision cannot be
        # judged by its pods, so it is not blamed for them either.
        not_available = []
    if report.stopped and not helm_failed:
        print(f"upgrade stopped before helm ({report.stopped}): {report.error or 'see above'}; the release is "
              f"unchanged at revision {before.number}")
        return 1
    if not helm_failed and not not_available:
        now = current(revisions(kube, t))
        print(f"upgraded: {t} is at revision {now.number if now else '?'} (chart {a.runner.chart_version})"
              + (" and verified" if report.verified else
                 "; not verified: nothing in this cluster runs the manager's pods" if unjudged else
                 "; not verified"))
        _note_answers(args, t, a.runner.chart_version)
        return 0 if report.verified else 1
    why = report.error if helm_failed else "; ".join(f"{v.what}: {v.reason}" for v in not_available)
    print(f"the upgrade {'failed' if helm_failed else 'is not verified'}: {why}")
    cmd = f"helm rollback {t.release} {before.number} -n {t.namespace}"
    if getattr(args, "rollback_on_failure", False):
        ok = True
    elif sys.stdin.isatty() and sys.stdout.isatty():
        ok = ask(f"roll back to revision {before.number} (chart {before.chart_version})?", True)
    else:
        ok = False
    if not ok:
        print(f"not rolled back; to return to the previous state run: {cmd} (or runner-wizard rollback --to "
              f"{before.number})")
        return 1
    now = rollback(kube, t, before.number)
    print(f"rolled back: {t} is at revision {now.number} (chart {now.chart_version}, a copy of revision "
          f"{before.number})")
    return 1


def _deployment_processed(kube: Kube, a: Any) -> bool:
    """Has a controller looked at the manager Deployment at all (``status.observedGeneration``)?"""
    from wizard import names
    from wizard.kube import KubeError, collection_path

    try:
        dep = kube.get_or_none(f"{collection_path('Deployment', a.cluster.runner_namespace)}/{names.deployment(a)}")
    except KubeError:
        return True
    return bool(((dep or {}).get("status") or {}).get("observedGeneration"))


def _note_answers(args: Any, t: Target, version: str) -> None:
    if t.answers is not None and t.answers.runner.chart_version != version:
        print(f"note: set runner.chart_version: \"{version}\" in {args.answers}, or the next apply goes back to "
              f"{t.answers.runner.chart_version}")
