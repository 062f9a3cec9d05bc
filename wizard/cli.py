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
from typing import Any

from . import __version__

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: the status a shell shows for git or kubectl whose reader went away (``| head -1``);
they are killed by SIGPIPE, runner-wizard exits with the same number, quietly."""


@dataclass
class GlobalOptions:
    kubeconfig: str | None
    context: str | None
    log_file: str | None
    no_color: bool
    settings: Any = None
    """The run's :class:`wizard.settings.Settings` (options and their documented fallbacks)."""


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad flags, which is what the contract wants."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _settings_options(sp: argparse.ArgumentParser, *names: str) -> None:
    """Options that become :class:`wizard.settings.Settings` (checked there, with their fallbacks)."""
    g = sp.add_argument_group("settings (an option wins over its RUNNER_WIZARD_* variable)")
    helps = {
        "chart": ("--chart", "REF", "the chart: a local .tgz or folder (or a folder of gitlab-runner-<version>.tgz), "
                  "repo/chart, a repository URL or oci://REGISTRY/PATH/CHART (default gitlab/gitlab-runner; "
                  "$RUNNER_WIZARD_CHART)"),
        "chart_version": ("--chart-version", "VERSION", "use this chart version instead of runner.chart_version"),
        "verify_timeout": ("--verify-timeout", "SECONDS", "how long to wait for the manager Deployment "
                           "(300, 5m; 0 looks once; default 180; $RUNNER_WIZARD_VERIFY_TIMEOUT)"),
        "verify_gitlab_timeout": ("--verify-gitlab-timeout", "SECONDS", "how long to wait for the runner manager to "
                                  "contact GitLab once the Deployment is available (default 60; "
                                  "$RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT)"),
        "helm_timeout": ("--helm-timeout", "SECONDS", "how long helm upgrade may take (default 180; "
                         "$RUNNER_WIZARD_HELM_TIMEOUT)"),
        "token_lifetime_hours": ("--token-lifetime", "HOURS", "lifetime of the external manager's Kubernetes token "
                                 "(default 8760h; $RUNNER_WIZARD_TOKEN_LIFETIME)"),
        "external_token": ("--external-token", "KIND", "token-request (expiring, default) or secret (never "
                           "expires) for the external manager ($RUNNER_WIZARD_EXTERNAL_TOKEN)"),
    }
    for name in names:
        flag, metavar, help_ = helps[name]
        g.add_argument(flag, dest=name, metavar=metavar, default=None, help=help_)


class _Contexts(argparse.Action):
    """``--context``: the last one is the context (as always); every one given is kept in
    ``contexts`` for the commands that run on several clusters (:mod:`wizard.fleet_cli`)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        setattr(namespace, self.dest, values)
        setattr(namespace, "contexts", [*(getattr(namespace, "contexts", None) or []), values])


def _fleet_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--all-contexts", action="store_true",
                    help="run on every cluster of the answers' clusters section (without one: every context "
                         "of the kubeconfig), concurrently, with one summary; --context NAME may also be "
                         "repeated")


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    d = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("global options")
    g.add_argument("--kubeconfig", metavar="PATH", default=d,
                   help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    g.add_argument("--context", metavar="NAME", default=d, action=_Contexts,
                   help="kubeconfig context (default: current)")
    g.add_argument("--log-file", metavar="PATH", default=d, help="write a debug log here (secrets redacted)")
    g.add_argument("--version", action="version", version=f"runner-wizard {__version__}")


def _ignore_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--ignore", metavar="ID[,ID...]", action="append", default=[],
                    help="do not let these checks' failures or warnings stop apply (check ids, globs like "
                         "'rbac.*', or 'all'); they are listed as ignored in the summary and the JSON")


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
    _settings_options(sp, "chart", "chart_version")
    sp.add_argument("--gitops", choices=("flux", "argocd"),
                    help="also write gitops-flux/ (HelmRepository or OCIRepository + HelmRelease) or "
                         "gitops-argocd/ (Application) with the wizard's objects; secrets stay out")

    sp = cmd("check", "run every live check; changes nothing")
    sp.add_argument("--answers", metavar="FILE", required=True)
    _settings_options(sp, "chart_version")
    sp.add_argument("--json", action="store_true",
                    help="print one JSON document (a result per check: id, status, detail, fix) for scripts")
    _ignore_option(sp)
    _fleet_options(sp)

    sp = cmd("apply", "render, check, then apply to the cluster and install the Helm release")
    sp.add_argument("--answers", metavar="FILE", required=True)
    sp.add_argument("--dry-run", action="store_true",
                    help="server-side dry run: a unified diff per object and the release's values, like kubectl "
                         "diff (KUBECTL_EXTERNAL_DIFF honoured); exit 0 no change, 1 changes, >1 error")
    _settings_options(sp, "chart", "chart_version", "verify_timeout", "verify_gitlab_timeout", "helm_timeout",
                      "token_lifetime_hours", "external_token")
    sp.add_argument("--yes", action="store_true", help="do not ask before changing anything")
    sp.add_argument("--out", metavar="DIR", help="where to write the rendered files (default: a temp dir)")
    sp.add_argument("--force-conflicts", action="store_true",
                    help="take over fields owned by another field manager")
    _ignore_option(sp)
    _fleet_options(sp)

    sp = cmd("diagnose", "diagnose an existing install; optionally fix it")
    sp.add_argument("--answers", metavar="FILE")
    sp.add_argument("--namespace", metavar="NS", help="namespace of the runner release")
    sp.add_argument("--release", metavar="NAME", help="Helm release name")
    sp.add_argument("--log", metavar="FILE", action="append", default=[],
                    help="analyze a saved manager or job log (repeatable; no cluster needed)")
    _settings_options(sp, "chart", "helm_timeout")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--fix", action="store_true", help="offer fixes for what is found")
    sp.add_argument("--yes", action="store_true", help="apply fixes without asking")
    sp.add_argument("--bundle", metavar="FILE.tar.gz",
                    help="also write a redacted support bundle (objects, events, logs, access reviews, findings)")
    _fleet_options(sp)
    _lifecycle_commands(cmd)
    for name, settings in (("upgrade", ("chart", "verify_timeout", "verify_gitlab_timeout", "helm_timeout")),
                           ("rollback", ("verify_timeout", "helm_timeout")), ("uninstall", ("helm_timeout",)),
                           ("adopt", ("chart", "verify_timeout", "verify_gitlab_timeout", "helm_timeout"))):
        if name in sub.choices:
            _settings_options(sub.choices[name], *settings)
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


log = logging.getLogger("wizard.cli")


def check_log_file(log_file: str) -> None:
    """Raise BadInput unless ``log_file`` names a regular file that can be created or appended."""
    import stat as _stat

    from .errors import BadInput, FieldError

    if not log_file:
        raise BadInput([FieldError("--log-file", "is empty; give the path of the log file to write")])
    p = os.path.expanduser(log_file)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(p))
        if not os.path.isdir(parent):
            raise BadInput([FieldError("--log-file", f"the folder {parent} does not exist; create it or "
                                                     "choose another path")]) from None
        return
    except OSError as exc:
        raise BadInput([FieldError("--log-file", f"{log_file}: {exc.strerror or exc}")]) from None
    if _stat.S_ISDIR(st.st_mode):
        raise BadInput([FieldError("--log-file", f"{log_file} is a directory; give a file name, "
                                                 f"e.g. {os.path.join(log_file, 'runner-wizard.log')}")])
    if not _stat.S_ISREG(st.st_mode):
        raise BadInput([FieldError("--log-file", f"{log_file} is not a regular file (a pipe or device)")])


def setup_logging(log_file: str | None) -> logging.Handler | None:
    """With ``log_file``: a DEBUG log of the ``wizard`` loggers, every line redacted, the file
    created with mode 0600 (appended when it exists). Returns the handler (to remove it)."""
    from .errors import BadInput, FieldError
    from .logsafe import LogFileHandler, RedactingFormatter

    root = logging.getLogger("wizard")
    if log_file is None:
        root.setLevel(logging.WARNING)
        return None
    check_log_file(log_file)
    path = os.path.expanduser(log_file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise BadInput([FieldError("--log-file", f"cannot write {log_file}: {exc.strerror or exc}")]) from None
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    except OSError:
        pass
    stream = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")
    h = LogFileHandler(stream)
    h.setLevel(logging.DEBUG)
    h.setFormatter(RedactingFormatter("%(asctime)s.%(msecs)03d %(levelname)-5s %(threadName)s %(name)s: "
                                      "%(message)s", datefmt="%Y-%m-%dT%H:%M:%S"))
    root.setLevel(logging.DEBUG)
    root.addHandler(h)
    return h


def _close_logging(h: logging.Handler | None) -> None:
    if h is None:
        return
    root = logging.getLogger("wizard")
    root.removeHandler(h)
    root.setLevel(logging.WARNING)
    try:
        h.flush()
        h.close()  # closes the file (LogFileHandler)
    except (OSError, ValueError, AttributeError):
        pass


def check_flags(args: argparse.Namespace) -> None:
    """Paths and names given on the command line, checked before anything is read or written."""
    import stat as _stat

    from .errors import BadInput, FieldError
    from .safeio import bad_char

    errors: list[FieldError] = []
    for flag in ("answers", "out", "save", "kubeconfig", "context", "namespace", "release"):
        val = getattr(args, flag, None)
        if val is None:
            continue
        name = "--" + flag.replace("_", "-")
        if val == "":
            errors.append(FieldError(name, "is empty; give a value or leave the option out"))
            continue
        bad = bad_char(val)
        if bad:
            errors.append(FieldError(name, f"contains {bad}"))
    for val in getattr(args, "log", None) or []:
        if not val or bad_char(val):
            errors.append(FieldError("--log", "is empty or contains control characters"))
    save = getattr(args, "save", None)
    if save and os.path.isdir(os.path.expanduser(save)):
        errors.append(FieldError("--save", f"{save} is a directory; give the answers file name, e.g. "
                                           f"{os.path.join(save, 'runner-answers.yaml')}"))
    for path in (os.environ.get("KUBECONFIG") or "").split(os.pathsep):
        if path and os.path.exists(path) and not os.path.isfile(path):
            errors.append(FieldError("KUBECONFIG", f"{path} is not a regular file"))
    kc = getattr(args, "kubeconfig", None)
    if kc and not errors:
        try:
            st = os.stat(os.path.expanduser(kc))
        except OSError as exc:
            errors.append(FieldError("--kubeconfig", f"cannot read {kc}: {exc.strerror or exc}"))
        else:
            if not _stat.S_ISREG(st.st_mode):
                errors.append(FieldError("--kubeconfig", f"{kc} is not a regular file"))
            elif st.st_size > 16 << 20:
                errors.append(FieldError("--kubeconfig", f"{kc} is {st.st_size} bytes; is it a kubeconfig?"))
    from .validate import dns_label

    for flag, what in (("namespace", "namespace name"), ("release", "release name")):
        val = getattr(args, flag, None)
        if val and not any(e.path == f"--{flag}" for e in errors):
            msg = dns_label(val, what)
            if msg:
                errors.append(FieldError(f"--{flag}", msg))
    if errors:
        raise BadInput(errors)


def _redacting_streams() -> tuple[object, object]:
    from .logsafe import RedactingStream

    saved = (sys.stdout, sys.stderr)
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
    return saved


Handler = Callable[[argparse.Namespace, GlobalOptions], int]


def _render(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .fleet_cli import mentions_clusters

    if not getattr(args, "gitops", None) and args.answers and mentions_clusters(args.answers):
        from .console import render_command
        from .fleet_cli import render as render_fleet

        return render_fleet(args, opts, render_command)
    if getattr(args, "gitops", None):
        from .console import gitops_command as export

        return export(args, opts)
    from .console import render_command as command

    return command(args, opts)


def _fleet(name: str, args: argparse.Namespace, opts: GlobalOptions, command: Handler) -> int | None:
    """Several clusters (or an answers file with a clusters section): :mod:`wizard.fleet_cli`."""
    from .fleet_cli import run, wants_fleet

    return run(name, args, opts, command) if wants_fleet(args) else None


def _check(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .fleet_cli import wants_fleet

    if wants_fleet(args):
        from .console import check_command

        return _fleet("check", args, opts, check_command) or 0
    from .kube import Opening

    opening = Opening(opts.kubeconfig, opts.context, timeout=4.0)  # the TLS handshake overlaps reading the answers
    from .console import check_command as command

    return command(args, opts, kube_opening=opening)


def _apply(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .console import command

    rc = _fleet("apply", args, opts, command)
    return command(args, opts) if rc is None else rc


def _diagnose(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .diagnose.cli import command

    rc = _fleet("diagnose", args, opts, command)
    return command(args, opts) if rc is None else rc


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
    """Parse ``argv`` and run the command's handler from ``commands`` (default: :data:`COMMANDS`).

    Exit codes: 0 ok, 1 failed, 2 bad input (nothing written), 130 interrupted, 141 the reader of
    the output went away (``runner-wizard check ... | head -1``), without a traceback.

    stdout and stderr pass through one redaction step (every secret value read this run)
    for the whole command; SIGINT anywhere in it ends with 130 and "interrupted"."""
    import signal
    import time

    t0 = time.monotonic()
    handler: logging.Handler | None = None
    saved = _redacting_streams()
    prev_sigint = None
    interrupted = False

    def on_sigint(signum, frame):  # noqa: ANN001
        nonlocal interrupted
        if interrupted:  # a second Ctrl-C while cleaning up: keep cleaning up
            return
        interrupted = True
        raise KeyboardInterrupt

    try:
        try:
            prev_sigint = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread (embedded use): keep Python's default
            prev_sigint = None
        from .errors import BadInput, WizardError

        rc = EXIT_FAIL
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            opts = GlobalOptions(
                kubeconfig=getattr(args, "kubeconfig", None),
                context=getattr(args, "context", None),
                log_file=getattr(args, "log_file", None),
                no_color=bool(os.environ.get("NO_COLOR")),
            )
            if opts.log_file is not None:
                handler = setup_logging(opts.log_file)
            check_flags(args)
            from .settings import from_args as _settings

            opts.settings = _settings(args)
            command = args.command or "tui"
            log.info("runner-wizard %s %s: %s (python %s)", __version__, command,
                     " ".join(repr(a) for a in (argv if argv is not None else sys.argv[1:])),
                     sys.version.split()[0])
            handler_fn = (COMMANDS if commands is None else commands).get(command)
            if handler_fn is None:
                print(f"runner-wizard: `{command}` is a front end this entry point does not include; "
                      "start it with `runner-wizard` or `python -m runner_wizard`", file=sys.stderr)
                return EXIT_BAD_INPUT
            rc = int(handler_fn(args, opts) or 0)
        except KeyboardInterrupt:
            interrupted = True
            rc = EXIT_INTERRUPTED
            print("\ninterrupted", file=sys.stderr, flush=True)
        except BadInput as exc:
            rc = EXIT_BAD_INPUT
            log.info("bad input: %s", exc.render())
            print(f"runner-wizard: {exc.render()}", file=sys.stderr)
            print("nothing was written or applied.", file=sys.stderr)
        except WizardError as exc:
            rc = exc.exit_code
            log.info("error (exit %s): %s", rc, exc)
            print(f"runner-wizard: {_bounded(str(exc))}", file=sys.stderr)
        except RecursionError:
            rc = EXIT_BAD_INPUT
            print("runner-wizard: the input is nested too deeply; nothing was written or applied.",
                  file=sys.stderr)
        if interrupted and rc != EXIT_INTERRUPTED:  # swallowed somewhere below: still an interruption
            rc = EXIT_INTERRUPTED
            print("\ninterrupted", file=sys.stderr, flush=True)
        log.info("exit %s after %.2fs", rc, time.monotonic() - t0)
        for stream in (sys.stdout, sys.stderr):  # output that fit in the buffer meets a departed reader here
            try:
                stream.flush()
            except BrokenPipeError:
                raise
            except (OSError, ValueError):
                pass
        return rc
    except KeyboardInterrupt:  # between the handlers above (e.g. while printing): still 130
        print("\ninterrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout (or stderr) was closed early: end quietly, as git and kubectl do
        log.info("exit %s: the reader of the output went away (broken pipe)", EXIT_BROKEN_PIPE)
        _mute_broken(saved)
        return EXIT_BROKEN_PIPE
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        _close_logging(handler)
        sys.stdout, sys.stderr = saved  # type: ignore[assignment]
        if prev_sigint is not None:
            try:
                signal.signal(signal.SIGINT, prev_sigint)
            except (ValueError, TypeError):
                pass


def _mute_broken(streams: Sequence[Any]) -> None:
    """Point a standard stream whose reader went away at /dev/null, so that its buffered rest
    (flushed again at exit) cannot raise a second BrokenPipeError."""
    for stream in streams:
        try:
            stream.flush()
        except OSError:
            try:
                fd = stream.fileno()
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(null, fd)
                finally:
                    os.close(null)
            except (OSError, ValueError, AttributeError):
                pass
        except ValueError:  # closed
            pass


def _bounded(text: str, limit: int = 4000) -> str:
    from .safeio import printable

    return "\n".join(printable(line, 500) for line in text.splitlines()[:40])[:limit]


def exit_now(rc: int) -> None:
    """End a command's process with ``rc``, skipping the interpreter's teardown (freeing every
    object of every module: 30-100 ms that no one waits for). atexit handlers still run, and
    stdout and stderr are flushed first. Only for a process that runs one command and ends."""
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(rc & 0xFF)


if __name__ == "__main__":  # pragma: no cover
    exit_now(main())
