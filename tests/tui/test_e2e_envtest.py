"""The wizard end to end against a real kube-apiserver (envtest) and the fake GitLab,
with the real check engine and renderer: the saved answers replay headless to the
same artifacts the review step previewed."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from screens.app import make_app
from screens.dialogs import YesNoDialog
from screens.services import Services
from wizard import answers as am
from wizard import steps as st

from .helpers import settle

pytestmark = [pytest.mark.envtest, pytest.mark.slow]


async def test_tui_run_against_envtest_and_fake_gitlab(envtest, fake_gitlab, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    runner = fake_gitlab.add_runner()
    monkeypatch.setenv("RUNNER_TOKEN", runner.token)
    shutil.copy(fake_gitlab.ca_pem_path, tmp_path / "gitlab-ca.pem")
    suffix = uuid.uuid4().hex[:6]
    intent = am.parse({
        "version": 1,
        "gitlab": {"url": fake_gitlab.url, "token": "env:RUNNER_TOKEN", "ca": {"file": "./gitlab-ca.pem"}},
        "cluster": {"runner_namespace": f"rw-ci-{suffix}", "jobs_namespace": f"rw-jobs-{suffix}"},
        "node_runtime": "containerd",
    }, base_dir=tmp_path)
    app = make_app(intent, kubeconfig=str(envtest.kubeconfig), services=Services(),
                   answers_path=tmp_path / "answers.yaml")
    app.animation_level = "none"
    results: dict[str, list] = {}
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        while app.current_step != "review":
            step = app.current_step
            app.screen.action_check()
            await settle(pilot, rounds=6)
            results[step] = list(app.screen.last_results or [])
            await pilot.press("ctrl+n")
            await settle(pilot)
            if isinstance(app.screen, YesNoDialog):
                await pilot.click("#yes")
                await settle(pilot)
        await settle(pilot, rounds=8)
        previewed = dict(app.screen.files)
        await pilot.press("ctrl+s")
        await settle(pilot)
    # the live checks really ran against the apiserver and GitLab
    assert set(results) == set(st.FORM_STEP_IDS)
    assert any(r.status.value == "pass" for r in results["cluster"])
    assert any(r.status.value == "pass" for r in results["token"]), results["token"]
    # the saved file is the intent, and replays headless to what was previewed
    saved = am.load(tmp_path / "answers.yaml")
    assert saved == intent
    from wizard.render import render

    assert previewed and render(saved).files == previewed
