"""The ``runner-wizard`` command line: options, exit codes and the dispatch table.

Start-up is kept light: this module imports only the standard library; each
command imports what it needs when it runs. :data:`COMMANDS` holds the commands
the core implements; the front ends (``tui``, ``prompt``) are added by the entry
point :mod:`runner_wizard`, so nothing in ``wizard/`` imports a UI module.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import __version__

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class GlobalOptions:
    kubeconfig: str | None
    context: str | None
    log_file: str | None
    no_color: bool


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad flags, which is what the contract wants."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    d = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("global options")
    g.add_argument("--kubeconfig", metavar="PATH", default=d,
                   help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    g.add_argument("--context", metavar="NAME", default=d, help="kubeconfig context (default: current)")
    g.add_argument("--log-file", metavar="PATH", default=d, help="write a debug log here (secrets redacted)")
    g.add_argument("--version", action="version", version=f"runner-wizard {__version__}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="runner-wizard",
        description="Install GitLab Runner on Kubernetes, checking every step live against the "
                    "cluster and GitLab. Without a command, starts the full-screen wizard.",
    )
    _global_options(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        _global_options(sp, top=False)
        return sp

    sp = cmd("tui", "full-screen wizard (the default command)")
    sp.add_argument("--answers", metavar="FILE", help="start every field from this answers file")
    sp.add_argument("--recover", action="store_true", help="open in guided recovery mode")

    sp = cmd("prompt", "the wizard's steps as plain line-by-line prompts")
    sp.add_argument("--answers", metavar="FILE", help="start every field from this answers file")
    sp.add_argument("--save", metavar="FILE", help="where to write the answers file (asked when omitted)")

    sp = cmd("render", "write values.yaml, manifests and node files; needs no cluster and no GitLab")
    sp.add_argument("--answers", metavar="FILE", required=True)
    sp.add_argument("--out", metavar="DIR", required=True)
    sp.add_argument("--with-secrets", action="store_true",
                    help="also write secrets.yaml (mode 0600) with tokens and registry passwords")
    sp.add_argument("--gitops", choices=("flux", "argocd"),
                    help="also write gitops-flux/ (HelmRepository or OCIRepository + HelmRelease) or "
                         "gitops-argocd/ (Application) with the wizard's objects; secrets stay out")

    sp = cmd("check", "run every live check; changes nothing")
    sp.add_argument("--answers", metavar="FILE", required=True)
    sp.add_argument("--json", action="store_true",
                    help="print one JSON document (a result per check: id, status, detail, fix) for scripts")

    sp = cmd("apply", "render, check, then apply to the cluster and install the Helm release")
    sp.add_argument("--answers", metavar="FILE", required=True)
    sp.add_argument("--dry-run", action="store_true", help="server-side dry run: show what would change")
    sp.add_argument("--yes", action="store_true", help="do not ask before changing anything")
    sp.add_argument("--out", metavar="DIR", help="where to write the rendered files (default: a temp dir)")
    sp.add_argument("--force-conflicts", action="store_true",
                    help="take over fields owned by another field manager")

    sp = cmd("diagnose", "diagnose an existing install; optionally fix it")
    sp.add_argument("--answers", metavar="FILE")
    sp.add_argument("--namespace", metavar="NS", help="namespace of the runner release")
    sp.add_argument("--release", metavar="NAME", help="Helm release name")
    sp.add_argument("--log", metavar="FILE", action="append", default=[],
                    help="analyze a saved manager or job log (repeatable; no cluster needed)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--fix", action="store_true", help="offer fixes for what is found")
    sp.add_argument("--yes", action="store_true", help="apply fixes without asking")
    sp.add_argument("--bundle", metavar="FILE.tar.gz",
                    help="also write a redacted support bundle (objects, events, logs, access reviews, findings)")
    _lifecycle_commands(cmd)
    return p


def _lifecycle_commands(cmd: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """uninstall, rollback, upgrade, adopt (:mod:`wizard.lifecycle`)."""

    def which(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--answers", metavar="FILE", help="the answers file of the install")
        sp.add_argument("--namespace", metavar="NS", help="namespace of the release (without --answers)")
        sp.add_argument("--release", metavar="NAME", help="Helm release name (without --answers)")
        sp.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
        sp.add_argument("--yes", action="store_true", help="do not ask before changing anything")

    sp = cmd("uninstall", "remove the Helm release, what runner-wizard created and (optionally) the runner")
    which(sp)
    sp.add_argument("--keep-runner", action="store_true", help="keep the runner in GitLab")
    sp = cmd("rollback", "roll the Helm release back to an earlier revision, after a values preview")
    which(sp)
    sp.add_argument("--to", metavar="REVISION", type=int, help="revision to return to (default: the previous one)")
    sp = cmd("upgrade", "move the release to another chart version: preview, upgrade, verify, offer a rollback")
    which(sp)
    sp.add_argument("--to", metavar="VERSION", help="chart version (default: runner.chart_version of the answers)")
    sp.add_argument("--out", metavar="DIR", help="where to write the rendered files (default: a temp dir)")
    sp.add_argument("--rollback-on-failure", action="store_true",
                    help="when helm fails or the manager is not available, roll back without asking")
    sp = cmd("adopt", "take over an install made by hand: infer answers, show the changes, apply with consent")
    sp.add_argument("--namespace", metavar="NS", required=True, help="namespace of the existing release")
    sp.add_argument("--release", metavar="NAME", help="Helm release name (default: the only one in NS)")
    sp.add_argument("--save", metavar="FILE", help="where to write the inferred answers file")
    sp.add_argument("--group-id", metavar="ID", type=int,
                    help="for a registration-token install: create the new runner in this group")
    sp.add_argument("--project-id", metavar="ID", type=int,
                    help="for a registration-token install: create the new runner in this project")
    sp.add_argument("--dry-run", action="store_true", help="show the comparison only; write and apply nothing")
    sp.add_argument("--yes", action="store_true", help="write the answers and apply without asking")
    sp.add_argument("--out", metavar="DIR", help="where apply writes the rendered files")


def setup_logging(log_file: str | None) -> None:
    from .logsafe import RedactingFormatter

    root = logging.getLogger("wizard")
    root.setLevel(logging.DEBUG if log_file else logging.WARNING)
    if log_file:
        h = logging.FileHandler(log_file, encoding="utf-8")
        h.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)


Handler = Callable[[argparse.Namespace, GlobalOptions], int]


def _render(args: argparse.Namespace, opts: GlobalOptions) -> int:
    if getattr(args, "gitops", None):
        from .gitops import command as export

        return export(args, opts)
    from .render import command

    return command(args, opts)


def _check(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .checks import command

    return command(args, opts)


def _apply(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .apply import command

    return command(args, opts)


def _diagnose(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .diagnose.cli import command

    return command(args, opts)


def _uninstall(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .lifecycle.uninstall import command

    return command(args, opts)


def _releases(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .lifecycle.releases import command

    return command(args, opts)


def _adopt(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .lifecycle.adopt import command

    return command(args, opts)


COMMANDS: dict[str, Handler] = {"render": _render, "check": _check, "apply": _apply, "diagnose": _diagnose,
                                "uninstall": _uninstall, "rollback": _releases, "upgrade": _releases, "adopt": _adopt}
"""The core's commands; the entry point adds the front ends (``tui``, ``prompt``)."""


def main(argv: Sequence[str] | None = None, commands: Mapping[str, Handler] | None = None) -> int:
    """Parse ``argv`` and run the command's handler from ``commands`` (default: :data:`COMMANDS`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    opts = GlobalOptions(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        log_file=getattr(args, "log_file", None),
        no_color=bool(os.environ.get("NO_COLOR")),
    )
    from .errors import BadInput, WizardError

    try:
        setup_logging(opts.log_file)
        command = args.command or "tui"
        handler = (COMMANDS if commands is None else commands).get(command)
        if handler is None:
            print(f"runner-wizard: `{command}` is a front end this entry point does not include; "
                  "start it with `runner-wizard` or `python -m runner_wizard`", file=sys.stderr)
            return EXIT_BAD_INPUT
        return int(handler(args, opts) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BadInput as exc:
        print(f"runner-wizard: {exc.render()}", file=sys.stderr)
        print("nothing was written or applied.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WizardError as exc:
        print(f"runner-wizard: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
