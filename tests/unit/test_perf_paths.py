"""Issue 15: the headless commands load only what they use, and the answers loader keeps its
guarantees on libyaml's parser.

The commands run in a subprocess against loopback ports that refuse (no cluster, no GitLab);
the test looks at ``sys.modules`` when the process exits, after the command did all it could."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wizard import answers_yaml as A
from wizard.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
UNUSED_BY_HEADLESS = ("textual", "rich", "questionary", "prompt_toolkit", "kubernetes")
"""Packages no headless command needs with a plain kubeconfig (kubernetes is for exec plugins
and the like). python-gitlab is the GitLab client: loaded at the first GitLab call only."""


@pytest.fixture
def refused() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    yield s.getsockname()[1]
    s.close()


def _setup(tmp_path: Path, port: int) -> tuple[Path, Path]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        current-context: c
        clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
        users: [{{name: u, user: {{token: not-a-real-token}}}}]
        contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
        """))
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({
        "version": 1,
        "gitlab": {"url": f"https://127.0.0.1:{port}/", "token": "env:RW_PERF_TOKEN"},
        "cluster": {"runner_namespace": "ci-system", "jobs_namespace": "ci-jobs"},
        "node_runtime": "containerd",
    }))
    return kubeconfig, answers


def _modules_after(argv: list[str], tmp_path: Path, kubeconfig: Path) -> tuple[int, set[str], str]:
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('MODULES', ' '.join(sorted(sys.modules)), file=sys.__stderr__))\n"
            f"sys.argv = ['runner-wizard', *{argv!r}]\n"
            "from runner_wizard import main\n"
            "sys.exit(main())\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig),
           "RW_PERF_TOKEN": "glrt-t1_PerfPathToken000001", "RUNNER_WIZARD_VERIFY_TIMEOUT": "0"}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    line = next((ln for ln in p.stderr.splitlines() if ln.startswith("MODULES ")), "")
    return p.returncode, set(line.split()[1:]), p.stdout + p.stderr


@pytest.mark.parametrize("command", ["check", "apply", "render", "help"])
def test_headless_commands_do_not_import_what_they_do_not_use(tmp_path, refused, command):
    kubeconfig, answers = _setup(tmp_path, refused)
    argv = {
        "check": ["check", "--answers", str(answers), "--json"],
        "apply": ["apply", "--answers", str(answers), "--yes", "--out", str(tmp_path / "out")],
        "render": ["render", "--answers", str(answers), "--out", str(tmp_path / "render")],
        "help": ["--help"],
    }[command]
    rc, mods, output = _modules_after(argv, tmp_path, kubeconfig)
    assert mods, output  # the process got to its end
    if command == "check":
        assert rc == 1 and "wizard.checks.cluster" in mods, output  # it ran the checks (which failed)
    if command == "apply":
        assert rc == 1 and "wizard.apply" in mods, output
    if command == "render":
        assert rc == 0, output
    leaked = sorted({m.split(".")[0] for m in mods} & set(UNUSED_BY_HEADLESS))
    assert not leaked, f"`{command}` imported {leaked}"
    if command in ("render", "help"):  # no network, no certificates to look at
        assert not {m.split(".")[0] for m in mods} & {"urllib3", "cryptography", "gitlab", "requests"}, command


# --------------------------------------------------------------------------- the answers loader


def _pure_loader() -> type:
    saved = A._base_loader
    try:
        A._base_loader = lambda: yaml.SafeLoader  # type: ignore[assignment]
        return A._make_loader_class()
    finally:
        A._base_loader = saved  # type: ignore[assignment]


PURE = _pure_loader()


def _load(loader: type, text: str):
    ld = loader(text)
    try:
        return ld.get_single_data()
    finally:
        ld.dispose()


def test_the_loader_parses_with_libyaml_when_pyyaml_has_it():
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")
    assert "CParser" in {c.__name__ for c in A._loader_class().__mro__}


# Line-break-like controls (NEL, U+2028/9) inside scalars fold differently in libyaml and PyYAML;
# no answers value may contain a control character anyway (wizard.text.bad_char).
plain_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), plain_text,
                    st.floats(allow_nan=False, allow_infinity=False))
keys = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20)
docs = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(docs, st.sampled_from([{}, {"default_flow_style": True}, {"default_style": '"'}, {"allow_unicode": True}]))
def test_c_and_python_loaders_agree_on_valid_documents(doc, style):
    text = yaml.safe_dump({"root": doc}, **style)
    assert A.loads(text) == _load(PURE, text) == {"root": doc}


yamlish = st.lists(st.sampled_from(list("ab:- \n\t'\"[]{},&*!|>#%@`\x01\u00e9\ufeff") + ["\n  ", ": ", "- "]),
                   max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(yamlish)
@example("\n\ufeffa:")  # found by this test: libyaml dropped the BOM ({"a": None}), PyYAML kept it
def test_any_text_is_data_or_bad_input_and_agrees_with_the_python_loader(text):
    try:
        got = A.loads(text)
    except BadInput:
        return
    try:
        want = _load(PURE, text)
    except (yaml.YAMLError, A._YamlProblem):
        return  # libyaml is more lenient on a few corner cases; neither gives different data
    if "!" in text:
        return  # a bare "!" tag: libyaml reads an empty scalar as "" (the YAML spec), PyYAML as null
    if isinstance(got, dict) or isinstance(want, dict):  # anything else is not an answers file at all
        assert got == want


@pytest.mark.parametrize("text, needle", [
    ("a: 1\na: 2\n", "appears twice"),
    ("a: &x 1\nb: *x\n", "anchor or alias"),
    ("a:\n  b:\n    c: [1, 2]\n    c: 3\n", "a.b.c: appears twice"),
    ("a: [\n", "not valid YAML at line 2"),
])
def test_strict_rules_hold_on_the_c_parser(text, needle):
    with pytest.raises(BadInput) as exc:
        A.loads(text)
    assert needle in exc.value.render()


# --------------------------------------------------------------------------- helm without a process


@pytest.mark.parametrize("repos", [None, [], ["gitlab"], ["bitnami"], ["bitnami", "gitlab"]])
@pytest.mark.parametrize("where", ["HELM_CONFIG_HOME", "HELM_REPOSITORY_CONFIG", "XDG_CONFIG_HOME"])
def test_configured_repositories_read_from_the_file_agree_with_helm(tmp_path, monkeypatch, repos, where):
    """``helm repo list`` (the real helm, the oracle) and the file read agree, wherever helm
    looks for repositories.yaml."""
    import json
    import os

    from tests.support import charts
    from wizard import helm

    binary = str(charts.helm_binary())
    for var in ("HELM_CONFIG_HOME", "HELM_REPOSITORY_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HELM_DATA_HOME", str(tmp_path / "data"))
    if where == "HELM_CONFIG_HOME":
        monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "cfg"))
        path = tmp_path / "cfg" / "repositories.yaml"
    elif where == "HELM_REPOSITORY_CONFIG":
        path = tmp_path / "elsewhere" / "repos.yaml"
        monkeypatch.setenv("HELM_REPOSITORY_CONFIG", str(path))
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        path = tmp_path / "xdg" / "helm" / "repositories.yaml"
    if repos is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"apiVersion": "", "generated": "0001-01-01T00:00:00Z", "repositories": [
            {"name": n, "url": f"https://127.0.0.1:9/{n}", "caFile": "", "certFile": "", "keyFile": "",
             "insecure_skip_tls_verify": False, "pass_credentials_all": False, "username": "", "password": ""}
            for n in repos]}))
    proc = subprocess.run([binary, "repo", "list", "-o", "json"], capture_output=True, text=True,
                          env=helm.child_env(), timeout=60)
    by_helm = proc.returncode == 0 and any(r.get("name") == "gitlab" for r in json.loads(proc.stdout or "[]"))
    calls: list[list[str]] = []
    monkeypatch.setattr(helm, "run", lambda argv, **kw: calls.append(argv))  # must not be needed
    assert helm._has_repo(binary, "gitlab") is by_helm is ("gitlab" in (repos or []))
    assert calls == []
    assert os.environ.get("HOME") == str(tmp_path / "home")


def test_a_chain_is_judged_converting_only_the_roots_that_name_its_issuer(monkeypatch):
    """The system store has ~150 roots: Go's and OpenSSL's verdicts index the pool by subject and
    look closely only at the roots a chain names (two here share the CA's name; one did not sign)."""
    from tests.support.tlsfactory import make_ca, make_leaf
    from wizard.tls import gox509, openssl

    ca = make_ca("Shared Name CA")
    impostor = make_ca("Shared Name CA")  # same subject, another key: a candidate that fails its signature
    leaf = make_leaf(ca, dns=["gitlab.example.test"])
    unrelated = [make_ca(f"Unrelated Root {i}").cert for i in range(30)]
    roots = [*unrelated[:15], impostor.cert, *unrelated[15:], ca.cert]

    gox509.go_cert.cache_clear()
    openssl._ocert.cache_clear()
    seen_go, seen_openssl = [], []
    real_go, real_o = gox509._go_cert, openssl._ocert_uncached
    monkeypatch.setattr(gox509, "_go_cert", lambda c: seen_go.append(c) or real_go(c))
    monkeypatch.setattr(openssl, "_ocert_uncached", lambda c: seen_openssl.append(c) or real_o(c))

    runner = gox509.go_verify([leaf.cert], "gitlab.example.test", roots)
    jobs = openssl.openssl_verify([leaf.cert], "gitlab.example.test", roots)
    assert runner.trusted and runner.chain == [leaf.cert, ca.cert]
    assert jobs.trusted and jobs.chain == [leaf.cert, ca.cert]
    assert set(seen_go) <= {leaf.cert, ca.cert, impostor.cert}
    assert set(seen_openssl) <= {leaf.cert, ca.cert, impostor.cert}
    assert not set(unrelated) & (set(seen_go) | set(seen_openssl))

    # and without the right CA, the same name still leads to the impostor and Go's hint about it
    gox509.go_cert.cache_clear()
    refused = gox509.go_verify([leaf.cert], "gitlab.example.test", [*unrelated, impostor.cert])
    assert not refused.trusted and refused.error.kind == "unknown_authority"
    assert "Shared Name CA" in refused.error.text


# --------------------------------------------------------------------------- the TUI's first screen


FIRST_SCREEN = """\
import asyncio, sys
from screens.app import make_app

async def main():
    app = make_app()
    async with app.run_test(headless=True, size=(100, 34)) as pilot:
        await pilot.pause()
        for worker in [w for w in app.workers if w.group == "contexts"]:
            await worker.wait()  # the kubeconfig's contexts are read
        await pilot.pause()
        screen = app.screen
        print("SCREEN", type(screen).__name__, screen.query_one("#context-info").visual)
        print("FLEET", len(screen.query("#fleet-contexts")))
        print("KEYS", " ".join(k.key for k in screen.query("FooterKey")))
        print("FOCUS", app.focused.id if app.focused else None, app.focused.parent.id if app.focused else None)
        print("MODULES", " ".join(sorted(sys.modules)))

asyncio.run(main())
"""

LAZY_FOR_THE_FIRST_SCREEN = ("screens.dialogs", "screens.recover", "screens.gitlab_url", "screens.review",
                             "screens.apply")
"""Screens of later steps and the dialogs: imported when first shown."""
UNUSED_BY_THE_FIRST_SCREEN = ("kubernetes", "gitlab", "cryptography", "urllib3", "requests")


def test_the_tui_first_screen_loads_only_what_it_shows(tmp_path):
    """The wizard's first screen, as `scripts/bench` starts it, with a kubeconfig of one context:
    later screens and the dialogs are not imported, no client library is, the several-clusters
    list is not built, and the key bar is there from the start."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Config
        current-context: only
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
        users: [{name: u, user: {token: not-a-real-token}}]
        contexts: [{name: only, context: {cluster: c, user: u}}]
        """))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig),
           "TEXTUAL_ANIMATIONS": "none", "NO_COLOR": "1"}
    p = subprocess.run([sys.executable, "-c", FIRST_SCREEN], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] if " " in ln else "" for ln in p.stdout.splitlines()}
    assert p.returncode == 0 and "MODULES" in lines, p.stdout + p.stderr
    assert lines["SCREEN"].startswith("ClusterScreen") and "Context only" in lines["SCREEN"], lines["SCREEN"]
    assert lines["FLEET"] == "0"  # one context: nothing to pick several clusters from
    assert {"ctrl+n", "ctrl+b", "f5", "f1"} <= set(lines["KEYS"].split())
    assert lines["FOCUS"] == "control f-cluster-context"  # the first field, not the form around it
    mods = set(lines["MODULES"].split())
    assert "wizard.kube" in mods  # the contexts were read
    assert not mods & set(LAZY_FOR_THE_FIRST_SCREEN), sorted(mods & set(LAZY_FOR_THE_FIRST_SCREEN))
    leaked = sorted({m.split(".")[0] for m in mods} & set(UNUSED_BY_THE_FIRST_SCREEN))
    assert not leaked, leaked
