"""Pure parts of the lifecycle commands: bundle scrubbing, uninstall's ownership rules, adopt's rows."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.diagnose.bundle import Scrubber, base64_forms
from wizard.lifecycle.adopt import Row, chart_value_keys, side_by_side
from wizard.lifecycle.uninstall import namespace_created_by_us, ownership

SECRETS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)
AROUND = st.binary(max_size=6)


@settings(max_examples=150, deadline=None)
@given(SECRETS, AROUND, AROUND)
def test_a_secret_is_found_inside_any_base64_text(secret, before, after):
    enc = base64.b64encode(before + secret.encode() + after).decode()
    assert any(f in enc for f in base64_forms(secret))


@settings(max_examples=100, deadline=None)
@given(SECRETS, st.sampled_from(["plain {}", "b64 {b}", "url {u}", "auth {a}"]))
def test_scrubber_leaves_no_form_of_a_known_value(secret, template):
    sc = Scrubber()
    sc.add(secret)
    text = template.format(secret, b=base64.b64encode(secret.encode()).decode(),
                           u=base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
                           a=base64.b64encode(f"user:{secret}".encode()).decode())
    doc = sc.tree({"spec": {"env": [{"name": "X", "value": text}], "note": text}, "runnerToken": "anything"})
    out = json.dumps(doc)
    assert secret not in out and base64.b64encode(secret.encode()).decode() not in out
    assert doc["runnerToken"] == "[REDACTED]"
    assert sc.clean(out)


def _obj(labels=None, managers=(), created="2026-01-01T00:00:00Z", ann=None):
    return {"metadata": {"name": "x", "labels": labels or {}, "annotations": ann or {},
                         "creationTimestamp": created,
                         "managedFields": [{"manager": m, "time": t} for m, t in managers]}}


OURS = {"app.kubernetes.io/managed-by": "runner-wizard", "app.kubernetes.io/part-of": "rel"}


def test_ownership_needs_labels_and_field_manager_and_no_helm():
    t = "2026-01-01T00:00:00Z"
    assert ownership(_obj(OURS, [("runner-wizard", t)]), "rel") == (True, "")
    assert not ownership(_obj(OURS, [("runner-wizard", t)]), "other")[0]
    assert "never written" in ownership(_obj(OURS, [("kubectl-create", t)]), "rel")[1]
    assert ownership(_obj(OURS, [("runner-wizard", t)], ann={"meta.helm.sh/release-name": "rel"}), "rel") == \
        (False, "owned by Helm")
    assert not ownership(_obj({}, [("runner-wizard", t)]), "rel")[0]


def test_a_namespace_counts_as_created_only_when_runner_wizard_wrote_it_first_and_alone():
    t = "2026-01-01T00:00:00Z"
    assert namespace_created_by_us(_obj(OURS, [("runner-wizard", t)], created=t), "rel")[0]
    assert "existed before" in namespace_created_by_us(
        _obj(OURS, [("runner-wizard", "2026-02-01T00:00:00Z")], created=t), "rel")[1]
    assert "also written by kubectl" in namespace_created_by_us(
        _obj(OURS, [("runner-wizard", t), ("kubectl", t)], created=t), "rel")[1]


def test_chart_value_keys_come_from_the_stored_templates():
    tpl = base64.b64encode(b"{{ .Values.gitlabUrl }} {{- if .Values.rbac.create }}{{ .Values.runners.x }}").decode()
    doc = {"chart": {"templates": [{"name": "templates/a.yaml", "data": tpl}]}}
    assert chart_value_keys(doc) == {"gitlabUrl", "rbac", "runners"}
    assert chart_value_keys(None) == set()


def test_side_by_side_keeps_phrases_whole():
    text = side_by_side([Row("RBAC", "wildcard Role", "minimal Role"), Row("same", "a", "a"),
                         Row("long", "x" * 100, "y")])
    assert "RBAC" in text and "wildcard Role" in text and "| minimal Role" in text
    assert "| (unchanged)" in text and "x" * 100 in text
