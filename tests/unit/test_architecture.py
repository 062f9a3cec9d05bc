"""The layers are enforced: import-linter's contracts (pyproject.toml) and no import cycle.

Contracts: the entry point (runner_wizard) above the UI (screens) above the core
(wizard); the core imports no UI library; inside the core, cli → commands →
the work → the answers; checks never reach apply; the diagnosis never reaches
the CLI. The cycle test covers what the contracts do not: any two modules that
import each other, including imports made only for type hints or inside functions.
And only the terminal modules (cli, console, lifecycle, diagnose.cli) print.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("wizard", "screens", "runner_wizard")


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency (pip install -e '.[test]')"
    return exe


def test_import_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's packages, not another install's
    p = subprocess.run([_lint_imports(), "--no-cache", "--no-logo"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout and " kept" in p.stdout


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(edges[v])):
                w = edges[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def test_no_import_cycle():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    assert "wizard.diagnose.model" in modules  # the graph is this checkout's
    found = _cycles(graph, modules)
    detail = []
    for comp in found:
        for a in comp:
            for b in sorted(graph.find_modules_directly_imported_by(a) & set(comp)):
                lines = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                detail.append(f"{a} -> {b} (line {', '.join(map(str, lines))})")
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_cycle_finder_finds_a_cycle():
    g = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c", "p.d"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.c")
    g.add_import(importer="p.c", imported="p.a")
    g.add_import(importer="p.c", imported="p.d")
    assert _cycles(g, {"p.a", "p.b", "p.c", "p.d"}) == [["p.a", "p.b", "p.c"]]


def test_every_command_has_a_handler():
    import runner_wizard
    from wizard import cli

    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(runner_wizard.COMMANDS)
    assert not {"tui", "prompt"} & set(cli.COMMANDS)  # the core does not know its front ends


def test_core_entry_point_refuses_front_ends_it_does_not_have(capsys):
    from wizard.cli import main

    assert main(["prompt"]) == 2
    assert "python -m runner_wizard" in capsys.readouterr().err


def test_python_dash_m_runner_wizard():
    from wizard import __version__

    p = subprocess.run([sys.executable, "-m", "runner_wizard", "--version"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 0 and __version__ in p.stdout


# The modules that talk to the terminal: the command line, the console layer, the commands above
# it (lifecycle) and the diagnosis' own cli module. Everything else in the core returns data.
TERMINAL_MODULES = ("wizard/cli.py", "wizard/console.py", "wizard/lifecycle/", "wizard/diagnose/cli.py",
                    "wizard/fleet_cli.py")


def _terminal_writes(source: str) -> list[int]:
    """Lines that print or write to sys.stdout / sys.stderr."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(node.lineno)
        elif (isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr")
              and isinstance(node.value, ast.Name) and node.value.id == "sys"):
            found.append(node.lineno)
    return found


def test_only_the_terminal_modules_print():
    offenders = []
    for path in sorted((ROOT / "wizard").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(TERMINAL_MODULES):
            continue
        offenders += [f"{rel}:{n}" for n in _terminal_writes(path.read_text(encoding="utf-8"))]
    assert not offenders, "the core returns data; print from wizard/console.py instead:\n" + "\n".join(offenders)


def test_terminal_write_finder_finds_them():
    assert _terminal_writes("import sys\nprint(1)\nx = 2\nsys.stderr.write('a')\n") == [2, 4]
    assert _terminal_writes("fingerprint(c)\nlog.info('print(')\n") == []
