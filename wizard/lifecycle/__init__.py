"""Living with an install after the first apply: uninstall, rollback, upgrade, adopt.

* :mod:`~wizard.lifecycle.common` -- which release, helm flags, the Helm release records
  (decoded from the release Secrets), asking for consent;
* :mod:`~wizard.lifecycle.uninstall` -- ``runner-wizard uninstall``;
* :mod:`~wizard.lifecycle.releases` -- ``runner-wizard rollback`` and ``runner-wizard upgrade``;
* :mod:`~wizard.lifecycle.adopt` -- ``runner-wizard adopt``.

The support bundle belongs to the diagnosis (:mod:`wizard.diagnose.bundle`). This package
sits between the CLI and the commands it builds on (apply, diagnose): it may use them,
they never use it.
"""
