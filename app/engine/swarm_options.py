"""How a `ServiceSpec` reads as a Swarm service: the arguments of `create_service` and
`update_service`, pure translation (the Swarm counterpart of `options.py`).

Steward's labels go on the service (drift is read there) and the instance and service
labels on its containers too (so container events reach the watcher). `update` becomes
Swarm's update_config and rollback_config, so the engine gates and rolls back; the
restart policy is Swarm's with Steward's backoff base as its delay, since Swarm restarts
tasks and Steward only counts their failures. What Swarm cannot do is refused by name
(`unsupported`), never dropped.

Sealed (age) values become Swarm secrets rather than environment: the file
`/run/secrets/<VAR>` in the container, named by `<VAR>_FILE` (the convention of the official
database images), so `docker service inspect` never shows their plain text.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Healthcheck,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    RollbackConfig,
    SecretReference,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from app.desired_state.age_secrets import Keyring
from app.desired_state.spec import ServiceSpec
from app.engine.options import LABEL_INSTANCE, LABEL_SERVICE, labels, network_name

_NANOS = 1_000_000_000
#: The generic resource a GPU node advertises (dockerd --node-generic-resource).
GPU_RESOURCE = "NVIDIA-GPU"
#: Where Swarm mounts a service's secrets in its containers.
SECRETS_DIR = "/run/secrets"
_SECRET_NAME_MAX = 64  # Swarm's limit on an object's name


@dataclass(frozen=True)
class SwarmSecret:
    """One sealed variable as a Swarm secret. Swarm secrets cannot change, so the name ends
    in a hash of the ciphertext (never of the plain text): a rotation is a new secret."""

    name: str
    variable: str
    data: str = field(repr=False)

    @property
    def path(self) -> str:
        return f"{SECRETS_DIR}/{self.variable}"


@dataclass(frozen=True)
class TaskEnvironment:
    """What a task gets: plain variables, and the secrets (with their ids, once created)."""

    variables: dict[str, str]
    secrets: list[SwarmSecret]
    references: list[SecretReference] = field(default_factory=list)


def service_name(instance: str, spec_name: str) -> str:
    return f"{instance}_{spec_name}"


def unsupported(spec: ServiceSpec) -> list[str]:
    """What in `spec` a Swarm service cannot carry, each with what to do instead."""
    problems = [f"{key}: Swarm services cannot have it" for key, value in (
        ("privileged", spec.privileged), ("devices", spec.devices), ("pid", spec.pid),
        ("network_mode", spec.network_mode), ("ulimits", spec.ulimits),
        ("shm_size", spec.shm_size), ("security_opt", spec.security_opt),
        ("build", spec.build)) if value]
    for port in spec.ports:
        if port.host_ip not in ("0.0.0.0", ""):
            problems.append(f"ports: {port.host_ip}:{port.host_port}: Swarm publishes on "
                            "every interface of every node; write 0.0.0.0:"
                            f"{port.host_port}:{port.container_port} to accept that")
    for gpu in spec.gpus:
        if gpu.count in (None, -1) or gpu.device_ids:
            problems.append(f"gpus: {gpu.describe()}: on Swarm a GPU request is a count of the "
                            f"nodes' '{GPU_RESOURCE}' generic resource; give count: N")
    check = spec.healthcheck
    if check is not None and check.kind != "command":
        problems.append(f"healthcheck: an {check.kind} check is probed by Steward, which "
                        "cannot reach tasks on other nodes; use a command check")
    return problems


def task_environment(instance: str, spec: ServiceSpec, keyring: Keyring = Keyring()
                     ) -> TaskEnvironment:
    """`spec`'s environment, each variable as it wins (`Keyring.resolved`): a plain value
    stays a variable; a sealed one becomes a secret, with `<VAR>_FILE` naming its file
    (unless the spec sets that itself)."""
    variables: dict[str, str] = {}
    secrets: list[SwarmSecret] = []
    for name, plain, ciphertext in keyring.resolved(spec.environment):
        if ciphertext is None:
            variables[name] = plain
        else:
            secrets.append(SwarmSecret(_secret_name(instance, spec.name, name, ciphertext),
                                       name, plain))
    return TaskEnvironment({**{f"{s.variable}_FILE": s.path for s in secrets}, **variables},
                           secrets)


def _secret_name(instance: str, service: str, variable: str, ciphertext: str) -> str:
    digest = hashlib.sha256(f"{variable}\0{ciphertext}".encode()).hexdigest()[:12]
    return f"{instance}_{service}_{variable}"[:_SECRET_NAME_MAX - 13] + f"_{digest}"


def service_options(instance: str, spec: ServiceSpec, *, replicas: int,
                    environment: TaskEnvironment | None = None,
                    force_update: int | None = None) -> dict[str, Any]:
    """The keyword arguments of `APIClient.create_service` (and `update_service`)."""
    environment = environment or task_environment(instance, spec)
    return {
        "name": service_name(instance, spec.name),
        "task_template": _task_template(instance, spec, environment, force_update),
        "labels": labels(instance, spec),
        "mode": ServiceMode("replicated", replicas=replicas),
        # delay = monitor: each new task proves itself before the next replica is replaced,
        # as Steward's own gate does; without it Swarm moves on once a task merely starts.
        "update_config": UpdateConfig(parallelism=1, order=_order(spec), delay=_ns(
            spec.update.monitor), monitor=_ns(spec.update.monitor),
            failure_action=spec.update.failure_action, max_failure_ratio=0),
        "rollback_config": RollbackConfig(parallelism=1, order=_order(spec), monitor=_ns(
            spec.update.monitor), failure_action="pause", max_failure_ratio=0),
        "endpoint_spec": EndpointSpec(ports={
            p.host_port: (p.container_port, p.protocol, spec.port_mode or "ingress")
            for p in spec.ports})
        if spec.ports else None,
    }


def wanted_replicas(spec: ServiceSpec) -> int:
    return 1 if spec.replicas is None else spec.replicas


def _order(spec: ServiceSpec) -> str:
    """Ingress ports are the routing mesh's, not a container's: start-first is safe with
    them, so only an explicit `update.order` says otherwise."""
    return spec.update.order or "start-first"


def _task_template(instance: str, spec: ServiceSpec, environment: TaskEnvironment,
                   force_update: int | None) -> TaskTemplate:
    placement = spec.placement
    gpus = sum(g.count or 0 for g in spec.gpus)
    return TaskTemplate(
        container_spec=_container_spec(instance, spec, environment),
        resources=Resources(
            cpu_limit=int(spec.resources.cpus * _NANOS) if spec.resources.cpus else None,
            mem_limit=spec.resources.memory_bytes,
            generic_resources={GPU_RESOURCE: gpus} if gpus else None),
        restart_policy=RestartPolicy(
            condition="any" if spec.restart.mode == "always" else "on-failure",
            delay=_ns(spec.restart.backoff_base), max_attempts=0),
        placement=Placement(constraints=list(placement.constraints) or None,
                            preferences=[("spread", p) for p in placement.preferences] or None,
                            maxreplicas=placement.max_replicas_per_node)
        if placement else None,
        log_driver={"Name": spec.logging.driver, "Options": dict(spec.logging.options)},
        networks=[NetworkAttachmentConfig(network_name(instance, n),
                                          aliases=[spec.name, *n.aliases])
                  for n in spec.networks],
        force_update=force_update)


def _container_spec(instance: str, spec: ServiceSpec, environment: TaskEnvironment
                    ) -> ContainerSpec:
    check = spec.healthcheck
    return ContainerSpec(
        image=spec.image,
        command=list(spec.entrypoint) if spec.entrypoint else None,
        args=list(spec.command) if spec.command else None,
        env=environment.variables, secrets=environment.references or None,
        labels={**dict(spec.labels), LABEL_INSTANCE: instance, LABEL_SERVICE: spec.name},
        mounts=[Mount(v.target, v.source, type=v.kind, read_only=v.read_only)
                for v in spec.volumes] + [Mount(t, None, type="tmpfs") for t in spec.tmpfs],
        stop_grace_period=_ns(spec.stop_grace_period), stop_signal=spec.stop_signal,
        user=spec.user, workdir=spec.working_dir, hostname=spec.hostname,
        read_only=spec.read_only or None, init=spec.init or None,
        cap_add=list(spec.cap_add) or None, cap_drop=list(spec.cap_drop) or None,
        hosts=dict(spec.extra_hosts) or None,
        healthcheck=Healthcheck(test=["CMD", *(check.command or ())],
                                interval=_ns(check.interval), timeout=_ns(check.timeout),
                                retries=check.retries, start_period=_ns(check.start_period))
        if check is not None and check.kind == "command" else None)


def _ns(seconds: float) -> int:
    return int(seconds * _NANOS)
