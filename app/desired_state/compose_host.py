"""What a compose service takes from the host, in Steward's spelling: published ports, mounts,
tmpfs, GPUs and resource limits, and logging.

Each function takes one compose value and a list to append notes to, and returns the value
for the desired-state file (or None when nothing can be carried). `${...}` references are
kept as written: Steward fills them in, so a value is only checked for its shape, with each
reference standing for one opaque word.
"""
from __future__ import annotations

import re
from typing import Any, Callable

_REFERENCE = re.compile(r"\$\{[^{}]*(\{[^{}]*\}[^{}]*)*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_VOLUME_OPTIONS = {"ro", "rw", "z", "Z"}
_DEVICE_KEYS = ("driver", "count", "device_ids", "capabilities", "options")
_LOG_DRIVERS = ("json-file", "local", "none")
_LOG_OPTIONS = ("max-size", "max-file", "compress")
_HOST_VALUES = {"network_mode": ("host", "none"), "pid": ("host",)}


def masked(text: str) -> str:
    """`text` with each variable reference replaced by `1`, so its colons and dashes can be
    counted; `$$` is an escaped dollar."""
    return _REFERENCE.sub("1", text.replace("$$", "_"))


def port(value: Any, notes: list[str]) -> str | None:
    """A compose port as `[IP:]HOST:CONTAINER[/udp]`; unpublished ones and ranges are left
    out, since Steward publishes one host port per container port."""
    if isinstance(value, dict):
        return _long_port(value, notes)
    text = str(value)
    spec, _, protocol = masked(text).partition("/")
    parts = spec.split(":")
    if len(parts) == 1:
        notes.append(f"port {text}: not published in compose; left out (services reach "
                     "it by name on their network)")
    elif "-" in spec:
        notes.append(f"port {text}: port ranges are not supported; left out")
    elif len(parts) > 3 or spec.startswith("["):
        notes.append(f"port {text}: IPv6 host addresses are not supported; left out")
    elif protocol not in ("", "tcp", "udp"):
        notes.append(f"port {text}: protocol {protocol} is not supported; left out")
    else:
        if len(parts) == 2:
            notes.append(f"port {text}: published on 127.0.0.1 (Steward's default), not on "
                         "all interfaces as compose would; write 0.0.0.0:" + text + " for that")
        return text
    return None


def _long_port(value: dict, notes: list[str]) -> str | None:
    if value.get("published") in (None, ""):
        notes.append(f"port {value.get('target')}: not published in compose; left out")
        return None
    text = f"{value['published']}:{value['target']}"
    if value.get("protocol", "tcp") not in ("tcp", "udp"):
        notes.append(f"port {text}: protocol {value['protocol']} is not supported; left out")
        return None
    text = f"{value['host_ip']}:{text}" if value.get("host_ip") else text
    return port(text + ("/udp" if value.get("protocol") == "udp" else ""), notes)


def mount(value: Any, rebase: Callable[[str], str], volume: Callable[[str], str],
          notes: list[str]) -> tuple[str, str] | None:
    """("volumes", `SOURCE:TARGET[:OPTIONS]`) or ("tmpfs", `TARGET[:size=N]`); a relative
    bind source is rebased, a named volume gets the name Compose gives it."""
    if isinstance(value, dict):
        return _long_mount(value, rebase, volume, notes)
    text = str(value)
    parts = masked(text).split(":")
    if len(parts) == 1:
        notes.append(f"volume {text}: anonymous volumes are not supported; left out (name "
                     f"it, e.g. NAME:{text})")
        return None
    if len(parts) != len(text.split(":")):  # a reference holds a colon: keep it whole
        return "volumes", text
    source, target, *rest = text.split(":")
    options = [o for o in ",".join(rest).split(",") if o]
    unsupported = [o for o in options if o not in _VOLUME_OPTIONS]
    if unsupported:
        notes.append(f"volume {text}: option {','.join(unsupported)} is not supported; "
                     "left off")
    return "volumes", _mount_text(_source(source, rebase, volume), target,
                                  [o for o in options if o in _VOLUME_OPTIONS])


def _long_mount(value: dict, rebase: Callable[[str], str], volume: Callable[[str], str],
                notes: list[str]) -> tuple[str, str] | None:
    kind, target = value.get("type", "volume"), value.get("target")
    if kind == "tmpfs":
        size = (value.get("tmpfs") or {}).get("size")
        return "tmpfs", f"{target}:size={size}" if size else str(target)
    if kind not in ("bind", "volume") or not value.get("source"):
        notes.append(f"volume {target}: type {kind} without a source is not supported; "
                     "left out")
        return None
    options = ["ro"] if value.get("read_only") else []
    selinux = (value.get("bind") or {}).get("selinux")
    options += [selinux] if selinux in ("z", "Z") else []
    source = str(value["source"])
    source = rebase(source) if kind == "bind" else volume(source)
    return "volumes", _mount_text(source, str(target), options)


def _source(source: str, rebase: Callable[[str], str], volume: Callable[[str], str]) -> str:
    return rebase(source) if source.startswith((".", "/", "~", "$")) else volume(source)


def _mount_text(source: str, target: str, options: list[str]) -> str:
    return ":".join([source, target] + ([",".join(options)] if options else []))


def devices(deploy: dict, notes: list[str]) -> dict[str, Any]:
    """The `deploy:` Steward keeps: `resources.limits` (cpus, memory) and GPU reservations."""
    resources = deploy.get("resources") or {}
    limits = {k: v for k, v in (resources.get("limits") or {}).items()
              if k in ("cpus", "memory")}
    if "cpus" in limits and not str(limits["cpus"]).startswith("$"):
        limits["cpus"] = float(limits["cpus"])
    reservations = resources.get("reservations") or {}
    gpus = [{k: v for k, v in d.items() if k in _DEVICE_KEYS}
            for d in reservations.get("devices") or []]
    dropped = sorted({f"resources.limits.{k}" for k in resources.get("limits") or {}
                      if k not in limits}
                     | {f"resources.reservations.{k}" for k in reservations if k != "devices"}
                     | {f"resources.{k}" for k in resources if k not in ("limits",
                                                                       "reservations")}
                     | {k for k in deploy if k not in ("resources", "replicas",
                                                      "restart_policy")})
    if dropped:
        notes.append(f"deploy {', '.join(dropped)}: not carried over (one host, no swarm)")
    if deploy.get("replicas") not in (None, 1):
        notes.append(f"deploy replicas {deploy['replicas']}: Steward runs one container "
                     "per service")
    kept = {**({"limits": limits} if limits else {}),
            **({"reservations": {"devices": gpus}} if gpus else {})}
    return {"resources": kept} if kept else {}


def logging(value: dict, notes: list[str]) -> dict[str, Any] | None:
    """json-file, local or none with their rotation options; other drivers ship logs off the
    host, which Steward's log views could not show."""
    driver = value.get("driver", "json-file")
    if driver not in _LOG_DRIVERS:
        notes.append(f"logging driver {driver}: not supported; Steward's default applies "
                     "(json-file, 10m x 3 files)")
        return None
    options = value.get("options") or {}
    dropped = sorted(set(options) - set(_LOG_OPTIONS))
    if dropped:
        notes.append(f"logging options {', '.join(dropped)}: not carried over")
    kept = {k: str(v) for k, v in options.items() if k in _LOG_OPTIONS}
    return {"driver": driver, **({"options": kept} if kept else {})}


def host_access(raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """`privileged`, `cap_add`, `devices`, `network_mode` and `pid` as written, where Steward
    has the value; whether they run is the operator's grant (STEWARD_HOST_ACCESS), never the
    file's, so the note names the grants the service needs."""
    kept: dict[str, Any] = {}
    for key in ("privileged", "cap_add", "devices", "network_mode", "pid"):
        value = raw.get(key)
        if key == "devices" and value:
            value = [d for d in (_device(v, notes) for v in value) if d]
        if key in _HOST_VALUES and value is not None and value not in _HOST_VALUES[key]:
            notes.append(f"{key} {value}: not supported (only "
                         f"{' or '.join(_HOST_VALUES[key])}); left out")
        elif value not in (None, False, []):
            kept[key] = value
    grants = (["privileged"] if "privileged" in kept else []) \
        + [f"cap_add={c}" for c in kept.get("cap_add", [])] \
        + [f"devices={d.split(':')[0]}" for d in kept.get("devices", [])] \
        + [f"{k}=host" for k in _HOST_VALUES if kept.get(k) == "host"]
    if grants:
        notes.append(f"needs the operator's grant STEWARD_HOST_ACCESS={','.join(grants)} "
                     "(the host-access policy, docs/security.md)")
    return kept


def _device(value: Any, notes: list[str]) -> str | None:
    """`/dev/HOST[:/dev/CONTAINER[:rwm]]` from either form; CDI names are not supported."""
    if isinstance(value, dict):
        value = ":".join(str(value[k]) for k in ("source", "target", "permissions")
                         if value.get(k))
    if not str(value).startswith("/dev/"):
        notes.append(f"device {value}: only /dev paths are supported (for GPUs use gpus:); "
                     "left out")
        return None
    return str(value)
