"""The ``runner-wizard`` entry point: the core's commands plus the front ends.

This is the one place that knows both layers: :mod:`wizard` (the core, no UI
library) and :mod:`screens` (the full-screen wizard and the line prompts). It adds
``tui`` and ``prompt`` to :data:`wizard.cli.COMMANDS` and runs
:func:`wizard.cli.main`. Run it as ``runner-wizard`` or ``python -m runner_wizard``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wizard import cli


def _tui(args: argparse.Namespace, opts: cli.GlobalOptions) -> int:
    from screens.app import command

    return command(args, opts)


def _prompt(args: argparse.Namespace, opts: cli.GlobalOptions) -> int:
    from screens.prompt import command

    return command(args, opts)


COMMANDS: dict[str, cli.Handler] = {**cli.COMMANDS, "tui": _tui, "prompt": _prompt}


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, COMMANDS)


def run() -> None:
    """The ``runner-wizard`` console script: :func:`main`, then the process ends at once
    (:func:`wizard.cli.exit_now`)."""
    cli.exit_now(main())
