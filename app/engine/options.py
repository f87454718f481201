"""How a `ServiceSpec` reads in the Docker Engine API: the arguments of one create call.

Pure translation, no engine calls: every Compose-style key of the spec maps to its field of
the container config or host config here, and nowhere else. Steward's labels (instance,
service, spec hash) are added on top of the file's own labels.
"""
from __future__ import annotations

import json
from typing import Any

from docker.types import DeviceRequest, Healthcheck, LogConfig, Mount, Ulimit

from app.desired_state.age_secrets import Keyring
from app.desired_state.spec import NetworkAttachment, ServiceSpec

LABEL_INSTANCE = "io.steward.instance"
LABEL_SERVICE = "io.steward.service"
LABEL_SPEC_HASH = "io.steward.spec-hash"
LABEL_FIELD_HASHES = "io.steward.field-hashes"
#: The container fields the container was made from, so a plan can show old -> new values.
LABEL_SPEC = "io.steward.spec"
#: On networks Steward creates: the network's name in the desired-state files.
LABEL_NETWORK = "io.steward.network"
#: On images Steward builds: the hash of the build (context content, Dockerfile, args).
LABEL_BUILD = "io.steward.build"

_NANOS = 1_000_000_000


def network_name(instance: str, network: NetworkAttachment) -> str:
    """The Docker name of a network: `<instance>_<name>`, or an external one's own name."""
    return network.docker_name or f"{instance}_{network.name}"


def container_name(instance: str, spec: ServiceSpec) -> str:
    return f"{instance}-{spec.name}"


def create_options(instance: str, spec: ServiceSpec, host_config: dict[str, Any], *,
                   name: str | None = None, secrets: Keyring = Keyring()
                   ) -> dict[str, Any]:
    """The keyword arguments of `APIClient.create_container` for `spec` (image aside);
    `secrets` decrypts its age-encrypted environment, in memory, for this call only."""
    return {
        "name": name or container_name(instance, spec),
        "command": list(spec.command) if spec.command else None,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint else None,
        "environment": secrets.environment(spec.environment),
        "ports": [(p.container_port, p.protocol) for p in spec.ports],
        "labels": {**dict(spec.labels), **labels(instance, spec)},
        "healthcheck": _healthcheck(spec),
        "stop_timeout": round(spec.stop_grace_period),
        "stop_signal": spec.stop_signal,
        "user": spec.user,
        "working_dir": spec.working_dir,
        "hostname": spec.hostname,
        "host_config": host_config,
        "detach": True,
    }


def labels(instance: str, spec: ServiceSpec) -> dict[str, str]:
    return {
        LABEL_INSTANCE: instance,
        LABEL_SERVICE: spec.name,
        LABEL_SPEC_HASH: spec.spec_hash,
        LABEL_FIELD_HASHES: json.dumps(spec.field_hashes(), sort_keys=True),
        LABEL_SPEC: json.dumps(spec.label_fields(), sort_keys=True),
    }


def host_config_options(instance: str, spec: ServiceSpec) -> dict[str, Any]:
    """The keyword arguments of `APIClient.create_host_config` for `spec`."""
    bindings: dict[str, list[tuple[str, int]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.container_port}/{p.protocol}", []).append(
            (p.host_ip, p.host_port))
    relabelled = [v for v in spec.volumes if v.relabel]
    return {
        "port_bindings": bindings,
        "mounts": [Mount(v.target, v.source, type=v.kind, read_only=v.read_only)
                   for v in spec.volumes if not v.relabel],
        # SELinux relabelling exists only in the older `binds` form.
        "binds": [f"{v.source}:{v.target}:{'ro' if v.read_only else 'rw'},{v.relabel}"
                  for v in relabelled] or None,
        "restart_policy": {"Name": "no"},  # Steward heals, so Docker must not
        "init": spec.init or None,
        "mem_limit": spec.resources.memory_bytes,
        "nano_cpus": int(spec.resources.cpus * _NANOS) if spec.resources.cpus else None,
        "network_mode": spec.network_mode or (network_name(instance, spec.networks[0])
                                              if spec.networks else None),
        "pid_mode": spec.pid,
        "privileged": spec.privileged,
        "cap_add": list(spec.cap_add) or None,
        "devices": list(spec.devices) or None,
        "device_requests": [DeviceRequest(
            driver=g.driver, count=g.count or 0, device_ids=list(g.device_ids) or None,
            capabilities=[list(g.capabilities)], options=dict(g.options))
            for g in spec.gpus] or None,
        "log_config": LogConfig(type=spec.logging.driver, config=dict(spec.logging.options)),
        "shm_size": spec.shm_size,
        "ulimits": [Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in spec.ulimits] or None,
        "tmpfs": list(spec.tmpfs) or None,
        "extra_hosts": dict(spec.extra_hosts) or None,
        "read_only": spec.read_only or None,
        "cap_drop": list(spec.cap_drop) or None,
        "security_opt": list(spec.security_opt) or None,
    }


def endpoint_aliases(spec: ServiceSpec, network: NetworkAttachment) -> list[str]:
    """Every service answers to its own name on each of its networks, plus its aliases."""
    return [spec.name, *network.aliases]


def _healthcheck(spec: ServiceSpec) -> Healthcheck | None:
    check = spec.healthcheck
    if check is None or check.kind != "command":
        return None
    return Healthcheck(test=["CMD", *(check.command or ())], interval=int(check.interval * _NANOS),
                       timeout=int(check.timeout * _NANOS), retries=check.retries,
                       start_period=int(check.start_period * _NANOS))
