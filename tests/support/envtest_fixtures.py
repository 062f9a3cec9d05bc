"""pytest plugin: a real control plane for the whole session.

One etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (with
simulated containerd/CRI-O, amd64/arm64 nodes) per pytest session: Deployments roll
out, pods become Ready, namespaces finish deleting.  ``RW_ENVTEST_PLANE=apiserver``
starts only etcd + kube-apiserver (nothing runs; for debugging the harness).

Fixtures
--------
``envtest``   (session) a started :class:`tests.support.envtest.Envtest`, or one
              attached to ``$RW_KUBECONFIG`` when that is set (e.g. from
              ``scripts/envtest up``).  Start-up failure FAILS every test using it;
              only ``RW_ENVTEST=skip`` skips.
``admin_api`` a fresh ``kubernetes.client.ApiClient`` for the admin kubeconfig
              (the global default configuration is never touched).
``k8s_ns``    factory ``k8s_ns(prefix="rw", labels=None, create=True) -> str`` giving
              unique namespace names (the session's cluster is shared: always use fresh
              names; nothing is deleted after a test).
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
                    apiserver_seconds=env.apiserver_seconds, plane=env.control_plane,
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
        what = ("control plane (apiserver, controller-manager, scheduler, kwok)" if _started["plane"]
                else "kube-apiserver")
        terminalreporter.write_line(
            f"envtest: {what} {_started['version']} at {_started['server']} "
            f"ready in {_started['seconds']:.1f}s (apiserver after {_started['apiserver_seconds']:.1f}s)")
