"""The typed, immutable form of one service's desired state.

Everything downstream (store, planner, engine) works on `ServiceSpec`, never on raw YAML.
The spec also knows which of its fields shape the container: only those feed the spec hash,
so editing a display name or a restart policy never recreates a container.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

from app.desired_state import secrets

Category = Literal["infrastructure", "ai", "monitoring"]
CATEGORIES: tuple[Category, ...] = ("infrastructure", "ai", "monitoring")

#: Fields that change the container Docker runs; a difference in any of them is drift.
#: `files` is the content of the configuration files a service mounts from the repository.
CONTAINER_FIELDS: tuple[str, ...] = (
    "image", "command", "environment", "ports", "volumes", "files", "healthcheck",
    "resources", "init", "stop_grace_period",
)
#: Container fields left out of the hashes while empty, so adding one to Steward does not
#: make every existing container look drifted.
_OPTIONAL_FIELDS = ("files",)


@dataclass(frozen=True)
class RestartPolicy:
    """How a failed service is healed; see `app/reconcile/policy.py` for the arithmetic.

    A service is flapping when its health check result changes `flap_transitions` times
    within `flap_window` seconds while the container keeps running.
    """

    max_failures: int
    backoff_base: float
    backoff_max: float
    flap_transitions: int = 6
    flap_window: float = 600.0


CATEGORY_RESTART_DEFAULTS: Mapping[str, RestartPolicy] = {
    "infrastructure": RestartPolicy(max_failures=10, backoff_base=2.0, backoff_max=60.0),
    "ai": RestartPolicy(max_failures=5, backoff_base=5.0, backoff_max=300.0),
    "monitoring": RestartPolicy(max_failures=3, backoff_base=10.0, backoff_max=600.0),
}


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class VolumeMount:
    source: str
    target: str
    read_only: bool = False
    kind: Literal["bind", "volume"] = "bind"
    #: `./path` when the source lies in the desired-state directory (then hashed as such).
    in_repo: str | None = None


@dataclass(frozen=True)
class HealthCheck:
    kind: Literal["http", "tcp", "command"]
    interval: float
    timeout: float
    start_period: float
    retries: int
    path: str | None = None
    port: int | None = None
    command: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Resources:
    memory_bytes: int | None = None
    cpus: float | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    display_name: str
    category: Category
    image: str
    restart: RestartPolicy
    command: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortMapping, ...] = ()
    port: int | None = None
    volumes: tuple[VolumeMount, ...] = ()
    #: (path in the container, content digest) of each bind mount from the repository.
    files: tuple[tuple[str, str], ...] = ()
    depends_on: tuple[str, ...] = ()
    restart_with: tuple[str, ...] = ()
    healthcheck: HealthCheck | None = None
    resources: Resources = field(default_factory=Resources)
    init: bool = False
    stop_grace_period: float = 10.0
    enabled: bool = True
    source_file: str = ""
    source_line: int = 0

    def container_fields(self) -> dict[str, Any]:
        """The JSON-able values of the fields that shape the container.

        An http or tcp check is probed by Steward from outside, so changing it must not
        recreate the container; only a command check becomes the container's HEALTHCHECK.
        """
        data = asdict(self)
        if self.healthcheck is None or self.healthcheck.kind != "command":
            data["healthcheck"] = None
        data["volumes"] = [_hashed_volume(v) for v in data["volumes"]]
        return {name: data[name] for name in CONTAINER_FIELDS
                if data[name] or name not in _OPTIONAL_FIELDS}

    def label_fields(self) -> dict[str, Any]:
        """The container fields as the container's label keeps them: secrets as fingerprints
        (see `secrets.fingerprint`), so a plan can say a secret changed without having it."""
        data = self.container_fields()
        data["environment"] = [[k, secrets.fingerprint(v, secrets.shown(k, v))]
                               for k, v in data["environment"]]
        if data.get("command"):
            data["command"] = _fingerprinted(data["command"])
        if data.get("healthcheck") and data["healthcheck"].get("command"):
            data["healthcheck"] = {**data["healthcheck"],
                                   "command": _fingerprinted(data["healthcheck"]["command"])}
        return data

    def field_hashes(self) -> dict[str, str]:
        """A short hash per container field, so drift can name the fields that changed."""
        return {name: _digest(value)[:12] for name, value in self.container_fields().items()}

    @property
    def dependencies(self) -> tuple[str, ...]:
        """`depends_on` plus `restart_with`: a service restarted with another needs it first."""
        return tuple(dict.fromkeys(self.depends_on + self.restart_with))

    @property
    def spec_hash(self) -> str:
        return _digest(self.container_fields())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceSpec:
        """Rebuild a spec stored by `to_dict` (JSON turns tuples into lists)."""
        health = data.get("healthcheck")
        return cls(
            **{k: v for k, v in data.items() if k in _SCALARS},
            restart=RestartPolicy(**data["restart"]),
            command=_tuple(data.get("command")),
            environment=tuple((k, v) for k, v in data.get("environment", ())),
            ports=tuple(PortMapping(**p) for p in data.get("ports", ())),
            volumes=tuple(VolumeMount(**v) for v in data.get("volumes", ())),
            files=tuple((target, digest) for target, digest in data.get("files", ())),
            depends_on=tuple(data.get("depends_on", ())),
            restart_with=tuple(data.get("restart_with", ())),
            healthcheck=HealthCheck(**{**health, "command": _tuple(health.get("command"))})
            if health else None,
            resources=Resources(**data.get("resources", {})),
        )


_SCALARS = {"name", "display_name", "category", "image", "port", "enabled", "init",
            "stop_grace_period", "source_file", "source_line"}


def _fingerprinted(arguments: list[str]) -> list[str]:
    shown = secrets.shown_command(arguments)
    return [secrets.fingerprint(a, b) for a, b in zip(arguments, shown)]


def _hashed_volume(volume: dict[str, Any]) -> dict[str, Any]:
    """A mount as the hash sees it: a repository path stays relative to the repository."""
    in_repo = volume.pop("in_repo", None)
    return {**volume, "source": in_repo} if in_repo else volume


def _tuple(value: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class DesiredState:
    """All services of one valid load of `desired_state/`, plus the fleet-wide settings."""

    services: Mapping[str, ServiceSpec]
    prune: bool = False
    digest: str = ""
