"""One schema: the answers model's field metadata is the single description, and the
parser, the canonical mapping, pruning, the wizard's fields and the README table follow it."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from wizard import answers as am
from wizard import schema as sc
from wizard import steps as st
from wizard.checks import engine
from wizard.schemadoc import markdown_table

ROOT = Path(__file__).resolve().parents[2]
BASE = {"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:RUNNER_TOKEN"}}

NOT_ASKED = {"version", "gitlab", "gitlab.ca", "gitlab.ca.fetch", "gitlab.create_runner", "cluster", "runner",
             "runner.resources", "runner.tolerations"}
"""Sections, and the fields only an answers file sets."""


def test_readme_table_is_the_generated_one() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = markdown_table(am.Answers)
    assert table in text, "README.md's answers table is out of date: run scripts/schema-table"
    assert subprocess.run([sys.executable, str(ROOT / "scripts" / "schema-table"), "--check"]).returncode == 0


def test_every_model_field_is_asked_once_or_only_in_files() -> None:
    asked: list[str] = []
    for _, f in st.all_fields():
        if not f.virtual:
            asked.append(f.path)
        asked += [f"{f.path}[].{i.path}" for i in f.item_fields]
    assert len(asked) == len(set(asked))
    model = {p for p, _ in sc.walk(am.Answers) if not p.startswith("runner.tolerations[]")}
    assert set(asked) | NOT_ASKED == model | {"host_aliases", "registries"}


@pytest.mark.parametrize("path", [p for p, _ in sc.walk(am.Answers) if "[]" not in p])
def test_step_fields_take_label_default_and_choices_from_the_model(path: str) -> None:
    info = sc.lookup(am.Answers, path)
    try:
        f = st.find_field(path)
    except KeyError:
        assert path in NOT_ASKED
        return
    assert f.label == info.meta.label
    assert f.choices == info.choices
    assert f.default == sc.get_value(st.DEFAULTS, path)
    if info.has_default and info.record is None:
        assert f.default == info.default(), "the wizard starts from the model's default"


def test_defaults_of_every_kind_round_trip_through_the_parser() -> None:
    raw = st.initial_raw()
    st.set_value(raw, "gitlab.url", "https://gitlab.company.com/")
    st.set_value(raw, "gitlab.token", "env:RUNNER_TOKEN")
    a = st.finalize(raw)
    assert a == am.parse(BASE)


@pytest.mark.parametrize("source, kept, dropped", [
    ("token", {"token"}, {"create_runner", "registration_token"}),
    ("create_runner", {"create_runner"}, {"token", "registration_token"}),
    ("registration_token", {"registration_token"}, {"token", "create_runner"}),
])
def test_prune_evaluates_the_token_source_conditions(source: str, kept: set, dropped: set) -> None:
    raw = st.initial_raw()
    raw["_token_source"] = source
    raw["gitlab"].update(token="env:A", registration_token="env:B")
    raw["gitlab"]["create_runner"].update(api_token="env:C", runner_type="project_type", group_id=4, project_id=5)
    out = st.prune(raw)
    assert kept <= set(out["gitlab"]) and not dropped & set(out["gitlab"])
    assert not set(st.VIRTUAL_KEYS) & set(out)
    if source == "create_runner":
        assert "group_id" not in out["gitlab"]["create_runner"] and out["gitlab"]["create_runner"]["project_id"] == 5


@pytest.mark.parametrize("mode, ca", [
    ("system", None),
    ("fetch", {"fetch": True, "fingerprint": "SHA256:AB"}),
    ("file", {"file": "ca.pem"}),
])
def test_prune_evaluates_the_ca_mode(mode: str, ca: dict | None) -> None:
    raw = st.initial_raw()
    raw["_ca_mode"] = mode
    raw["gitlab"]["ca"] = {"file": "ca.pem", "fetch": False, "fingerprint": "SHA256:AB"}
    assert st.prune(raw)["gitlab"].get("ca") == ca


def test_prune_keeps_helm_only_fields_and_drops_http_registry_ca() -> None:
    raw = st.initial_raw()
    raw["cluster"]["mode"] = "external"
    raw["registries"] = [{"host": "r.company.com", "scheme": "http", "ca_file": "x.pem"},
                         {"host": "s.company.com", "scheme": "https", "ca_file": "x.pem"}]
    out = st.prune(raw)
    assert out["runner"]["release_name"] == "gitlab-runner"  # only not asked
    assert "ca_file" not in out["registries"][0] and out["registries"][1]["ca_file"] == "x.pem"


def test_to_dict_round_trips_and_omits_what_the_model_says() -> None:
    a = am.parse({**BASE, "runner": {"tolerations": [{"key": "k", "operator": "Exists"}]}})
    d = am.to_dict(a)
    assert list(d) == ["version", "gitlab", "cluster", "runner", "host_aliases", "registries", "node_runtime"]
    assert d["gitlab"] == {"url": "https://gitlab.company.com/", "token": "env:RUNNER_TOKEN", "clone_url": None}
    assert d["runner"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert am.parse(copy.deepcopy(d)) == a


def test_secret_fields_come_from_the_model() -> None:
    assert st.SECRET_STORAGE == {"gitlab.token": ("runner-token", "RUNNER_TOKEN"),
                                 "gitlab.create_runner.api_token": ("gitlab-api-token", "GITLAB_API_TOKEN"),
                                 "gitlab.registration_token": ("registration-token", "REG_TOKEN")}
    assert st.find_field("gitlab.token").kind == "secret-ref"
    assert st.find_field("registries[0].password").kind == "secret-ref"
    a = am.parse({**BASE, "registries": [{"host": "r.company.com", "username": "env:U", "password": "env:P"}]})
    assert list(a.secret_refs()) == ["gitlab.token", "registries[0].username", "registries[0].password"]
    b = am.with_secret_values(a, {"registries[0].password": "pw", "gitlab.token": "t", "registries[5].password": "x"})
    assert b.registries[0].password.value == "pw" and b.gitlab.token.value == "t"
    assert a.gitlab.token.value is None


def test_step_ids_are_defined_once() -> None:
    assert engine.STEPS == st.FORM_STEP_IDS
    assert {s.id for s in st.STEPS} == set(st.STEP_IDS) and len(st.STEP_IDS) == len(set(st.STEP_IDS))
    for s in st.STEPS:
        assert set(s.checks) <= set(st.FORM_STEP_IDS)
