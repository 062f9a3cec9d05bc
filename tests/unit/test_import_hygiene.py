"""The core stays UI-free and start-up stays light."""

import subprocess
import sys

UI_MODULES = ("textual", "questionary", "rich", "prompt_toolkit")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return set(out)


def test_core_modules_import_no_ui_library():
    mods = _loaded_after(
        "import wizard.answers, wizard.validate, wizard.kube, wizard.results, wizard.rbac, "
        "wizard.names, wizard.cli, wizard.logsafe, wizard.render, wizard.checks, wizard.apply, "
        "wizard.diagnose.engine, wizard.diagnose.cli, wizard.diagnose.fixes, wizard.steps\n"
    )
    leaked = sorted(m for m in mods if m.split(".")[0] in UI_MODULES)
    assert not leaked, f"wizard/ imported UI libraries: {leaked}"


def test_cli_module_is_light():
    """`runner-wizard --help` must not pay for kubernetes, gitlab or textual imports."""
    mods = _loaded_after("import wizard.cli; wizard.cli.build_parser()")
    heavy = sorted(m for m in mods if m.split(".")[0] in ("kubernetes", "gitlab", "textual", "cryptography", "yaml"))
    assert not heavy, heavy


def test_gitlab_client_is_imported_on_first_call():
    """python-gitlab (and requests under it) load when a GitLab call is made, not when the
    checks, tokens or verify modules are imported: `check --help` and start-up stay light."""
    mods = _loaded_after("import wizard.gitlab_api, wizard.checks, wizard.tokens, wizard.verify, wizard.cli\n"
                         "wizard.gitlab_api.GitLabAPI('https://gitlab.example.test/')\n")
    heavy = sorted(m for m in mods if m.split(".")[0] in ("gitlab", "requests"))
    assert not heavy, heavy
    mods = _loaded_after("import wizard.gitlab_api as g\ng.GitLabAPI('https://gitlab.example.test/').gitlab()\n")
    assert {"gitlab", "requests"} <= mods
