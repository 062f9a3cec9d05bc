"""The terminal side of the core: the ``apply``, ``render`` (and ``--gitops``) and ``check`` commands.

The core (:mod:`wizard.apply`, :mod:`wizard.render`, :mod:`wizard.gitops`, :mod:`wizard.checks`)
returns reports, documents and results and sends progress events; this module prints them:
apply's progress lines, its summary and its dry-run diff, the paths render wrote, the check table.
``adopt`` and ``upgrade`` (wizard.lifecycle, the layer above) print their apply runs with it too;
the layer contract in pyproject.toml keeps it above apply and below the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from . import diff as _diff
from .kube import KubeError
from .progress import CHANGED, FAIL, INFO, OK, PROGRESS, SKIP, START, UNCHANGED, WARN, Event

if TYPE_CHECKING:
    from .apply import ApplyReport

MARKS = {START: "==>", PROGRESS: "   ..", OK: "  ok", CHANGED: "  ~", UNCHANGED: "  =", WARN: "  !",
         FAIL: "  x", SKIP: "  -", INFO: "  i"}


def print_event(ev: Event, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    mark = MARKS.get(ev.status, "  ")
    if ev.status == START:
        print(f"{mark} [{ev.step}] {ev.message}", file=stream, flush=True)
    else:
        print(f"{mark} {ev.message}", file=stream, flush=True)
    if ev.detail:
        print(ev.detail, file=stream, flush=True)


def redacted_printer(stream: TextIO | None = None) -> Any:
    """A reporter that prints each event with every secret seen so far redacted."""
    from .logsafe import redact

    def reporter(ev: Event) -> None:
        print_event(Event(ev.step, ev.status, redact(ev.message), redact(ev.detail), ev.data), stream)

    return reporter


def tty_confirm(question: str, default: bool) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    try:
        ans = input(f"{question} {hint} ").strip().lower()
    except EOFError:
        return default
    if not ans:
        return default
    return ans in ("y", "yes")


def command(args: Any, opts: Any, *, answers: Any = None, record: Any = None) -> int:
    """``runner-wizard apply --answers FILE [--dry-run] [--yes] [--out DIR] [--force-conflicts] [--ignore ID,...]``.

    ``answers`` (already read, e.g. one cluster of a fleet) and ``record`` (called with the
    report) are for :mod:`wizard.fleet_cli`."""
    from .kube import Kube

    # The TLS handshake overlaps the imports and the answers; the live checks use the same connection.
    opening = Kube.opening(opts.kubeconfig, opts.context, shared=True)
    from . import apply as core
    from .settings import from_env
    from .answers import load
    from .checks import validate_ignore
    from .logsafe import redact
    from .results import parse_ignore
    from .tls import load_ca_pem

    if args.out is not None:
        from .render import preflight_out

        preflight_out(Path(args.out))
    settings = getattr(opts, "settings", None) or from_env()
    answers = settings.with_answers(answers if answers is not None else load(args.answers))
    dry_run = bool(args.dry_run)
    core.require_secrets(answers)
    ignore = parse_ignore(getattr(args, "ignore", None))
    validate_ignore(answers, sorted(ignore))
    from .kube import require_context

    require_context(opts.kubeconfig, opts.context or answers.cluster.context,
                    "--context" if opts.context else "cluster.context")
    load_ca_pem(answers)  # a bad CA file is bad input: found before anything is contacted
    # Every check only reads: they start now, while the rest of apply is imported and the
    # connection opens; apply waits for their results before it plans anything.
    checks = core.start_checks(answers, opts.kubeconfig, opts.context or answers.cluster.context, kube_opening=opening)
    from . import helm, render, tokens, verify  # noqa: F401 - imported now, not on the run's path
    from .apply import execute  # noqa: F401 - likewise
    try:
        kube = opening.take(opts.kubeconfig, opts.context or answers.cluster.context)
    except KubeError:  # not reachable now: connect as before, and the run says where it stopped
        kube = None
    try:
        kube = kube or Kube.connect(opts.kubeconfig, opts.context or answers.cluster.context)
    except KubeError as exc:
        print(f"runner-wizard: {exc.message}", file=sys.stderr)
        return _diff.EXIT_ERROR if dry_run else 1
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    confirm = tty_confirm if (interactive and not args.yes) else None

    def reporter(ev: Event) -> None:
        detail = ev.detail
        if dry_run and ev.step == "plan" and ev.status == CHANGED:  # the diff below shows the fields
            detail = "\n".join(ln for ln in detail.splitlines() if ln.lstrip().startswith("("))
        print_event(Event(ev.step, ev.status, redact(ev.message), redact(detail), ev.data),
                     sys.stderr if dry_run else None)  # a dry run's stdout is the diff alone

    try:
        report = core.apply(answers, kube=kube, dry_run=dry_run, settings=settings, assume_yes=bool(args.yes),
                       force_conflicts=bool(getattr(args, "force_conflicts", False)), out_dir=args.out,
                       reporter=reporter, confirm=confirm, kubeconfig=opts.kubeconfig, ignore=ignore,
                       checks=checks)
    except core.InjectedFault as exc:
        print(f"runner-wizard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        done = getattr(exc, "apply_report", None)
        if done is not None:
            print_interrupted(done)
        raise
    finally:
        if checks.finished():  # the checks share this connection: never closed under them
            kube.close()
    if record is not None:
        record(report=report)
    if dry_run:
        import contextlib

        rc = show_dry_run(report, answers)
        with contextlib.redirect_stdout(sys.stderr):
            print_summary(report)
        return rc
    print_summary(report)
    return report.exit_code


def print_interrupted(report: ApplyReport) -> None:
    """What an interrupted apply already did (it is safe to run apply again to finish)."""
    done = [o for o in report.objects if o.applied]
    lines = [f"apply was interrupted after {report.writes} write(s) to the cluster."]
    for o in done:
        lines.append(f"  {o.action}: {o.ref}")
    if report.token is not None and report.token.runner_id is not None:
        lines.append(f"  runner id {report.token.runner_id} ({report.token.action})")
    if report.helm_action:
        lines.append(f"  helm: {report.helm_action}")
    if report.out_dir:
        lines.append(f"  artifacts: {report.out_dir}")
    lines.append("Run the same apply again to finish: every step is idempotent." if report.writes or done
                 else "Nothing in the cluster was changed.")
    print("\n".join(lines), file=sys.stderr, flush=True)


def print_summary(report: ApplyReport) -> None:
    print()
    if report.error:
        print(f"runner-wizard: {report.error}", file=sys.stderr)
    n_changed = sum(1 for o in report.objects if o.action in (_diff.CREATED, _diff.CHANGED))
    if report.dry_run:
        print(f"Dry run: {n_changed} object(s) would be created or changed"
              + ("" if report.changed else "; nothing would change") + ". Nothing was changed.")
    elif report.stopped:
        print(f"Apply stopped ({report.stopped}).")
    elif not report.changed:
        print("Nothing changed: the cluster already matches the answers.")
    else:
        print(f"Applied: {n_changed} object(s) created or changed, {report.writes} write(s).")
    if report.ignored:
        print(f"Ignored (--ignore): {', '.join(f'{r.id} ({r.status.value})' for r in report.ignored)}")
    if report.token is not None and report.token.runner_id is not None:
        print(f"Runner id: {report.token.runner_id}")
    if report.backup_path:
        print(f"Backup of changed objects: {report.backup_path}")
    if report.out_dir:
        print(f"Artifacts: {report.out_dir}")
    if not report.dry_run and not report.stopped:
        if report.verified:
            print("Verified.")
        else:
            open_items = "; ".join(f"{v.what}: {(v.label or 'not verified').lower()}"
                                   for v in report.verifications if v.ok is False)
            print("NOT VERIFIED: the install did not reach the verified state"
                  + (f" ({open_items})." if open_items else "."))
    if report.next_steps:
        print("Next steps:")
        for i, s in enumerate(dict.fromkeys(report.next_steps), 1):
            print(f"  {i}. {s}")


def show_dry_run(report: Any, answers: Any, *, out: Any = None, err: Any = None,
                 environ: Mapping[str, str] | None = None, runner: Callable[..., Any] | None = None) -> int:
    """Print the dry run's diff (or run ``KUBECTL_EXTERNAL_DIFF``) and return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    if report.stopped:
        return _diff.EXIT_ERROR
    pairs = _diff.dry_run_pairs(report, answers)
    different = bool(report.changed) or any(p.changed for p in pairs)
    command = _diff.external_command(environ)
    if command is not None:
        try:
            out.flush()
            _diff.run_external(command, pairs, environ=environ, runner=runner)
        except _diff.DiffProgramError as exc:
            print(f"runner-wizard: {exc}", file=err)
            return _diff.EXIT_ERROR
    else:
        text = _diff.unified(pairs)
        if text:
            out.write(text)
            out.flush()
    return _diff.EXIT_DIFFERENT if different else _diff.EXIT_SAME


# --------------------------------------------------------------------------- render and render --gitops


def render_command(args: Any, opts: Any, *, answers: Any = None) -> int:
    """``runner-wizard render --answers FILE --out DIR [--with-secrets]``: write the artifacts, print their paths.
    ``answers``: already read (one cluster of a fleet, :mod:`wizard.fleet_cli`)."""
    from . import chart
    from .answers import load
    from .errors import BadInput, FieldError
    from .render import preflight_out, render, write

    if not args.out:
        raise BadInput([FieldError("--out", "is empty; give the folder to write the files into")])
    out = Path(args.out)
    preflight_out(out)
    answers = answers if answers is not None else load(args.answers)
    if getattr(opts, "settings", None) is not None:
        answers = opts.settings.with_answers(answers)  # --chart-version
    ca_pem = None
    if answers.gitlab.ca is not None:  # certificates (and cryptography) only when a CA is configured
        from .tls import load_ca_pem

        ca_pem = load_ca_pem(answers)
    rendered = render(answers, ca_pem=ca_pem)
    warning = chart.version_warning(answers.runner.chart_version) if answers.cluster.mode == "helm" else None
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    paths = write(rendered, out, with_secrets=bool(getattr(args, "with_secrets", False)))
    for p in paths:
        print(p)
    stale = out / "secrets.yaml"
    if not getattr(args, "with_secrets", False) and stale.exists():
        print(f"note: {stale} is left from an earlier --with-secrets run; delete it once applied",
              file=sys.stderr)
    return 0


def gitops_command(args: Any, opts: Any) -> int:
    """``runner-wizard render --gitops ENGINE``: the usual artifacts, then ``gitops-<engine>/``."""
    from . import gitops
    from .answers import load
    from .render import preflight_out, render
    from .settings import from_env
    from .tls import load_ca_pem

    engine: gitops.Engine = args.gitops
    settings = getattr(opts, "settings", None) or from_env()
    from . import fleet

    many = fleet.load(args.answers)
    if many is not None and not getattr(opts, "context", None):
        return _gitops_fleet(args, many, engine, settings)
    picked = None
    if many is not None:  # one cluster of the fleet: today's single-cluster export with its answers
        member = many.members([opts.context])[0]
        if member.error is not None:
            raise member.error
        picked = member.answers
    answers = settings.with_answers(picked if picked is not None else load(args.answers))
    chart = gitops.chart_source(None if settings.chart_is_default else settings.chart, answers.runner.chart_version,
                                option=settings.chart_from or "--chart")
    ca_pem = load_ca_pem(answers)
    files = gitops.export(render(answers, ca_pem=ca_pem), engine, chart)  # bad input stops here, before any write
    preflight_out(Path(args.out) / f"gitops-{engine}", list(files))
    rc = render_command(args, opts, answers=picked)
    if rc:
        return rc
    for p in gitops.write(files, Path(args.out) / f"gitops-{engine}"):
        print(p)
    return 0


def _gitops_fleet(args: Any, many: Any, engine: Any, settings: Any) -> int:
    """``render --gitops`` of an answers file with ``clusters``: ``gitops-<engine>/`` for them all
    (``render`` without ``--gitops`` writes each cluster's usual artifacts)."""
    from . import gitops
    from .errors import BadInput
    from .render import preflight_out, render
    from .tls import load_ca_pem

    members = many.members()
    bad = [e for m in members if m.error is not None for e in m.error.errors]
    if bad:
        raise BadInput(bad, many.source)
    rendered = []
    for m in members:
        a = settings.with_answers(m.answers)
        chart = gitops.chart_source(None if settings.chart_is_default else settings.chart, a.runner.chart_version,
                                    option=settings.chart_from or "--chart")
        rendered.append((m.context, render(a, ca_pem=load_ca_pem(a)), chart))
    files = gitops.export_fleet(rendered, engine)  # bad input stops here, before any write
    out = Path(args.out) / f"gitops-{engine}"
    preflight_out(out, list(files))
    for p in gitops.write(files, out):
        print(p)
    return 0


# --------------------------------------------------------------------------- check


def check_command(args: Any, opts: Any, kube_opening: Any = None, *, answers: Any = None,
                  record: Any = None) -> int:
    """``runner-wizard check --answers FILE [--json] [--ignore ID,...]``: run the checks, print the table.

    ``answers`` (already read, e.g. one cluster of a fleet) and ``record`` (called with the
    results) are for :mod:`wizard.fleet_cli`."""
    import os

    from .answers import load
    from .checks import format_table, run_checks, validate_ignore
    from .kube import require_context
    from .results import gate, parse_ignore, report_json

    answers = answers if answers is not None else load(args.answers)
    if getattr(opts, "settings", None) is not None:
        answers = opts.settings.with_answers(answers)  # --chart-version: the chart's helper image
    ignore = parse_ignore(getattr(args, "ignore", None))
    validate_ignore(answers, sorted(ignore))
    flag = getattr(opts, "context", None)  # named but not in the kubeconfig: bad input, not a skipped cluster
    require_context(getattr(opts, "kubeconfig", None), flag or answers.cluster.context,
                    "--context" if flag else "cluster.context")
    results = run_checks(answers, kubeconfig=getattr(opts, "kubeconfig", None),
                         context=getattr(opts, "context", None), kube_opening=kube_opening)
    if record is not None:
        record(results=results, ignore=ignore)
    if getattr(args, "json", False):
        print(report_json(results, ignore))
    else:
        color = sys.stdout.isatty() and not getattr(opts, "no_color", False) and not os.environ.get("NO_COLOR")
        try:
            width = os.get_terminal_size().columns
        except OSError:
            width = 100
        print(format_table(results, color=color, width=width, ignore=sorted(ignore)))
    # exit 0 unless a failure nobody ignored: what apply creates or repairs is not a failure
    return 0 if gate(results, ignore).ok else 1
