"""Command dispatch: each command lives with the module that owns it, imported on use."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cli import GlobalOptions


def cmd_render(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .render import command

    return command(args, opts)


def cmd_check(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .checks import command

    return command(args, opts)


def cmd_apply(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .apply import command

    return command(args, opts)


def cmd_diagnose(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from .diagnose import command

    return command(args, opts)


def cmd_tui(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from screens.app import command

    return command(args, opts)


def cmd_prompt(args: argparse.Namespace, opts: GlobalOptions) -> int:
    from screens.prompt import command

    return command(args, opts)
