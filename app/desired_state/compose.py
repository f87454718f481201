"""`steward import-compose`: turn a docker-compose.yml into desired-state YAML.

Carries over what Steward can express (image, command, environment and env_file,
ports, volumes, depends_on, healthcheck, restart) and lists, per service, what it could
not, so nothing is dropped silently. The result is meant to be reviewed and committed.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.desired_state.secrets import is_secret

#: Image names that suggest a category; everything else is `ai` unless told otherwise.
_INFRASTRUCTURE = re.compile(r"postgres|mysql|mariadb|redis|mongo|rabbitmq|kafka|zookeeper|"
                             r"memcached|minio|elasticsearch|nats|etcd|vault|traefik|nginx|"
                             r"haproxy|caddy|valkey|clickhouse|cassandra", re.IGNORECASE)
_MONITORING = re.compile(r"prometheus|grafana|loki|alertmanager|node-exporter|cadvisor|"
                         r"jaeger|tempo|promtail|otel|telegraf|influxdb|uptime-kuma",
                         re.IGNORECASE)
_CARRIED = {"image", "command", "environment", "env_file", "ports", "volumes", "depends_on",
            "healthcheck", "restart", "container_name", "init", "stop_grace_period"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class ComposeError(ValueError):
    """The file is not a compose file Steward can read."""


@dataclass
class Imported:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> what was not carried

    def to_yaml(self, source: str) -> str:
        header = [f"# Imported from {source} by `steward import-compose`; review before committing."]
        for name, notes in self.notes.items():
            header += [f"# {name}: {note}" for note in notes]
        body = yaml.safe_dump({"services": self.services}, sort_keys=False, width=100)
        return "\n".join(header) + "\n" + body


def import_compose(path: Path, category: str | None = None,
                   target_dir: Path | None = None) -> Imported:
    """Read `path`; relative bind mounts are rewritten relative to `target_dir`, where the
    desired-state file will be (default: the compose file's own directory)."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ComposeError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError(f"{path}: no 'services:' mapping; is this a compose file?")
    result = Imported()
    rebase = _Rebase(path.resolve().parent, (target_dir or path.parent).resolve())
    for name, raw in document["services"].items():
        steward_name = _name(str(name))
        notes: list[str] = []
        if steward_name in result.services:
            steward_name = _name(f"{steward_name}-{len(result.services)}")
            notes.append(f"renamed from {name!r}: its cleaned name clashed with another service")
        elif steward_name != name:
            notes.append(f"renamed from {name!r} (names are lowercase letters, digits, . _ -)")
        result.services[steward_name] = _service(raw or {}, rebase, category, notes)
        if "${" in yaml.safe_dump(raw):
            notes.append("contains ${...}: compose fills it in from the environment, Steward "
                         "does not; replace it with the value")
        if notes:
            result.notes[steward_name] = notes
    return result


@dataclass(frozen=True)
class _Rebase:
    """Paths in the compose file are relative to it; in Steward's file, to that file."""

    compose_dir: Path
    target_dir: Path

    def path(self, source: str) -> str:
        if not source.startswith((".", "~")) or source.startswith("~"):
            return source
        absolute = (self.compose_dir / source).resolve()
        relative = os.path.relpath(absolute, self.target_dir)
        return relative if relative.startswith("..") else f"./{relative}"


def _service(raw: dict, rebase: _Rebase, category: str | None, notes: list[str]) -> dict:
    image = raw.get("image")
    if not image:
        notes.append("no image (build: is not supported); set image: by hand")
    service: dict[str, Any] = {"category": category or _category(str(image or ""))}
    service["image"] = image or "REPLACE-ME"
    if "command" in raw:
        service["command"] = raw["command"] if isinstance(raw["command"], list) \
            else shlex.split(str(raw["command"]))
    environment = _env_files(raw.get("env_file"), rebase.compose_dir, notes)
    environment.update(_environment(raw.get("environment"), notes))
    if environment:
        service["environment"] = environment
        secret = sorted(k for k in environment if is_secret(k))
        if secret:
            notes.append(f"environment {', '.join(secret)}: secret values now sit in the "
                         "desired-state file; review before committing")
    if raw.get("ports"):
        service["ports"] = [p for p in (_port(p, notes) for p in raw["ports"]) if p]
    if raw.get("volumes"):
        service["volumes"] = [v for v in (_volume(v, rebase, notes) for v in raw["volumes"]) if v]
    if raw.get("depends_on"):
        deps = raw["depends_on"]
        service["depends_on"] = [_name(str(d)) for d in (deps if isinstance(deps, list)
                                                         else deps.keys())]
    if raw.get("healthcheck"):
        check = _healthcheck(raw["healthcheck"], notes)
        if check:
            service["healthcheck"] = check
    if raw.get("init"):
        service["init"] = True
    if raw.get("stop_grace_period"):
        service["stop_grace_period"] = f"{_seconds(raw['stop_grace_period']):g}s"
    _restart(raw.get("restart"), service, notes)
    for key in sorted(set(raw) - _CARRIED):
        notes.append(f"{key}: not carried over (Steward has no equivalent)")
    if "container_name" in raw:
        notes.append("container_name: not carried over (Steward names containers itself)")
    return service


def _name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_.-]", "-", name.lower()).strip("-._")
    return cleaned[:63] or "service"


def _category(image: str) -> str:
    if _MONITORING.search(image):
        return "monitoring"
    if _INFRASTRUCTURE.search(image):
        return "infrastructure"
    return "ai"


def _environment(value: Any, notes: list[str]) -> dict[str, str]:
    if isinstance(value, dict):
        items = [(str(k), None if v is None else str(v)) for k, v in value.items()]
    else:
        items = [(str(i).partition("=")[0], str(i).partition("=")[2] if "=" in str(i)
                  else None) for i in value or []]
    pairs = {}
    for key, val in items:
        if val is None:
            notes.append(f"environment {key}: compose passes it from the host's environment; "
                         "set its value in the file")
        pairs[key] = val or ""
    return pairs


def _env_files(value: Any, base: Path, notes: list[str]) -> dict[str, str]:
    files = [value] if isinstance(value, str) else [
        v if isinstance(v, str) else v.get("path") for v in value or []]
    found: dict[str, str] = {}
    for name in files:
        path = base / name
        if not path.is_file():
            notes.append(f"env_file {name}: not found, its variables were not carried over")
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, val = line.partition("=")
                found[key.strip()] = val.strip().strip("'\"")
        notes.append(f"env_file {name}: copied into environment (review for secrets)")
    return found


def _port(value: Any, notes: list[str]) -> str | None:
    if isinstance(value, dict):
        if "published" not in value:
            notes.append(f"port {value.get('target')}: not published in compose; left out")
            return None
        host = value.get("host_ip", "127.0.0.1")
        text = f"{host}:{value['published']}:{value['target']}"
        return text + ("/udp" if value.get("protocol") == "udp" else "")
    text = str(value)
    spec, _, protocol = text.partition("/")
    parts = spec.split(":")
    if len(parts) == 1:
        notes.append(f"port {text}: not published in compose; left out")
        return None
    if "-" in spec:
        notes.append(f"port {text}: port ranges are not supported; left out")
        return None
    if len(parts) == 2:
        notes.append(f"port {text}: published on 127.0.0.1 (Steward's default), not on all "
                     "interfaces as compose would")
    return text


def _volume(value: Any, rebase: _Rebase, notes: list[str]) -> str | None:
    if isinstance(value, dict):
        if value.get("type") not in (None, "bind", "volume") or not value.get("source"):
            notes.append(f"volume {value.get('target')}: type {value.get('type')} is not "
                         "supported; left out")
            return None
        mode = ":ro" if value.get("read_only") else ""
        return f"{rebase.path(str(value['source']))}:{value['target']}{mode}"
    parts = str(value).split(":")
    parts[0] = rebase.path(parts[0])
    if len(parts) == 1:
        notes.append(f"volume {value}: anonymous volumes are not supported; left out")
        return None
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        notes.append(f"volume {value}: options {parts[2]!r} are not supported; mounted "
                     "read-write")
        parts = parts[:2]
    return ":".join(parts)


def _healthcheck(raw: dict, notes: list[str]) -> dict | None:
    if raw.get("disable"):
        return None
    test = raw.get("test")
    if isinstance(test, str):
        command = ["sh", "-c", test]
    elif isinstance(test, list) and test and test[0] == "CMD":
        command = [str(t) for t in test[1:]]
    elif isinstance(test, list) and test and test[0] == "CMD-SHELL":
        command = ["sh", "-c", " ".join(str(t) for t in test[1:])]
    else:
        notes.append(f"healthcheck test {test!r}: not understood; left out")
        return None
    check: dict[str, Any] = {"command": command}
    for key in ("interval", "timeout", "start_period"):
        if key in raw:
            check[key] = f"{_seconds(raw[key]):g}s"
    if "retries" in raw:
        check["retries"] = int(raw["retries"])
    return check


def _restart(value: Any, service: dict, notes: list[str]) -> None:
    if value in (None, "always", "unless-stopped") or str(value).startswith("on-failure"):
        if value is not None and str(value) != "always":
            notes.append(f"restart {value}: Steward heals every failure with its own policy "
                         "(backoff and a failure limit)")
        return
    if value == "no":
        service["enabled"] = True
        notes.append("restart no: Steward always heals enabled services; disable the "
                     "service instead if it must not run")


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    parts = _DURATION_PART.findall(str(value))
    if not parts:
        raise ComposeError(f"{value!r} is not a duration")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)
