"""The host-access policy: what a desired-state author may take from the host.

Whoever can change the desired state decides what runs on the host, so what a file may
mount, build from or ask for is bounded here, refused by default and allowed by the
operator (never by the file itself):

- bind mounts, build contexts and env files are checked after `..` and symlinks are
  resolved; the host's system directories and the Docker socket are refused unless listed
  in `STEWARD_ALLOWED_HOST_PATHS`, and in allowlist mode (`STEWARD_HOST_PATHS=allowlist`)
  everything outside the desired-state directory and that list is refused;
- a symlink in the desired-state directory that leads out of it is refused: in a review it
  looks like a file of the repository;
- `privileged`, `cap_add`, `devices`, `network_mode: host` and `pid: host` need a grant in
  `STEWARD_HOST_ACCESS` (e.g. `privileged,cap_add=NET_ADMIN,devices=/dev/dri`).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

#: Host paths no container gets unless the operator allows them: each gives root on the
#: host, its secrets or its kernel.
PROTECTED = ("/etc", "/root", "/home", "/proc", "/sys", "/dev", "/boot", "/var/lib/docker",
             "/run/docker.sock", "/var/run/docker.sock", "/run/containerd")
_HOW = "allow it with STEWARD_ALLOWED_HOST_PATHS (see docs/security.md)"


@dataclass(frozen=True)
class HostPolicy:
    """What the operator allows; the defaults refuse everything risky."""

    allowed_paths: tuple[str, ...] = ()
    allowlist: bool = False
    grants: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, allowed_paths: str = "", mode: str = "denylist",
                      grants: str = "") -> HostPolicy:
        if mode not in ("denylist", "allowlist"):
            raise ValueError(f"STEWARD_HOST_PATHS must be denylist or allowlist, not {mode!r}")
        paths = tuple(os.path.realpath(p.strip()) for p in allowed_paths.split(",")
                      if p.strip())
        return cls(paths, mode == "allowlist",
                   frozenset(g.strip() for g in grants.split(",") if g.strip()))

    def refusals(self, data: Mapping[str, Any], base: Path, root: Path
                 ) -> list[tuple[tuple, str]]:
        """(field path, reason) for everything in one validated service that the policy
        refuses; `base` is the file's directory, `root` the desired-state directory."""
        found: list[tuple[tuple, str]] = []
        for index, volume in enumerate(data.get("volumes", ())):
            if volume["kind"] == "bind":
                found += _at(("volumes", index), self.check_path(volume["source"], base, root))
        if "build" in data:
            found += _at(("build",), self.check_path(data["build"]["context"], base, root))
        for index, name in enumerate(data.get("env_file", ())):
            found += _at(("env_file", index), self.check_path(name, base, root))
        if data.get("privileged"):
            found += _at(("privileged",), self.check_grant("privileged"))
        for index, capability in enumerate(data.get("cap_add", ())):
            found += _at(("cap_add", index), self.check_grant("cap_add", capability))
        for index, device in enumerate(data.get("devices", ())):
            found += _at(("devices", index), self.check_grant("devices", device.split(":")[0]))
        for key in ("network_mode", "pid"):
            if data.get(key) == "host":
                found += _at((key,), self.check_grant(key, "host"))
        return found

    def check_path(self, written: str, base: Path, root: Path) -> str | None:
        """Why the host path `written` (relative to `base`) is refused, or None."""
        resolved = Path(os.path.realpath(base / os.path.expanduser(written)))
        literal = Path(os.path.normpath(base / os.path.expanduser(written)))
        inside = resolved.is_relative_to(root.resolve())
        in_tree = literal.is_relative_to(root) or literal.is_relative_to(root.resolve())
        if in_tree and not inside:
            return (f"{written} is a symlink in the desired-state directory that leads to "
                    f"{resolved}, outside it; refer to the real path so a review sees it")
        if inside or self._allowed(resolved):
            return None
        if self.allowlist:
            return f"{resolved} is not in STEWARD_ALLOWED_HOST_PATHS (allowlist mode); {_HOW}"
        if _is_socket(resolved):
            return f"{resolved} is a socket (the Docker socket gives root on the host); {_HOW}"
        if resolved == Path("/"):
            return f"{written} is the host's root directory; {_HOW}"
        for protected in PROTECTED:
            if resolved.is_relative_to(protected):
                return (f"{resolved} is under {protected}, which the host-access policy "
                        f"protects; {_HOW}")
        return None

    def _allowed(self, path: Path) -> bool:
        return any(path.is_relative_to(a) for a in self.allowed_paths)

    def check_grant(self, key: str, value: str | None = None) -> str | None:
        """Why `key` (with `value`, e.g. a capability) is refused, or None when granted."""
        grant = key if value is None else f"{key}={value}"
        if grant in self.grants or (value is not None and f"{key}=*" in self.grants):
            return None
        return (f"{grant} needs the operator's grant: add {grant} to STEWARD_HOST_ACCESS "
                "(see docs/security.md)")


def _at(path: tuple, reason: str | None) -> list[tuple[tuple, str]]:
    return [] if reason is None else [(path, reason)]


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False
