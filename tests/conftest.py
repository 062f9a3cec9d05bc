import functools
import os

import pytest

pytest_plugins = ["tests.support.envtest_fixtures", "tests.support.net_fixtures"]


@functools.lru_cache(maxsize=1)
def _local_chart() -> str | None:
    from tests.support.charts import shared_charts_dir

    try:
        d = shared_charts_dir()
    except FileNotFoundError:
        return None
    return str(d) if any(d.glob("gitlab-runner-*.tgz")) else None


@pytest.fixture(autouse=True)
def _helm_uses_a_local_chart(monkeypatch):
    """Whatever helm call a test triggers installs the real chart of its chart_version from
    ../shared/charts, never one fetched from a chart repository (tests send traffic only to loopback)."""
    chart = _local_chart()
    if chart and not os.environ.get("RUNNER_WIZARD_CHART"):
        monkeypatch.setenv("RUNNER_WIZARD_CHART", chart)
    # Nothing in the test cluster ever contacts the stand-in GitLab, so verify's wait for a
    # runner manager to appear there (60 s for users) only costs time: look briefly instead.
    if not os.environ.get("RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT"):
        monkeypatch.setenv("RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT", "2")
