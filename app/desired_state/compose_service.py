"""One compose service in Steward's desired-state form, key by key (see docs/from-compose.md).

Most keys mean the same in both and are copied as written; the ones that differ are
translated here (build and env_file paths, environment passed from the host, `restart:`,
`profiles`, depends_on conditions, health checks); what the host provides (ports, mounts,
GPUs, logging) is in `compose_host`. Every key that cannot be carried adds a note saying
why, and `${...}` references are never expanded: Steward fills them in when it loads.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from app.desired_state import compose_host as host
from app.desired_state import compose_lifecycle as lifecycle
from app.desired_state.schema import REFUSED_KEYS
from app.desired_state.secrets import is_secret

_INFRASTRUCTURE = re.compile(r"postgres|mysql|mariadb|redis|mongo|rabbitmq|kafka|zookeeper|"
                             r"memcached|minio|elasticsearch|nats|etcd|vault|traefik|nginx|"
                             r"haproxy|caddy|valkey|clickhouse|cassandra", re.IGNORECASE)
_MONITORING = re.compile(r"prometheus|grafana|loki|alertmanager|node-exporter|cadvisor|"
                         r"jaeger|tempo|promtail|otel|telegraf|influxdb|uptime-kuma",
                         re.IGNORECASE)
_PASSTHROUGH = {"image", "working_dir", "hostname", "stop_signal",
                "init", "shm_size", "ulimits", "extra_hosts", "read_only", "cap_drop"}
#: Keys read with the whole service in view (they interact), not by a key's handler.
_WHOLE_SERVICE = {"deploy", "gpus", "mem_limit", "cpus", "restart", "privileged", "cap_add",
                  "devices", "network_mode", "pid"}
_NOT_NEEDED = {"expose": "not needed: services on one network reach every port by name",
               "links": "not needed: every service is reachable by its name on its network"}
_NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_ORDER = ("category", "enabled", "image", "build", "command", "entrypoint", "user",
          "working_dir", "hostname", "environment", "env_file", "ports", "volumes", "tmpfs",
          "networks", "depends_on", "healthcheck", "restart_policy", "init", "stop_signal",
          "stop_grace_period", "deploy", "gpus", "shm_size", "ulimits", "labels",
          "extra_hosts", "read_only", "cap_drop", "security_opt", "logging", "privileged",
          "cap_add", "devices", "network_mode", "pid")


def steward_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_.-]", "-", str(name).lower()).strip("-._")
    return cleaned[:63] or "service"


def category_of(image: str) -> str:
    """A guess from the image (or service) name; `ai` unless it looks like a known one."""
    if _MONITORING.search(image):
        return "monitoring"
    if _INFRASTRUCTURE.search(image):
        return "infrastructure"
    return "ai"


@dataclass(frozen=True)
class Rebase:
    """Paths in the compose file are relative to it; in Steward's file, to that file."""

    compose_dir: Path
    target_dir: Path

    def path(self, source: str, bare: bool = False) -> str:
        """`source` relative to the target directory; `bare` paths need no leading `.` (a
        build context, an env file), others do (`data:/x` names a volume). A path holding a
        `${...}` is kept: only its value will say where it points."""
        if "$" in source or source.startswith(("/", "~")) \
                or not (bare or source.startswith(".")):
            return source
        relative = os.path.relpath((self.compose_dir / source).resolve(), self.target_dir)
        return relative if relative.startswith("..") else f"./{relative}"


@dataclass(frozen=True)
class Context:
    """What converting one service needs to know about the whole file."""

    rebase: Rebase
    names: Mapping[str, str]  # compose service name -> Steward's
    category: str | None
    networks: Mapping[str, str]  # compose network name -> Steward's
    volumes: Mapping[str, str]  # declared volume -> its own Docker name
    project: str
    one_shots: frozenset[str]  # services others wait on to complete
    checked: frozenset[str]  # services whose health check carries over

    def service(self, name: str) -> str:
        """Steward's name for compose service `name`."""
        return self.names.get(name, steward_name(name))

    def volume(self, name: str) -> str:
        """The Docker volume Compose means by `name`: `<project>_<name>` unless named."""
        return name if "$" in name else self.volumes.get(name, f"{self.project}_{name}")


def convert_service(name: str, raw: dict[str, Any], ctx: Context,
                    notes: list[str]) -> dict[str, Any]:
    """The desired-state mapping for compose service `name`; `notes` gets what is lost."""
    service: dict[str, Any] = {"category": ctx.category or category_of(
        str(raw.get("image") or name))}
    unknown = []
    for key, value in raw.items():
        if key in _HANDLERS:
            for out, result in _HANDLERS[key](value, ctx, notes).items():
                service[out] = service.get(out, []) + result if out == "tmpfs" else result
        elif key in _PASSTHROUGH:
            service[key] = value
        elif key in _NOT_NEEDED:
            notes.append(f"{key}: {_NOT_NEEDED[key]}")
        elif key in REFUSED_KEYS and key not in ("container_name", "restart", "profiles"):
            notes.append(f"{key}: not carried over: {REFUSED_KEYS[key]}")
        elif key not in _WHOLE_SERVICE:
            unknown.append(key)
    notes += [f"{key}: not carried over (Steward has no equivalent)" for key in sorted(unknown)]
    _resources(raw, service, notes)
    service.update(host.host_access(raw, notes))
    policy = lifecycle.restart_policy(raw, name in ctx.one_shots, notes)
    if policy:
        service["restart_policy"] = policy
    if "image" not in service and "build" not in service:
        service["image"] = "REPLACE-ME"
        notes.append("no image and no build Steward can use; set image: by hand")
    return {k: service[k] for k in sorted(service, key=_ORDER.index)}


def _command(value: Any) -> Any:
    """A command as written; in a string, a shell line continuation (backslash, newline:
    a `|` block written like a shell script) is a space, as its author meant. `>-` blocks
    are already one line. Steward splits the string after filling in `${...}`, as Compose
    does, so a variable holding spaces gives the same arguments in both."""
    return re.sub(r"\s*\\\n\s*", " ", value).strip() if isinstance(value, str) else value


def _build(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    raw = {"context": value} if isinstance(value, str) else dict(value or {})
    context = str(raw.get("context", "."))
    if "://" in context or context.startswith("git@"):
        notes.append(f"build context {context}: remote contexts are not supported; build "
                     "the image elsewhere and give image:")
        return {}
    build: dict[str, Any] = {"context": ctx.rebase.path(context, bare=True)}
    build.update({k: raw[k] for k in ("dockerfile", "target") if k in raw})
    if raw.get("args"):
        build["args"] = {k: f"${{{k}}}" if v is None else v
                         for k, v in _pairs(raw["args"]).items()}
    dropped = sorted(set(raw) - {"context", "dockerfile", "target", "args"})
    if dropped:
        notes.append(f"build {', '.join(dropped)}: not carried over")
    return {"build": build}


def _pairs(value: Any) -> dict[str, Any]:
    """A mapping from Compose's mapping or `NAME=value` list; None stands for a value
    Compose takes from the host (`NAME` alone, or `NAME:` with no value)."""
    if isinstance(value, list):
        items = [(str(i).partition("=")[0], str(i).partition("=")[2] if "=" in str(i)
                  else None) for i in value]
    else:
        items = list((value or {}).items())
    return {str(k): v for k, v in items}


def _environment(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    environment = _pairs(value)
    for key in (k for k, v in environment.items() if v is None):
        environment[key] = f"${{{key}}}"
        notes.append(f"environment {key}: compose passes it from the host; now ${{{key}}}, "
                     "which must be set")
    secret = sorted(k for k, v in environment.items()
                    if is_secret(k) and v not in (None, "") and "$" not in str(v))
    if secret:
        notes.append(f"environment {', '.join(secret)}: a secret value sits in the file; "
                     "move it to .env and write ${NAME} instead")
    return {"environment": environment}


def _env_file(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    kept = []
    for entry in [value] if isinstance(value, str) else value or []:
        path, required = (entry, True) if isinstance(entry, str) \
            else (str(entry.get("path")), entry.get("required", True))
        if "$" not in path and not (ctx.rebase.compose_dir / path).is_file():
            if not required:
                notes.append(f"env_file {path}: optional and not found; left out")
                continue
            notes.append(f"env_file {path}: not found; create it before applying")
        kept.append(ctx.rebase.path(path, bare=True))
    return {"env_file": kept} if kept else {}


def _ports(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    ports = [p for p in (host.port(v, notes) for v in value or []) if p]
    return {"ports": ports} if ports else {}


def _volumes(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    out: dict[str, list[str]] = {}
    for item in value or []:
        mounted = host.mount(item, ctx.rebase.path, ctx.volume, notes)
        if mounted:
            out.setdefault(mounted[0], []).append(mounted[1])
    return out


def _tmpfs(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    return {"tmpfs": [value] if isinstance(value, str) else list(value or [])}


def _networks(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    """The list form, or the mapping form where some network gives aliases."""
    entries = {n: None for n in value} if isinstance(value, list) else dict(value or {})
    result: dict[str, Any] = {}
    for name, options in entries.items():
        options = options or {}
        aliases = [str(a) for a in options.get("aliases") or []]
        bad = [a for a in aliases if not _HOSTNAME.match(a)]
        dropped = sorted(set(options) - {"aliases"}) + ([f"aliases {', '.join(bad)}"]
                                                        if bad else [])
        if dropped:
            notes.append(f"networks.{name}: {', '.join(dropped)} not carried over")
        good = [a for a in aliases if a not in bad]
        result[ctx.networks.get(name, steward_name(name))] = {"aliases": good} if good else None
    if all(v is None for v in result.values()):
        return {"networks": list(result)}
    return {"networks": result}


def _depends_on(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    return {"depends_on": lifecycle.depends_on(value, ctx.service, ctx.checked, notes)}


def _healthcheck(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    check = lifecycle.healthcheck(value, notes)
    return {"healthcheck": check} if check else {}


def _profiles(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    return lifecycle.profiles(value, notes)


def _container_name(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    notes.append(f"container_name {value}: not carried over (Steward names containers "
                 "<instance>-<service>)")
    return {}


def _labels(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    labels = {k: "" if v is None else v for k, v in _pairs(value).items()}
    reserved = sorted(k for k in labels if k.startswith("io.steward."))
    if reserved:
        notes.append(f"labels {', '.join(reserved)}: left out (io.steward.* are Steward's)")
    kept = {k: v for k, v in labels.items() if k not in reserved}
    return {"labels": kept} if kept else {}


def _security_opt(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    kept = [str(o) for o in value or [] if str(o) in _NO_NEW_PRIVILEGES]
    for option in (str(o) for o in value or [] if str(o) not in _NO_NEW_PRIVILEGES):
        notes.append(f"security_opt {option}: not carried over: only no-new-privileges is "
                     "supported (seccomp, apparmor and label options can loosen confinement)")
    return {"security_opt": kept} if kept else {}


def _logging(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    kept = host.logging(value or {}, notes)
    return {"logging": kept} if kept else {}


def _process(key: str) -> Callable[[Any, Context, list[str]], dict[str, Any]]:
    return lambda value, ctx, notes: {key: _command(value)}


def _user(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    return {"user": str(value)}


def _grace(value: Any, ctx: Context, notes: list[str]) -> dict[str, Any]:
    return {"stop_grace_period": lifecycle.duration(value)}


def _resources(raw: dict[str, Any], service: dict[str, Any], notes: list[str]) -> None:
    """`deploy:`, the older `mem_limit`/`cpus`, and `gpus:` (one of it and GPU devices)."""
    deploy = host.devices(raw.get("deploy") or {}, notes)
    legacy = {"memory": raw.get("mem_limit"), "cpus": raw.get("cpus")}
    legacy = {k: float(v) if k == "cpus" and "$" not in str(v) else v
              for k, v in legacy.items() if v is not None}
    if legacy:
        resources = deploy.setdefault("resources", {})
        resources["limits"] = {**legacy, **resources.get("limits", {})}
    devices = deploy.get("resources", {}).get("reservations", {}).get("devices")
    if "gpus" in raw and devices:
        notes.append("gpus: left out; deploy.resources.reservations.devices gives the GPUs")
    elif "gpus" in raw:
        service["gpus"] = raw["gpus"]
    if deploy:
        service["deploy"] = deploy


_HANDLERS: dict[str, Callable[[Any, Context, list[str]], dict[str, Any]]] = {
    "build": _build, "environment": _environment, "env_file": _env_file, "ports": _ports,
    "volumes": _volumes, "tmpfs": _tmpfs, "networks": _networks, "depends_on": _depends_on,
    "healthcheck": _healthcheck, "profiles": _profiles, "container_name": _container_name,
    "labels": _labels, "security_opt": _security_opt, "logging": _logging, "user": _user,
    "stop_grace_period": _grace, "command": _process("command"),
    "entrypoint": _process("entrypoint"),
}
