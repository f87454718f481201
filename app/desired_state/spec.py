"""The typed, immutable form of one service's desired state.

Everything downstream (store, planner, engine) works on `ServiceSpec`, never on raw YAML.
The spec also knows which of its fields shape the container: only those feed the spec hash,
so editing a display name or a restart policy never recreates a container.
"""
from __future__ import annotations

import functools
import hashlib
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import cached_property
from typing import Any, Literal, Mapping, Union

from app.desired_state import secrets

Category = Literal["infrastructure", "ai", "monitoring"]
CATEGORIES: tuple[Category, ...] = ("infrastructure", "ai", "monitoring")

#: Fields that change the container Docker runs; a difference in any of them is drift.
#: `files` is the content of the configuration files a service mounts from the repository.
CONTAINER_FIELDS: tuple[str, ...] = (
    "image", "build", "command", "entrypoint", "environment", "ports", "networks", "volumes",
    "files", "healthcheck", "resources", "gpus", "init", "stop_grace_period", "stop_signal",
    "user", "working_dir", "hostname", "labels", "shm_size", "ulimits", "tmpfs", "extra_hosts",
    "read_only", "cap_drop", "security_opt", "logging", "privileged", "cap_add", "devices",
    "network_mode", "pid", "placement", "port_mode",
)
#: Container fields left out of the hashes while empty, so adding one to Steward does not
#: make every existing container look drifted. `networks` and `logging` are never empty:
#: containers made before Steward had them show them as drift and move onto the network.
_OPTIONAL_FIELDS = ("files", "build", "entrypoint", "gpus", "stop_signal", "user",
                    "working_dir", "hostname", "labels", "shm_size", "ulimits", "tmpfs",
                    "extra_hosts", "read_only", "cap_drop", "security_opt", "privileged",
                    "cap_add", "devices", "network_mode", "pid", "placement",
                    "port_mode")


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
    #: `always` heals every exit; `once` runs to completion (a migration, an init job) and
    #: heals only a failed run.
    mode: Literal["always", "once"] = "always"


CATEGORY_RESTART_DEFAULTS: Mapping[str, RestartPolicy] = {
    "infrastructure": RestartPolicy(max_failures=10, backoff_base=2.0, backoff_max=60.0),
    "ai": RestartPolicy(max_failures=5, backoff_base=5.0, backoff_max=300.0),
    "monitoring": RestartPolicy(max_failures=3, backoff_base=10.0, backoff_max=600.0),
}


@dataclass(frozen=True)
class UpdatePolicy:
    """How a change to a running service is rolled out (Swarm's names). `order` None picks
    start-first, or stop-first when the service holds host ports or the host's network.
    The new container must be healthy (or, without a check, running) for `monitor`
    seconds within `deadline`; else `failure_action` rolls back or pauses."""

    order: Literal["start-first", "stop-first"] | None = None
    monitor: float = 10.0
    deadline: float = 120.0
    failure_action: Literal["rollback", "pause"] = "rollback"


#: Model servers take minutes to load; the other tiers should come up in seconds.
CATEGORY_UPDATE_DEFAULTS: Mapping[str, UpdatePolicy] = {
    "infrastructure": UpdatePolicy(monitor=10.0, deadline=120.0),
    "ai": UpdatePolicy(monitor=30.0, deadline=900.0),
    "monitoring": UpdatePolicy(monitor=10.0, deadline=120.0),
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
    #: SELinux relabelling of a bind mount: `z` (shared) or `Z` (private).
    relabel: str | None = None


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
class NetworkAttachment:
    """A network the container joins. `name` is the file's name for it (`default` is the
    instance network every service joins unless it lists others); the engine gives
    Steward's networks the name `<instance>_<name>`, an `external` one keeps `docker_name`.
    The service's own name is always an alias; `aliases` are extra ones."""

    name: str
    aliases: tuple[str, ...] = ()
    external: bool = False
    docker_name: str | None = None
    internal: bool = False
    driver: str = "bridge"


DEFAULT_NETWORK = NetworkAttachment(name="default")


@dataclass(frozen=True)
class DeviceRequest:
    """A request for devices by driver and capability (GPUs), as Docker's `--gpus` makes.
    `count` -1 means all; `device_ids` picks devices by id instead of a count."""

    driver: str = ""
    count: int | None = None
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ("gpu",)
    options: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        what = "all" if self.count == -1 else ", ".join(self.device_ids) if self.device_ids \
            else str(self.count or 1)
        driver = f"{self.driver} " if self.driver else ""
        return f"{driver}{'/'.join(self.capabilities)}: {what}"


@dataclass(frozen=True)
class Placement:
    """Where a Swarm engine may run the service's tasks (Swarm's own terms); the docker
    engine runs everything on its one host and ignores it."""

    constraints: tuple[str, ...] = ()
    #: Spread descriptors, e.g. `node.labels.zone`.
    preferences: tuple[str, ...] = ()
    max_replicas_per_node: int | None = None


@dataclass(frozen=True)
class BuildSpec:
    """An image Steward builds before it creates the container. `content` is a digest of the
    context's files, the Dockerfile, target and args: when it changes, the image is rebuilt."""

    context: str
    dockerfile: str = "Dockerfile"
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    content: str = ""
    #: `./path` when the context lies in the desired-state directory (then hashed as such).
    in_repo: str | None = None


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Logging:
    """Docker's log driver. The default rotates, so a crash-looping service cannot fill a
    disk with an unbounded json-file log."""

    driver: str = "json-file"
    options: tuple[tuple[str, str], ...] = (("max-file", "3"), ("max-size", "10m"))


@dataclass(frozen=True)
class Dependency:
    """`depends_on` with its Compose condition: `service_healthy` (running, and healthy when
    it has a check: what the list form means in Steward), `service_started` (its container
    runs) or `service_completed_successfully` (it ran to completion with exit code 0)."""

    service: str
    condition: str = "service_healthy"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    display_name: str
    category: Category
    image: str
    restart: RestartPolicy
    update: UpdatePolicy = field(default_factory=UpdatePolicy)
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
    networks: tuple[NetworkAttachment, ...] = (DEFAULT_NETWORK,)
    gpus: tuple[DeviceRequest, ...] = ()
    build: BuildSpec | None = None
    conditions: tuple[Dependency, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    stop_signal: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    shm_size: int | None = None
    ulimits: tuple[Ulimit, ...] = ()
    tmpfs: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()
    read_only: bool = False
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    logging: Logging = field(default_factory=Logging)
    #: Roll out a newer digest of the image's tag when the registry has one.
    auto_update: bool = False
    #: Host access the operator granted (see `app/desired_state/host_access.py`).
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    network_mode: str | None = None
    pid: str | None = None
    #: Tasks a Swarm engine runs (None: one); the docker engine runs one container.
    #: Not a container field: scaling is no drift of the containers themselves.
    replicas: int | None = None
    placement: Placement | None = None
    #: How a Swarm engine publishes `ports`: None is ingress (the routing mesh), `host` on
    #: the node that runs the task.
    port_mode: Literal["ingress", "host"] | None = None
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
        if data["build"]:
            data["build"] = _hashed_volume(dict(data["build"]), key="context")
        return {name: data[name] for name in CONTAINER_FIELDS
                if data[name] or name not in _OPTIONAL_FIELDS}

    def label_fields(self) -> dict[str, Any]:
        """The container fields as the container's label keeps them: secrets as fingerprints
        (see `secrets.fingerprint`), so a plan can say a secret changed without having it."""
        data = self.container_fields()
        data["environment"] = [[k, secrets.fingerprint(v, secrets.shown(k, v))]
                               for k, v in data["environment"]]
        for name in ("command", "entrypoint"):
            if data.get(name):
                data[name] = _fingerprinted(data[name])
        if data.get("build"):
            data["build"] = {**data["build"], "args": [[k, secrets.fingerprint(v, secrets.shown(
                k, v))] for k, v in data["build"]["args"]]}
        if data.get("healthcheck") and data["healthcheck"].get("command"):
            data["healthcheck"] = {**data["healthcheck"],
                                   "command": _fingerprinted(data["healthcheck"]["command"])}
        return data

    def field_hashes(self) -> dict[str, str]:
        """A short hash per container field, so drift can name the fields that changed."""
        return dict(self._field_hashes)

    @cached_property
    def _field_hashes(self) -> dict[str, str]:
        """Worked out once per spec (frozen): every pass asks each service's several times."""
        return {name: _digest(value)[:12] for name, value in self.container_fields().items()}

    @property
    def rollout_order(self) -> tuple[str, str]:
        """(start-first or stop-first, why): two containers cannot hold one host port."""
        if self.update.order:
            return self.update.order, "set in update.order"
        if self.network_mode == "host":
            return "stop-first", "it uses the host's network"
        if self.ports:
            return "stop-first", "it publishes host ports"
        return "start-first", "it publishes no host ports"

    def condition(self, dependency: str) -> str:
        """How this service waits for `dependency` (see `Dependency`)."""
        return next((d.condition for d in self.conditions if d.service == dependency),
                    "service_healthy")

    @property
    def dependencies(self) -> tuple[str, ...]:
        """`depends_on` plus `restart_with`: a service restarted with another needs it first."""
        return tuple(dict.fromkeys(self.depends_on + self.restart_with))

    @cached_property
    def spec_hash(self) -> str:
        return _digest(self.container_fields())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceSpec:
        """Rebuild a spec stored by `to_dict` (JSON turns tuples into lists)."""
        return _rebuild(cls, data)


def describe_gpus(stored: Any) -> list[str]:
    """GPU requests as people read them (`nvidia gpu: all`), from a stored spec's `gpus`."""
    return [_rebuild(DeviceRequest, raw).describe() for raw in stored or ()]


def _rebuild(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass from the dict `asdict` made of it, tuples and nested dataclasses restored
    from the field types: one rule for every field, so a new field needs no code here."""
    hints = _field_types(cls)
    return cls(**{name: _value(hints[name], value) for name, value in data.items()
                  if name in hints})


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field: every pass rebuilds every stored spec, and resolving
    string annotations each time would cost more than the rebuild."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(item, v) for v in value)
        return tuple(_value(a, v) for a, v in zip(args, value))
    if is_dataclass(hint) and isinstance(value, Mapping):
        return _rebuild(hint, value)
    return value


def _fingerprinted(arguments: list[str]) -> list[str]:
    shown = secrets.shown_command(arguments)
    return [secrets.fingerprint(a, b) for a, b in zip(arguments, shown)]


def _hashed_volume(volume: dict[str, Any], key: str = "source") -> dict[str, Any]:
    """A mount (or build context) as the hash sees it: a repository path stays relative to
    the repository, so a checkout elsewhere hashes the same."""
    in_repo = volume.pop("in_repo", None)
    if volume.get("relabel", "") is None:
        del volume["relabel"]  # as hashed before relabelling existed
    return {**volume, key: in_repo} if in_repo else volume


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class DesiredState:
    """All services of one valid load of `desired_state/`, plus the fleet-wide settings."""

    services: Mapping[str, ServiceSpec]
    prune: bool = False
    digest: str = ""
