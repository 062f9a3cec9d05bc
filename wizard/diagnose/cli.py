"""``runner-wizard diagnose``: print a diagnosis, offer its fixes, apply them after consent.

The pipeline itself is :func:`wizard.diagnose.engine.diagnose`; this module only
talks to the terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from wizard.diagnose import fixes
from wizard.diagnose.engine import NoRelease, diagnose, read_log_files
from wizard.diagnose.model import Diagnosis
from wizard.errors import WizardError
from wizard.results import Status, any_failed, report_json, summarize

log = logging.getLogger("wizard.diagnose")


def _print_human(d: Diagnosis, out: Any) -> None:
    if d.state is not None:
        st = d.state
        print(f"release {st.namespace}/{st.release} (Deployment {st.fullname}, jobs in {st.jobs_namespace}; "
              f"values: {st.values_source or 'not found'})", file=out)
    if d.sources:
        print(f"analyzed: {', '.join(d.sources)}", file=out)
    if not d.findings:
        print("✔ no problems found", file=out)
    for f in d.findings:
        print(f"{f.status.symbol} {f.catalog}  {f.to_result().title}", file=out)
        if f.detail:
            print(f"    {f.to_result().detail}", file=out)
        for ev in f.to_result().evidence:
            print(f"    evidence: {ev}", file=out)
        if f.fix and f.status is not Status.PASS:
            print(f"    fix: {f.to_result().fix}", file=out)
    if d.notices:
        print(f"notices: {', '.join(f'{n.meaning} (x{n.count})' for n in d.notices)}", file=out)
    for e in d.errors:
        print(f"! {e}", file=out)
    counts = summarize(r for r in d.results)
    print(f"{counts['fail']} failed, {counts['warn']} warnings, {counts['pass']} resolved", file=out)


def _logged(say: Callable[[str], None] | None) -> Callable[[str], None]:
    def progress(message: str) -> None:
        log.info("diagnose: %s", message)
        if say is not None:
            say(message)

    return progress


def command(args: Any, opts: Any, *, answers: Any = None, record: Any = None) -> int:
    """``runner-wizard diagnose``; exit 0 (no failed finding), 1 (a finding failed), 2 (bad input).

    ``answers`` (already read, e.g. one cluster of a fleet) and ``record`` (called with the
    diagnosis) are for :mod:`wizard.fleet_cli`."""
    if answers is None and getattr(args, "answers", None):
        from wizard.answers import load

        answers = load(args.answers)
    texts = read_log_files(getattr(args, "log", None) or [])
    cluster = bool(answers is not None or args.namespace or args.release or not texts)
    kube = None
    try:
        if cluster:
            from wizard.kube import Kube, KubeError, require_context

            named = opts.context or (answers.cluster.context if answers else None)
            require_context(opts.kubeconfig, named, "--context" if opts.context or not named else "cluster.context")
            try:
                kube = Kube.connect(opts.kubeconfig, opts.context or (answers.cluster.context if answers else None))
                kube.version()  # nothing to diagnose without a cluster that answers
            except KubeError as exc:
                raise WizardError(f"cannot reach the cluster: {getattr(exc, 'message', exc)}; check the "
                                  "kubeconfig, the context and the network, then run diagnose again "
                                  "(saved logs can be analyzed without a cluster: --log FILE)") from exc
        err = sys.stderr
        say = (lambda m: print(f"… {m}", file=err)) if not args.json and sys.stderr.isatty() else None
        diag = diagnose(kube=kube, answers=answers, namespace=args.namespace, release=args.release, logs=texts,
                        progress=_logged(say), cluster=cluster, kubeconfig=opts.kubeconfig, context=opts.context)
        st = diag.state
        if st is not None and not st.values_source and st.deployment is None and st.release_ref is None:
            raise NoRelease(f"release {st.namespace}/{st.release} does not exist (no Helm release secret and no "
                            f"Deployment {st.fullname}); check --namespace and --release, or list releases with "
                            "runner-wizard diagnose without them")
        human_out = sys.stderr if args.json else sys.stdout
        printed_initial = applied_any = False
        if args.fix and diag.state is not None and kube is not None:
            plans = fixes.plan_all(diag, answers)
            if not plans:
                print("no automatic fix for the findings above" if diag.problems else "nothing to fix",
                      file=human_out)
            else:
                if not args.json:
                    _print_human(diag, human_out)
                    printed_initial = True
                interactive = sys.stdin.isatty() and sys.stdout.isatty()
                applied = 0
                for plan in plans:
                    print("\n" + plan.render(), file=human_out)
                    if args.yes:
                        ok = True
                    elif interactive:
                        ok = input("apply this fix? [y/N] ").strip().lower() in ("y", "yes")
                        log.info("asked: apply fix %s? -> %s", getattr(plan, "id", "?"), "yes" if ok else "no")
                    else:
                        print("  (not applied: no terminal to ask; rerun with --yes to apply)", file=human_out)
                        ok = False
                    if not ok:
                        continue
                    outcome = fixes.apply_plan(kube, diag.state, plan, answers=answers,
                                                kubeconfig=opts.kubeconfig, context=opts.context,
                                                settings=getattr(opts, "settings", None))
                    print(f"  {outcome.message}", file=human_out)
                    applied += int(outcome.ok)
                applied_any = bool(applied)
                if applied:
                    print("\nre-running the diagnosis…", file=human_out)
                    diag = diagnose(kube=kube, answers=answers, namespace=diag.state.namespace,
                                    release=diag.state.release, logs=texts, cluster=True, live_checks=False,
                                    kubeconfig=opts.kubeconfig, context=opts.context)
                    still = [f for f in diag.problems if f.fix_id]
                    if still:
                        print("still present after the fix: " + ", ".join(f.id for f in still), file=human_out)
        if record is not None:
            record(diagnosis=diag)
        if getattr(args, "bundle", None):
            _write_bundle(args, diag, kube, answers, human_out)
        if args.json:
            print(report_json(diag.results))
        elif not (args.fix and printed_initial and not applied_any):
            _print_human(diag, sys.stdout)
        return 1 if any_failed(diag.results) else 0
    finally:
        if kube is not None:
            kube.close()


def _write_bundle(args: Any, diag: Diagnosis, kube: Any, answers: Any, out: Any) -> None:
    """``--bundle FILE``: everything this diagnosis read, redacted (see :mod:`wizard.diagnose.bundle`)."""
    from pathlib import Path

    from wizard.diagnose.bundle import write_bundle

    text = None
    if getattr(args, "answers", None):
        try:
            text = Path(args.answers).read_text(encoding="utf-8")
        except OSError:
            text = None
    argv = ["runner-wizard", "diagnose"] + [a for a in sys.argv[2:]] if sys.argv[1:2] == ["diagnose"] else []
    try:
        path = write_bundle(args.bundle, diag, kube=kube, answers=answers, answers_text=text,
                            command=" ".join(argv))
    except OSError as exc:
        raise WizardError(f"cannot write the bundle {args.bundle}: {exc.strerror or exc}") from exc
    print(f"support bundle written: {path} (mode 0600; Secret values never included, known secrets "
          "scrubbed; read README.txt inside before sending it)", file=out)
