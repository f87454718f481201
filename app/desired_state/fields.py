"""Marshmallow fields for the values of desired-state files that are not plain types:
durations, commands, environments, ports, volumes, sizes and the Compose forms of networks,
GPUs, builds, labels, ulimits and hosts. Each turns its YAML into the plain values
`ServiceSpec` takes and refuses anything else with a message saying what is allowed.
"""
from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from marshmallow import ValidationError, fields

from app.desired_state.sealed import Sealed, is_sealed

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


class Duration(fields.Field):
    """Seconds as a number, or a string like `500ms`, `10s`, `2m`, `1h`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool):
            raise ValidationError("must be a duration such as 10s, 500ms, 2m or seconds")
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value))
            if not match:
                raise ValidationError(
                    f"{value!r} is not a duration; use e.g. 10s, 500ms, 2m or a number of seconds")
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds < 0:
            raise ValidationError("must not be negative")
        return seconds


class Command(fields.Field):
    """A list of arguments, or one string split like a shell would (as Compose does)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if isinstance(value, str):
            try:
                parts = shlex.split(value)
            except ValueError as err:
                raise ValidationError(f"cannot split command: {err}") from None
        elif isinstance(value, list) and all(isinstance(p, (str, int, float)) for p in value):
            parts = [str(p) for p in value]
        else:
            raise ValidationError("must be a string or a list of strings")
        if not parts:
            raise ValidationError("must not be empty")
        return parts


def _split_env_item(item: Any) -> tuple[str, str]:
    if not isinstance(item, str) or "=" not in item:
        # The item is not echoed: it may be `PASSWORD: hunter2` written with the wrong syntax.
        raise ValidationError("an item is not of the form NAME=value (the item is not shown, "
                              "since it may hold a secret)")
    key, _, val = item.partition("=")
    return key, _env_value(key, val)


def _env_value(key: Any, value: Any) -> str:
    """A `!age` value stays ciphertext (decrypted only for the container); untagged
    ciphertext is refused, so that the tag alone says what is secret."""
    if isinstance(value, Sealed):
        return value.armored
    if is_sealed(value):
        raise ValidationError(f"value of {key!r} is age ciphertext without its tag; write "
                              f"{key}: !age | and the block below it")
    if isinstance(value, (dict, list)):
        raise ValidationError(f"value of {key!r} must be a string, number or boolean")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PortMapping(fields.Field):
    """`HOST:CONTAINER` or `IP:HOST:CONTAINER`, optionally `/udp`; 127.0.0.1 by default."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        text = str(value)
        spec, _, protocol = text.partition("/")
        protocol = protocol or "tcp"
        parts = spec.split(":")
        if protocol not in ("tcp", "udp") or len(parts) not in (2, 3) \
                or not all(p.isdigit() for p in parts[-2:]):
            raise ValidationError(
                f"{text!r} is not a port mapping; use \"HOST:CONTAINER\", "
                "\"IP:HOST:CONTAINER\" or add \"/udp\", e.g. \"8080:80\"")
        host_ip = parts[0] if len(parts) == 3 else "127.0.0.1"
        host_port, container_port = int(parts[-2]), int(parts[-1])
        for port in (host_port, container_port):
            if not 1 <= port <= 65535:
                raise ValidationError(f"port {port} is out of range 1-65535")
        return {"host_ip": host_ip, "host_port": host_port,
                "container_port": container_port, "protocol": protocol}


class VolumeMount(fields.Field):
    """`SOURCE:TARGET[:OPTIONS]`; a SOURCE starting with `.` or `/` is a bind mount, else a
    volume. OPTIONS is a comma-separated list of `ro`/`rw` and SELinux's `z`/`Z`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        parts = str(value).split(":")
        options = parts.pop().split(",") if len(parts) == 3 else ["rw"]
        if len(parts) != 2 or not all(parts) or not set(options) <= {"ro", "rw", "z", "Z"} \
                or not parts[1].startswith("/") or {"ro", "rw"} <= set(options):
            raise ValidationError(
                f"{value!r} is not a volume; use \"SOURCE:/container/path\" with optional "
                "\":ro\", \":z\" or \":ro,z\", where SOURCE is a path (./config, /srv/data) "
                "or a volume name")
        source, target = parts
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        relabel = next((o for o in options if o in ("z", "Z")), None)
        return {"source": source, "target": target, "read_only": "ro" in options, "kind": kind,
                "relabel": relabel}


class Memory(fields.Field):
    """Bytes as a number, or a string like `512m`, `2g`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        match = _MEMORY.match(str(value)) if not isinstance(value, bool) else None
        if not match:
            raise ValidationError(f"{value!r} is not a memory size; use e.g. 512m or 2g")
        return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])


_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


class StringList(fields.Field):
    """One string or a list of them (Compose accepts both for env_file, tmpfs, dns...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ValidationError("must be a string or a list of strings")
        return list(items)


class Pairs(fields.Field):
    """A mapping NAME: value, or a list of `NAME=value` (labels, build args): sorted pairs."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[list[str]]:
        if isinstance(value, list):
            pairs = [_split_env_item(item) for item in value]
        elif isinstance(value, Mapping):
            pairs = [(str(k), _env_value(k, v)) for k, v in value.items()]
        else:
            raise ValidationError("must be a mapping NAME: value or a list of NAME=value")
        return sorted([k, v] for k, v in pairs)


class Environment(Pairs):
    """A mapping of names to scalar values, or a list of `NAME=value` strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[list[str]]:
        pairs = super()._deserialize(value, attr, data, **kwargs)
        for key, _ in pairs:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
                raise ValidationError(f"{key!r} is not a valid environment variable name")
        return pairs


class Labels(Pairs):
    """Container labels; Steward's own `io.steward.` labels are not the file's to set."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[list[str]]:
        pairs = super()._deserialize(value, attr, data, **kwargs)
        for key, _ in pairs:
            if key.startswith("io.steward."):
                raise ValidationError(f"label {key!r} is reserved: io.steward.* labels say "
                                      "which containers Steward owns")
        return pairs


class DependsOn(fields.Field):
    """Compose's list form (`[db, cache]`) or mapping form (`{db: {condition: ...}}`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[dict[str, str]]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [{"service": v, "condition": "service_healthy", "explicit": ""}
                    for v in value]
        if not isinstance(value, Mapping):
            raise ValidationError("must be a list of service names or a mapping "
                                  "name: {condition: service_healthy}")
        result = []
        for name, options in value.items():
            options = options or {}
            if not isinstance(options, Mapping) or not set(options) <= {
                    "condition", "restart", "required"}:
                raise ValidationError(f"{name}: give {{condition: ...}} (restart and required "
                                      "are accepted and ignored)")
            condition = options.get("condition", "service_started")
            if condition not in CONDITIONS:
                raise ValidationError(f"{name}: condition must be one of {', '.join(CONDITIONS)}")
            result.append({"service": str(name), "condition": condition, "explicit": "yes"})
        return result


class Networks(fields.Field):
    """A service's networks: a list of names, or a mapping name: {aliases: [...]} (or null)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[dict[str, Any]]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [{"name": v, "aliases": []} for v in value]
        if not isinstance(value, Mapping) or not value:
            raise ValidationError("must be a list of network names or a mapping "
                                  "name: {aliases: [...]}")
        result = []
        for name, options in value.items():
            options = options or {}
            aliases = options.get("aliases", []) if isinstance(options, Mapping) else None
            if aliases is None or set(options) - {"aliases"} or not isinstance(aliases, list) \
                    or not all(isinstance(a, str) and _HOSTNAME.match(a) for a in aliases):
                raise ValidationError(f"{name}: give {{aliases: [name, ...]}} with DNS names; "
                                      "ipv4_address and other options are not supported")
            result.append({"name": str(name), "aliases": list(aliases)})
        return result


_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


class Hostname(fields.Str):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _HOSTNAME.match(text):
            raise ValidationError(f"{text!r} is not a host name (letters, digits, '.', '-')")
        return text


class Gpus(fields.Field):
    """`gpus: all`, `gpus: 2` or `gpus: [device ids]`, as `docker run --gpus` takes them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[dict[str, Any]]:
        if value == "all":
            return [{"count": -1}]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return [{"count": value}]
        if isinstance(value, list) and value and all(isinstance(v, (str, int)) for v in value):
            return [{"device_ids": [str(v) for v in value]}]
        raise ValidationError("must be all, a number of GPUs, or a list of device ids")


class ExtraHosts(fields.Field):
    """`["host:1.2.3.4"]`, `["host=1.2.3.4"]` or a mapping host: address."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[list[str]]:
        if isinstance(value, Mapping):
            pairs = [(str(k), str(v)) for k, v in value.items()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            pairs = [re.split(r"[=:]", v, maxsplit=1) if re.search(r"[=:]", v) else [v, ""]
                     for v in value]
        else:
            raise ValidationError("must be a list of \"host:address\" or a mapping")
        for host, address in pairs:
            if not _HOSTNAME.match(host) or not re.match(r"^[0-9a-fA-F:.\[\]]+$|^host-gateway$",
                                                         address):
                raise ValidationError(f"{host}:{address} is not \"host:address\" (an IP "
                                      "address or host-gateway)")
        return sorted([h, a.strip("[]")] for h, a in pairs)


class Ulimits(fields.Field):
    """`nofile: 65536` or `nofile: {soft: 1024, hard: 65536}`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[dict[str, Any]]:
        if not isinstance(value, Mapping):
            raise ValidationError("must be a mapping such as nofile: {soft: 1024, hard: 65536}")
        result = []
        for name, limit in sorted(value.items()):
            if isinstance(limit, int) and not isinstance(limit, bool):
                soft = hard = limit
            elif isinstance(limit, Mapping) and set(limit) == {"soft", "hard"} and all(
                    isinstance(v, int) and not isinstance(v, bool) for v in limit.values()):
                soft, hard = limit["soft"], limit["hard"]
            else:
                raise ValidationError(f"{name}: give a number or {{soft: N, hard: N}}")
            if not re.match(r"^[a-z]+$", str(name)) or soft > hard or soft < -1:
                raise ValidationError(f"{name}: soft must not exceed hard, both -1 or more")
            result.append({"name": str(name), "soft": soft, "hard": hard})
        return result


class Build(fields.Field):
    """`build: ./dir` or `build: {context, dockerfile, target, args}`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if isinstance(value, str) and value:
            return {"context": value, "dockerfile": "Dockerfile", "target": None, "args": []}
        allowed = {"context", "dockerfile", "target", "args"}
        if not isinstance(value, Mapping) or not set(value) <= allowed \
                or not isinstance(value.get("context", "."), str):
            raise ValidationError("give a context directory (build: ./app) or a mapping with "
                                  f"{', '.join(sorted(allowed))}")
        args = Pairs()._deserialize(value.get("args", {}), attr, data) if value.get("args") \
            else []
        dockerfile, target = value.get("dockerfile", "Dockerfile"), value.get("target")
        if not isinstance(dockerfile, str) or (target is not None and not isinstance(target, str)):
            raise ValidationError("dockerfile and target must be strings")
        return {"context": value.get("context", "."), "dockerfile": dockerfile,
                "target": target, "args": args}

