"""pytest plugin: a real kube-apiserver for the whole session.

Fixtures
--------
``envtest``   (session) a started :class:`tests.support.envtest.Envtest`, or one
              attached to ``$RW_KUBECONFIG`` when that is set.  Start-up failure
              FAILS every test using it; only ``RW_ENVTEST=skip`` skips.
``admin_api`` a fresh ``kubernetes.client.ApiClient`` for the admin kubeconfig
              (the global default configuration is never touched).
``k8s_ns``    factory ``k8s_ns(prefix="rw", labels=None, create=True) -> str`` giving
              unique namespace names.  With no controller-manager, namespace deletion
              never finishes, so nothing is cleaned up: always use fresh names.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.envtest import Envtest

_started: dict = {}


@pytest.fixture(scope="session")
def envtest():
    if os.environ.get("RW_ENVTEST") == "skip":
        pytest.skip("RW_ENVTEST=skip: real kube-apiserver disabled")
    kubeconfig = os.environ.get("RW_KUBECONFIG")
    try:
        env = Envtest.attach(kubeconfig) if kubeconfig else Envtest().start()
    except Exception as e:  # never skip: a broken harness must be loud
        where = f"RW_KUBECONFIG={kubeconfig}" if kubeconfig else "a new etcd + kube-apiserver"
        pytest.fail(f"envtest: could not start/attach {where}:\n{e}", pytrace=False)
    _started.update(server=env.server, version=env.version, seconds=env.start_seconds,
                    attached=bool(kubeconfig))
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def admin_api(envtest):
    api = envtest.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def k8s_ns(envtest):
    from kubernetes import client as k

    api = envtest.api_client()

    def make(prefix: str = "rw", labels: dict[str, str] | None = None, create: bool = True) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"[:63].rstrip("-")
        if create:
            k.CoreV1Api(api).create_namespace(
                k.V1Namespace(metadata=k.V1ObjectMeta(name=name, labels=labels)))
        return name

    try:
        yield make
    finally:
        api.close()


def pytest_terminal_summary(terminalreporter):
    if not _started:
        return
    if _started["attached"]:
        terminalreporter.write_line(f"envtest: attached to {_started['server']} ({_started['version']})")
    else:
        terminalreporter.write_line(
            f"envtest: kube-apiserver {_started['version']} at {_started['server']} "
            f"ready in {_started['seconds']:.1f}s")
