"""What render needs besides the answers, read beforehand: render itself reads no file.

:func:`load_inputs` reads every file the answers name (the GitLab CA bundle, the registry CA
files) and checks it, so bad input is found here, before anything is built or written; and the
text templates shipped in the package (``wizard/templates/``).
Secret references are not read here: :meth:`Rendered.secret_objects` resolves them on request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..answers import Answers
from .text import Sections, load_templates


@dataclass(frozen=True)
class Inputs:
    """The answers plus everything loaded for them; :func:`wizard.render.build` turns it into documents."""

    answers: Answers
    ca_pem: str | None = None
    """The GitLab CA bundle (normalized PEM), or None (no CA, or one fetched later)."""
    registry_cas: Mapping[int, str] = field(default_factory=dict)
    """``registries[i].ca_file`` contents by index ``i``."""
    node_runtime: str | None = None
    """The runtime read from the cluster when the answers say ``auto`` (None: not known)."""
    runner_token: str | None = None
    """A token already known (from ``create_runner``): decides ``unregisterRunners``, fills the token Secret."""
    api_server: str | None = None
    """``mode: external``: the cluster API's URL for the VM's kubeconfig."""
    api_ca_pem: str | None = None
    """``mode: external``: the cluster's CA for the VM."""
    templates: Sections = field(default_factory=load_templates, repr=False)
    """The text templates shipped in the package (NEXT-STEPS.md), read once per process."""


def load_inputs(answers: Answers, *, node_runtime: str | None = None, ca_pem: str | None = None,
                runner_token: str | None = None, api_server: str | None = None,
                api_ca_pem: str | None = None) -> Inputs:
    """Read what the answers name. ``ca_pem``: the GitLab CA bundle when the caller has it
    (``wizard.tls.load_ca_pem``, which may fetch it); when ``None`` and the answers name a CA
    file, it is read here. Raises :class:`~wizard.errors.BadInput` for a file that cannot be used."""
    a = answers
    if ca_pem is None and a.gitlab.ca is not None and a.gitlab.ca.file:
        from ..tls import load_ca_pem

        ca_pem = load_ca_pem(a, fetch=False)
    registry_cas: dict[int, str] = {}
    if a.registries and any(r.ca_file for r in a.registries):
        from ..tls import ca_from_file

        for i, reg in enumerate(a.registries):
            if reg.ca_file:
                registry_cas[i] = ca_from_file(a.resolve_path(reg.ca_file), field=f"registries[{i}].ca_file")
    return Inputs(answers=a, ca_pem=ca_pem, registry_cas=registry_cas, node_runtime=node_runtime,
                  runner_token=runner_token, api_server=api_server, api_ca_pem=api_ca_pem,
                  templates=load_templates())
