"""Turn one service's validated mapping (what `ServiceFileSchema` loads) into a `ServiceSpec`.

This is where Compose's spellings meet Steward's one form: `deploy.resources.limits` becomes
`resources`, `gpus` and `deploy.resources.reservations.devices` become device requests,
`env_file` is merged under `environment`, paths become absolute (and, inside the
desired-state directory, also relative to it for the hash), and a build context gets the
digest of its content. Problems found here (a missing env file, a build context that is
not a directory, an undeclared network) go to `errors` as (field path, message).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

from app.desired_state import sealed
from app.desired_state.age_secrets import Keyring, SecretError
from app.desired_state.interpolate import read_env_file
from app.desired_state.spec import (
    CATEGORY_RESTART_DEFAULTS,
    CATEGORY_UPDATE_DEFAULTS,
    DEFAULT_NETWORK,
    BuildSpec,
    Dependency,
    DeviceRequest,
    HealthCheck,
    Logging,
    NetworkAttachment,
    Placement,
    PortMapping,
    Resources,
    RestartPolicy,
    ServiceSpec,
    Ulimit,
    UpdatePolicy,
    VolumeMount,
)

#: Log rotation Steward applies to json-file logs unless the file says otherwise.
DEFAULT_LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}


class Problems(list):
    """(field path, message) pairs found while converting one service."""

    def add(self, path: tuple, message: str) -> None:
        self.append((path, message))


def to_spec(name: str, data: dict, *, file: str, line: int, base: Path, root: Path,
            instance: str, networks: Mapping[str, NetworkAttachment],
            problems: Problems) -> ServiceSpec:
    """The spec of service `name` of `file`; `base` is the file's directory, `root` the
    desired-state directory, `networks` the top-level networks of every file."""
    defaults = CATEGORY_RESTART_DEFAULTS[data["category"]]
    restart = RestartPolicy(**{**defaults.__dict__, **data["restart_policy"]})
    update = UpdatePolicy(**{**CATEGORY_UPDATE_DEFAULTS[data["category"]].__dict__,
                             **data["update"]})
    ports = tuple(PortMapping(**p) for p in data["ports"])
    port = data.get("port", ports[0].host_port if ports else None)
    volumes = tuple(_volume(v, base, root) for v in data["volumes"])
    build = _build(data["build"], base, root, problems) if data.get("build") else None
    deploy = data["deploy"].get("resources", {})
    limits = data["resources"] or deploy.get("limits", {})
    explicit = [d for d in data["depends_on"] if d["explicit"]]
    return ServiceSpec(
        name=name,
        display_name=data.get("display_name", name),
        category=data["category"],
        image=data.get("image") or f"{instance}-{name}:latest",
        restart=restart,
        update=update,
        command=_tuple(data.get("command")),
        entrypoint=_tuple(data.get("entrypoint")),
        environment=_environment(data, base, problems),
        ports=ports,
        port=port,
        volumes=volumes,
        files=_mounted_files(volumes),
        networks=() if "network_mode" in data
        else _networks(data.get("networks"), networks, problems),
        depends_on=tuple(d["service"] for d in data["depends_on"]),
        conditions=tuple(Dependency(d["service"], d["condition"]) for d in explicit),
        restart_with=tuple(data["restart_with"]),
        healthcheck=_healthcheck(data.get("healthcheck"), port),
        resources=Resources(memory_bytes=limits.get("memory"), cpus=limits.get("cpus")),
        gpus=_gpus(data.get("gpus"), deploy.get("reservations", {}).get("devices", [])),
        build=build,
        init=data["init"],
        stop_grace_period=data["stop_grace_period"],
        stop_signal=data.get("stop_signal"),
        user=data.get("user"),
        working_dir=data.get("working_dir"),
        hostname=data.get("hostname"),
        labels=_pairs(data.get("labels", [])),
        shm_size=data.get("shm_size"),
        ulimits=tuple(Ulimit(**u) for u in data.get("ulimits", [])),
        tmpfs=tuple(sorted(data.get("tmpfs", []))),
        extra_hosts=_pairs(data.get("extra_hosts", [])),
        read_only=data.get("read_only", False),
        cap_drop=tuple(sorted(c.removeprefix("CAP_") for c in data.get("cap_drop", []))),
        security_opt=tuple(sorted({"no-new-privileges:true"} if data.get("security_opt")
                                  else set())),
        logging=_logging(data.get("logging")),
        auto_update=data.get("auto_update", False),
        replicas=data.get("replicas"),
        placement=_placement(data.get("placement")),
        port_mode=data.get("port_mode"),
        privileged=data.get("privileged", False),
        cap_add=tuple(sorted(c.removeprefix("CAP_") for c in data.get("cap_add", []))),
        devices=tuple(_device(d) for d in data.get("devices", [])),
        network_mode=data.get("network_mode"),
        pid=data.get("pid"),
        enabled=data["enabled"],
        source_file=file,
        source_line=line,
    )


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _device(text: str) -> str:
    """`/dev/x` -> `/dev/x:/dev/x:rwm`, Docker's full form, so spellings hash alike."""
    parts = text.split(":")
    return ":".join([parts[0], parts[1] if len(parts) > 1 else parts[0],
                     parts[2] if len(parts) > 2 else "rwm"])


def _pairs(items: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in items)


def _environment(data: dict, base: Path, problems: Problems) -> tuple[tuple[str, str], ...]:
    """`env_file` values first, in order, then `environment:` over them (as Compose does).

    Secrets stay ciphertext: an encrypted env file (`*.age`) is one entry the engine expands
    (`sealed.env_file_key`), and the plain values it overrides are dropped. Each one must
    decrypt with the host's key now, so a wrong key is an error at load, with its line.
    """
    keyring = Keyring.from_environment()
    merged: dict[str, str] = {}
    for index, name in enumerate(data.get("env_file", [])):
        path = base / os.path.expanduser(name)
        if not path.is_file():
            problems.add(("env_file", index), f"{name} not found (relative to this file)")
            continue
        if sealed.is_env_file(name):
            try:
                armored, names = keyring.open_env_file(path)
            except SecretError as err:
                problems.add(("env_file", index), f"{name}: {err}")
                continue
            for key in names:
                merged.pop(key, None)
            merged[sealed.env_file_key(index, name)] = armored
            continue
        values, errors = read_env_file(path)
        for number, message in errors:
            problems.add(("env_file", index), f"{name}:{number}: {message}")
        merged.update(values)
    merged.update(dict(data["environment"]))
    for key, value in data["environment"]:
        if sealed.is_sealed(value):
            try:
                keyring.decrypt(value)
            except SecretError as err:
                problems.add(("environment", key), str(err))
    return tuple(sorted(merged.items()))


def _volume(raw: dict, base: Path, root: Path) -> VolumeMount:
    """A bind source is made absolute; one inside the desired-state directory also keeps its
    path relative to it, which is what the spec hash sees (so a checkout elsewhere, as
    `steward plan PATH` reads, hashes the same)."""
    if raw["kind"] != "bind":
        return VolumeMount(**raw)
    source, in_repo = _located(raw["source"], base, root)
    return VolumeMount(**{**raw, "source": source}, in_repo=in_repo)


def _located(path: str, base: Path, root: Path) -> tuple[str, str | None]:
    """(absolute path, `./relative` path when inside `root`, else None)."""
    absolute = (base / os.path.expanduser(path)).resolve()
    inside = absolute.is_relative_to(root.resolve())
    return str(absolute), f"./{absolute.relative_to(root.resolve())}" if inside else None


def _mounted_files(volumes: tuple[VolumeMount, ...]) -> tuple[tuple[str, str], ...]:
    """A content digest of each (read-only) bind mount from the desired-state directory: an
    edited configuration file is drift, and recreates the services that mount it."""
    return tuple((v.target, content_digest(Path(v.source))) for v in volumes
                 if v.in_repo and Path(v.source).exists())


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's relative paths and file contents, in order
    (read in chunks; `.git` left out, as everywhere in the desired-state directory)."""
    sha = hashlib.sha256()
    files = _tree(path) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            sha.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            sha.update(hashlib.file_digest(handle, "sha256").digest())
    return sha.hexdigest()[:16]


def _tree(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and ".git" not in p.relative_to(root).parts)


def _build(raw: dict, base: Path, root: Path, problems: Problems) -> BuildSpec | None:
    """The build, with the digest of its context: a changed file in it means a new image."""
    context, in_repo = _located(raw["context"], base, root)
    if not Path(context).is_dir():
        problems.add(("build",), f"build context {raw['context']} is not a directory "
                                 "(paths are relative to this file)")
        return None
    if not (Path(context) / raw["dockerfile"]).is_file():
        problems.add(("build",), f"{raw['dockerfile']} not found in the build context "
                                 f"{raw['context']}")
        return None
    return BuildSpec(context=context, dockerfile=raw["dockerfile"], target=raw["target"],
                     args=_pairs(raw["args"]), content=content_digest(Path(context)),
                     in_repo=in_repo)


def _networks(listed: list[dict] | None, declared: Mapping[str, NetworkAttachment],
              problems: Problems) -> tuple[NetworkAttachment, ...]:
    """The service's networks; without `networks:` it joins the instance network only."""
    if listed is None:
        return (DEFAULT_NETWORK,)
    result = []
    for entry in listed:
        network = declared.get(entry["name"])
        if network is None and entry["name"] != "default":
            problems.add(("networks",), f"network {entry['name']!r} is not declared; add it "
                                        "under the top-level networks: of a file")
            continue
        base = network or DEFAULT_NETWORK
        result.append(NetworkAttachment(**{**base.__dict__,
                                           "aliases": tuple(sorted(entry["aliases"]))}))
    return tuple(sorted(result, key=lambda n: n.name))


def declared_network(name: str, raw: Mapping[str, Any] | None) -> NetworkAttachment:
    """A top-level network of a file, as services attach to it."""
    raw = raw or {}
    return NetworkAttachment(name=name, external=raw.get("external", False),
                             docker_name=raw.get("name") or (name if raw.get("external")
                                                             else None),
                             internal=raw.get("internal", False),
                             driver=raw.get("driver", "bridge"))


def _gpus(short: list[dict] | None, devices: list[dict]) -> tuple[DeviceRequest, ...]:
    """`gpus:` and Compose's device reservations, as Docker's device requests."""
    requests = []
    for raw in (short or []) + devices:
        count = raw.get("count")
        requests.append(DeviceRequest(
            driver=raw.get("driver", ""),
            count=-1 if count == "all" else count if count is not None
            else None if raw.get("device_ids") else -1,
            device_ids=tuple(raw.get("device_ids", ())),
            capabilities=tuple(raw.get("capabilities", ("gpu",))),
            options=tuple(sorted((raw.get("options") or {}).items()))))
    return tuple(requests)


def _placement(raw: dict | None) -> Placement | None:
    if not raw:
        return None
    return Placement(constraints=tuple(raw.get("constraints", [])),
                     preferences=tuple(p.removeprefix("spread=")
                                       for p in raw.get("preferences", [])),
                     max_replicas_per_node=raw.get("max_replicas_per_node"))


def _logging(raw: dict | None) -> Logging:
    if raw is None:
        return Logging()
    options = {k: str(v) for k, v in raw["options"].items()}
    if raw["driver"] == "json-file":
        options = {**DEFAULT_LOG_OPTIONS, **options}
    return Logging(driver=raw["driver"], options=tuple(sorted(options.items())))


def _healthcheck(raw: dict | None, port: int | None) -> HealthCheck | None:
    if raw is None:
        return None
    timing = {k: raw[k] for k in ("interval", "timeout", "start_period", "retries")}
    if "command" in raw:
        return HealthCheck(kind="command", command=tuple(raw["command"]), **timing)
    kind = "http" if "http" in raw else "tcp"
    probe = raw[kind]
    return HealthCheck(kind=kind, path=probe.get("path"), port=probe.get("port", port), **timing)
