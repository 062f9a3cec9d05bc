"""Node files: registry settings for CRI-O and containerd, registry CAs, and the script that installs them."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import NamedTuple

import tomlkit

from ..answers import Answers, Registry, SecretRef
from .common import CRIO_DROPIN, HEADER, comment


def _registry_url(reg: Registry) -> str:
    return f"{reg.scheme}://{reg.host}"


def _crio_dropin(a: Answers) -> str:
    lines = comment([HEADER, "CRI-O registry settings; goes to /etc/containers/" + CRIO_DROPIN,
                      "insecure = true only for plain-http registries; a private CA goes to",
                      "/etc/containers/certs.d/<host:port>/ca.crt instead."])
    doc = tomlkit.document()
    aot = tomlkit.aot()
    for reg in a.registries:
        t = tomlkit.table()
        t.add("location", reg.host)
        if reg.scheme == "http":
            t.add("insecure", True)
        aot.append(t)
    doc.add("registry", aot)
    return lines + "\n" + tomlkit.dumps(doc)


def _containerd_hosts(reg: Registry) -> str:
    doc = tomlkit.document()
    doc.add("server", _registry_url(reg))
    host = tomlkit.table()
    entry = tomlkit.table()
    entry.add("capabilities", ["pull", "resolve"])
    if reg.ca_file:
        entry.add("ca", f"/etc/containerd/certs.d/{reg.host}/ca.crt")
    host.add(_registry_url(reg), entry)
    doc.add("host", host)
    head = comment([HEADER, f"containerd registry host config for {reg.host}; goes to",
                     f"/etc/containerd/certs.d/{reg.host}/hosts.toml"])
    return head + "\n" + tomlkit.dumps(doc)


class ShellValue(NamedTuple):
    """A registry username/password in a node script."""

    expr: str
    """The shell expression (a ``${VAR:?...}`` reference, or the quoted literal)."""
    var: str
    """The environment variable to export before running the script ("" for a literal)."""


def secret_shell_var(reg: Registry, i: int, what: str) -> ShellValue:
    """The shell expression and its variable for a registry username/password on a node."""
    ref = reg.password if what == "password" else reg.username
    if isinstance(ref, SecretRef) and ref.kind == "env":
        name = ref.target
        return ShellValue(f'"${{{name}:?export {name} (registries[{i}].{what}) before running}}"', name)
    if isinstance(ref, SecretRef):
        name = f"REGISTRY_{i}_{what.upper()}"
        return ShellValue(f'"${{{name}:?export {name} (registries[{i}].{what}, from {ref.target}) before running}}"',
                          name)
    return ShellValue(shlex.quote(str(ref or "")), "")


def _node_script(a: Answers, runtime: str, files: dict[str, str]) -> str:
    creds = [(i, r) for i, r in enumerate(a.registries) if r.needs_node_credentials]
    lines = [
        "#!/usr/bin/env bash",
        f"# {HEADER}",
        f"# Run as root on every node ({runtime}) from this folder. Safe to run again.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "changed=0",
        "",
        "install_file() {  # install_file SRC DEST: copy when different, mode 0644",
        '  if ! cmp -s "$1" "$2" 2>/dev/null; then',
        '    install -D -m 0644 "$1" "$2"',
        '    echo "updated $2"',
        "    changed=1",
        "  fi",
        "}",
        "",
    ]
    prefix = f"nodes/{runtime}/"
    rels = sorted(p[len(prefix):] for p in files if p.startswith(prefix) and not p.endswith(".sh"))
    for rel in rels:
        if runtime == "cri-o":
            dest = f"/etc/containers/{rel}"
        else:
            dest = f"/etc/containerd/{rel}"
        lines.append(f"install_file {shlex.quote(rel)} {shlex.quote(dest)}")
    if runtime == "containerd":
        lines += [
            "",
            "# containerd reads certs.d only when the CRI plugin's registry config_path points there.",
            "if ! grep -Eq 'config_path *= *\"/etc/containerd/certs.d' /etc/containerd/config.toml 2>/dev/null; then",
            "  echo 'WARNING: set config_path = \"/etc/containerd/certs.d\" in the CRI registry section of' >&2",
            "  echo '         /etc/containerd/config.toml, then run this script again' >&2",
            "fi",
        ]
    if creds:
        lines += [
            "",
            "# Registry credentials for the kubelet (used by every runtime): /var/lib/kubelet/config.json.",
            "# Read from the environment now; never stored in these files.",
            "umask 077",
            'tmp="$(mktemp)"',
            "trap 'rm -f \"$tmp\"' EXIT",
            "auth() { printf '%s:%s' \"$1\" \"$2\" | base64 | tr -d '\\n'; }",
            "{",
            "  printf '{\"auths\":{'",
        ]
        for n, (i, reg) in enumerate(creds):
            user_expr = secret_shell_var(reg, i, "username").expr
            pass_expr = secret_shell_var(reg, i, "password").expr
            sep = "," if n else ""
            lines.append(f"  printf '{sep}\"%s\":{{\"auth\":\"%s\"}}' {shlex.quote(reg.host)} "
                         f"\"$(auth {user_expr} {pass_expr})\"")
        lines += [
            "  printf '}}\\n'",
            '} > "$tmp"',
            "dest=/var/lib/kubelet/config.json",
            'if [ -f "$dest" ] && ! cmp -s "$tmp" "$dest"; then',
            "  if command -v jq >/dev/null; then",
            "    jq -s '.[0] * .[1]' \"$dest\" \"$tmp\" > \"$tmp.merged\" && mv \"$tmp.merged\" \"$tmp\"",
            "  else",
            "    echo \"ERROR: $dest exists and jq is not installed to merge it; merge by hand\" >&2",
            "    exit 1",
            "  fi",
            "fi",
            'if ! cmp -s "$tmp" "$dest" 2>/dev/null; then',
            '  install -D -m 0600 "$tmp" "$dest"',
            '  echo "updated $dest (kubelet reads it on the next image pull)"',
            "fi",
        ]
    lines.append("")
    if runtime == "cri-o":
        lines += ['if [ "$changed" = 1 ]; then systemctl reload crio || systemctl restart crio; fi']
    else:
        lines += ["# hosts.toml is read on each pull; a restart picks up a config_path change.",
                  'if [ "$changed" = 1 ]; then systemctl restart containerd; fi']
    lines.append('echo "node done"')
    return "\n".join(lines) + "\n"


def build_node_files(a: Answers, runtimes: list[str], cas: Mapping[int, str]) -> dict[str, str]:
    """The files under ``nodes/<runtime>/``; ``cas``: registry index -> its CA bundle (loaded beforehand)."""
    files: dict[str, str] = {}
    if not a.registries:
        return files
    for runtime in runtimes:
        base = f"nodes/{runtime}/"
        if runtime == "cri-o":
            files[base + CRIO_DROPIN] = _crio_dropin(a)
            for i, reg in enumerate(a.registries):
                if i in cas:
                    files[f"{base}certs.d/{reg.host}/ca.crt"] = cas[i]
        else:
            for i, reg in enumerate(a.registries):
                if reg.scheme == "http" or reg.ca_file:
                    files[f"{base}certs.d/{reg.host}/hosts.toml"] = _containerd_hosts(reg)
                if i in cas:
                    files[f"{base}certs.d/{reg.host}/ca.crt"] = cas[i]
        if any(p.startswith(base) for p in files) or any(r.needs_node_credentials for r in a.registries):
            files[base + "install.sh"] = _node_script(a, runtime, files)
    return files

