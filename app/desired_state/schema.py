"""Marshmallow schemas for the desired-state file format (see README, "Desired state").

Keys follow Docker Compose where Compose has one (image, command, environment, ports, volumes,
depends_on, healthcheck). Each schema turns its YAML into the plain values `ServiceSpec` takes;
cross-service rules (duplicates, depends_on) live in the loader, which sees all files.
"""
from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.desired_state.spec import CATEGORIES

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
NAME_RULE = "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, " \
            "at most 63 characters"

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


class Environment(fields.Field):
    """A mapping of names to scalar values, or a list of `NAME=value` strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[list[str]]:
        if isinstance(value, list):
            pairs = [_split_env_item(item) for item in value]
        elif isinstance(value, Mapping):
            pairs = [(str(k), _env_value(k, v)) for k, v in value.items()]
        else:
            raise ValidationError("must be a mapping NAME: value or a list of NAME=value")
        for key, _ in pairs:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
                raise ValidationError(f"{key!r} is not a valid environment variable name")
        return sorted([k, v] for k, v in pairs)


def _split_env_item(item: Any) -> tuple[str, str]:
    if not isinstance(item, str) or "=" not in item:
        raise ValidationError(f"{item!r} is not of the form NAME=value")
    key, _, val = item.partition("=")
    return key, val


def _env_value(key: Any, value: Any) -> str:
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
    """`SOURCE:TARGET[:ro]`; a SOURCE starting with `.` or `/` is a bind mount, else a volume."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        parts = str(value).split(":")
        mode = parts.pop() if len(parts) == 3 else "rw"
        if len(parts) != 2 or not all(parts) or mode not in ("ro", "rw") \
                or not parts[1].startswith("/"):
            raise ValidationError(
                f"{value!r} is not a volume; use \"SOURCE:/container/path\" with an optional "
                "\":ro\", where SOURCE is a path (./config, /srv/data) or a volume name")
        source, target = parts
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        return {"source": source, "target": target, "read_only": mode == "ro", "kind": kind}


class Memory(fields.Field):
    """Bytes as a number, or a string like `512m`, `2g`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        match = _MEMORY.match(str(value)) if not isinstance(value, bool) else None
        if not match:
            raise ValidationError(f"{value!r} is not a memory size; use e.g. 512m or 2g")
        return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class HttpCheckSchema(StrictSchema):
    path = fields.Str(load_default="/", validate=validate.Regexp(r"^/", error="must start with /"))
    port = fields.Int(validate=validate.Range(1, 65535))


class TcpCheckSchema(StrictSchema):
    port = fields.Int(validate=validate.Range(1, 65535))


class HealthCheckSchema(StrictSchema):
    http = fields.Nested(HttpCheckSchema)
    tcp = fields.Nested(TcpCheckSchema)
    command = Command()
    interval = Duration(load_default=10.0)
    timeout = Duration(load_default=5.0)
    start_period = Duration(load_default=0.0)
    retries = fields.Int(load_default=3, validate=validate.Range(1, 100))

    @validates_schema
    def exactly_one_kind(self, data: dict, **kwargs: Any) -> None:
        kinds = [k for k in ("http", "tcp", "command") if k in data]
        if len(kinds) != 1:
            raise ValidationError(
                "give exactly one of http: {path, port}, tcp: {port} or command: [...]"
                + (f" (found {', '.join(kinds)})" if kinds else ""), "_schema")


class RestartPolicySchema(StrictSchema):
    max_failures = fields.Int(validate=validate.Range(1, 1000))
    backoff_base = Duration()
    backoff_max = Duration()
    flap_transitions = fields.Int(validate=validate.Range(2, 1000))
    flap_window = Duration()


class ResourcesSchema(StrictSchema):
    memory = Memory()
    cpus = fields.Float(validate=validate.Range(min=0.01, max=1024))


class ServiceSchema(StrictSchema):
    display_name = fields.Str(validate=validate.Length(1, 200))
    category = fields.Str(required=True, validate=validate.OneOf(
        CATEGORIES, error="must be one of: " + ", ".join(CATEGORIES)))
    image = fields.Str(required=True, validate=validate.Length(1, 500))
    command = Command()
    environment = Environment(load_default=list)
    ports = fields.List(PortMapping(), load_default=list)
    port = fields.Int(validate=validate.Range(1, 65535))
    volumes = fields.List(VolumeMount(), load_default=list)
    depends_on = fields.List(fields.Str(), load_default=list)
    restart_with = fields.List(fields.Str(), load_default=list)
    healthcheck = fields.Nested(HealthCheckSchema)
    init = fields.Bool(load_default=False, truthy={True}, falsy={False})
    stop_grace_period = Duration(load_default=10.0)
    enabled = fields.Bool(load_default=True, truthy={True}, falsy={False})
    restart_policy = fields.Nested(RestartPolicySchema, load_default=dict)
    resources = fields.Nested(ResourcesSchema, load_default=dict)


class FileSchema(StrictSchema):
    """One file: `services:` (name → service) and optional fleet settings; `x-*` keys are free."""

    services = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)
    prune = fields.Bool(truthy={True}, falsy={False})
