"""render in two steps: load_inputs reads every file, build reads none; NEXT-STEPS.md from template sections."""

from __future__ import annotations

import builtins
import io
import re
from pathlib import Path

import pytest

from wizard.answers import load
from wizard.errors import BadInput
from wizard.render import Inputs, build, load_inputs, render
from wizard.render.text import load_templates, parse_sections

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
CASES = ["seed000", "seed001", "seed002", "seed003", "seed004", "minimal"]


@pytest.mark.parametrize("case", CASES)
def test_build_opens_no_file(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything a render needs is in Inputs: building with file access refused gives the same files."""
    a = load(ANSWERS / f"{case}.yaml")
    inputs = load_inputs(a)
    expected = render(a).files

    def refused(*args, **kwargs):
        raise AssertionError(f"build opened a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refused)
    monkeypatch.setattr(io, "open", refused)
    monkeypatch.setattr(Path, "read_text", refused)
    monkeypatch.setattr(Path, "read_bytes", refused)
    assert build(inputs).files == expected


def test_load_inputs_reads_the_registry_cas() -> None:
    a = load(ANSWERS / "seed000.yaml")
    inputs = load_inputs(a)
    assert sorted(inputs.registry_cas) == [i for i, r in enumerate(a.registries) if r.ca_file]
    assert all("BEGIN CERTIFICATE" in pem for pem in inputs.registry_cas.values())
    assert inputs.ca_pem is not None and "BEGIN CERTIFICATE" in inputs.ca_pem


def test_a_bad_registry_ca_is_bad_input_at_load_time(tmp_path: Path) -> None:
    text = (ANSWERS / "seed000.yaml").read_text()
    for f in ("company-root-ca.pem", "registry-ca.pem"):
        (tmp_path / f).write_bytes((ANSWERS / f).read_bytes())
    (tmp_path / "registry-ca.pem").write_text("not a certificate\n")
    (tmp_path / "answers.yaml").write_text(text)
    a = load(tmp_path / "answers.yaml")
    with pytest.raises(BadInput) as exc:
        load_inputs(a)
    assert any(e.path == "registries[1].ca_file" for e in exc.value.errors)


def test_inputs_without_a_ca_render_the_fill_it_yourself_step() -> None:
    """build takes what it is given: no CA loaded -> the Secret has no data and NEXT-STEPS says how to fill it."""
    a = load(ANSWERS / "seed000.yaml")
    r = build(Inputs(answers=a))
    ca = [m for m in r.manifests if m["kind"] == "Secret" and "gitlab-ca" in m["metadata"]["name"]]
    assert ca and all("data" not in m for m in ca)
    assert "The GitLab CA was not available when rendering" in r.files["NEXT-STEPS.md"]


def test_every_template_section_is_used_and_filled() -> None:
    """Each section of next-steps.md is named in text.py, and each placeholder it has is filled there."""
    sections = load_templates()
    code = (ROOT / "wizard" / "render" / "text.py").read_text()
    for name, sec in sections.items():
        prefix = name.split("-")[0] + "-" if name.startswith("where-") else None
        assert f'"{name}"' in code or (prefix and f'f"{prefix}' in code), f"section {name} is never used"
        for m in sec.body.pattern.finditer(sec.body.template):
            key = m.group("named") or m.group("braced")
            if key:
                assert re.search(rf"\b{key}=", code), f"${{{key}}} in section {name} is never filled"


def test_section_format() -> None:
    text = "ignored\n<!-- a -->\n\nfirst $x\n\n<!-- b | Title b -->\nsecond $$\n"
    s = parse_sections(text)
    assert sorted(s) == ["a", "b"]
    assert s["a"].title == "" and s["a"].fill(x="1") == "first 1"
    assert s["b"].title == "Title b" and s["b"].fill() == "second $"
    with pytest.raises(KeyError):
        s["a"].fill()
