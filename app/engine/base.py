"""The engine boundary: what the reconciler, the executor and the event watcher call.

Two implementations: `DockerEngine` (containers on one host, the default) and
`SwarmEngine` (services on a Swarm manager, STEWARD_ENGINE=swarm). `kind` tells the
planner and the executor which one they face; see `make_engine`.
"""
from __future__ import annotations

from typing import Any, Iterator, Literal, Mapping, Protocol

from app.desired_state.age_secrets import Keyring
from app.desired_state.spec import NetworkAttachment, ServiceSpec
from app.engine.observed import ObservedContainer, ObservedNetwork

EngineKind = Literal["docker", "swarm"]


class Engine(Protocol):
    instance: str
    kind: EngineKind

    def ping(self) -> str: ...
    def observe(self, known: Mapping[str, str] | None = None) -> list[ObservedContainer]: ...
    def observe_networks(self) -> list[ObservedNetwork]: ...
    def create_network(self, network: NetworkAttachment) -> str: ...
    def remove_network(self, network_id: str) -> None: ...
    def prepare_image(self, spec: ServiceSpec) -> str | None: ...
    def follow_events(self) -> Iterator[Any]: ...
    def close_events(self) -> None: ...
    def logs(self, container_id: str, lines: int, timeout: float = 2.0) -> str: ...
    def close(self) -> None: ...


def make_engine(kind: str, *, instance: str, timeout: float, secrets: Keyring) -> Engine:
    """The engine STEWARD_ENGINE names; both connect where DOCKER_HOST points."""
    from app.engine.docker_engine import DockerEngine
    from app.engine.swarm_engine import SwarmEngine

    engines = {"docker": DockerEngine, "swarm": SwarmEngine}
    if kind not in engines:
        raise SystemExit(f"STEWARD_ENGINE={kind!r} is not an engine: use docker or swarm")
    return engines[kind](instance=instance, timeout=timeout, secrets=secrets)


def kind_of(engine: object) -> str:
    """The engine's kind; a stand-in engine without one (in tests) is a docker engine."""
    return str(getattr(engine, "kind", "docker"))
