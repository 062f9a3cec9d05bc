"""pytest fixtures for network doubles (registered in tests/conftest.py).

* ``tls_ca``            session: LoopbackPKI — CA + leaf for localhost/127.0.0.1/::1
* ``fake_gitlab``       function: HTTPS FakeGitLab signed by ``tls_ca``
                        (``.ca_pem_path`` set for clients)
* ``fake_gitlab_http``  function: plain-HTTP FakeGitLab
* ``registry_tls_auth`` module: real docker-registry, TLS by ``tls_ca``,
                        basic auth user ``wizard`` / ``registry-pass``
* ``registry_http``     module: real docker-registry, plain HTTP, no auth
* ``blackhole``         function: Blackhole (accepts TCP, never answers)
* ``refused_port``      function: int port on 127.0.0.1 that refuses connections

Registry fixtures skip (not fail) when docker-registry is not installed,
unless ``RUNNER_WIZARD_REQUIRE_REGISTRY=1`` (CI sets it after installing it).
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from .fake_gitlab import FakeGitLab
from .registry import Registry, registry_binary
from .tlsfactory import Blackhole, LoopbackPKI, blackhole_server, make_loopback_pki
from .tlsfactory import refused_port as _refused_port

REGISTRY_USERS = {"wizard": "registry-pass"}


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackPKI:
    return make_loopback_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fake_gitlab(tls_ca: LoopbackPKI) -> Iterator[FakeGitLab]:
    fake = FakeGitLab(tls=([tls_ca.leaf], tls_ca.leaf.key), ca=tls_ca.ca)
    fake.ca_pem_path = str(tls_ca.ca_pem_path)
    with fake:
        yield fake


@pytest.fixture
def fake_gitlab_http() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake


def _registry_or_skip() -> None:
    if registry_binary() is None:
        if os.environ.get("RUNNER_WIZARD_REQUIRE_REGISTRY") == "1":
            pytest.fail("docker-registry is required but not installed")
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")


@pytest.fixture(scope="module")
def registry_tls_auth(tls_ca: LoopbackPKI) -> Iterator[Registry]:
    _registry_or_skip()
    with Registry(tls=(tls_ca.ca, tls_ca.leaf), users=REGISTRY_USERS) as reg:
        yield reg


@pytest.fixture(scope="module")
def registry_http() -> Iterator[Registry]:
    _registry_or_skip()
    with Registry() as reg:
        yield reg


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    with blackhole_server() as bh:
        yield bh


@pytest.fixture
def refused_port() -> Iterator[int]:
    with _refused_port() as port:
        yield port
