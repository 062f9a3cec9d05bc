"""The cluster step picks several contexts: they become the answers file's ``clusters`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from textual.widgets import SelectionList

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle

SIZE = (100, 34)


async def _pick(pilot, *names: str) -> None:
    sl = pilot.app.screen.query_one("#fleet-contexts", SelectionList)
    for name in names:
        sl.select(name)
    await settle(pilot)


def test_cluster_step_with_two_contexts_picked(snap_compare: Any) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await _pick(pilot, "kind-ci", "prod")

    assert snap_compare(build("cluster", sample_answers(), FakeWorld()), terminal_size=SIZE, run_before=run_before)


async def test_picked_contexts_are_saved_as_clusters_and_overrides_survive(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    kept = [{"context": "prod", "cluster": {"jobs_namespace": "prod-jobs"}},
            {"context": "elsewhere", "node_runtime": "cri-o"}]  # not in this kubeconfig: untouched
    app = build("cluster", sample_answers(), FakeWorld(), answers_path=path, clusters=kept)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sl = pilot.app.screen.query_one("#fleet-contexts", SelectionList)
        assert sl.display and set(sl.selected) == {"prod"}
        await _pick(pilot, "kind-ci")
        app.state.save()
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"] == [*kept, {"context": "kind-ci"}]
    from wizard import fleet

    f = fleet.load(path)
    assert f.contexts == ["prod", "elsewhere", "kind-ci"]
    assert f.members()[0].answers.cluster.jobs_namespace == "prod-jobs"
    app = build("cluster", sample_answers(), FakeWorld(), answers_path=path, clusters=doc["clusters"])
    async with app.run_test(size=SIZE) as pilot:  # nothing picked here: only the unlisted entry stays
        await settle(pilot)
        sl = pilot.app.screen.query_one("#fleet-contexts", SelectionList)
        sl.deselect_all()
        await settle(pilot)
        app.state.save()
    assert [e["context"] for e in yaml.safe_load(path.read_text())["clusters"]] == ["elsewhere"]
