"""Plan actions: plain data saying what to do to which service, and why.

An action is one step the executor turns into at most one engine operation (RECREATE is
stop + remove + create, one logical step). `Plan.render()` gives stable text for tests,
logs and the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from app.desired_state.spec import NetworkAttachment


class Kind(str, Enum):
    CREATE = "create"
    START = "start"
    RECREATE = "recreate"
    RESTART = "restart"
    STOP = "stop"
    REMOVE_DUPLICATE = "remove-duplicate"
    REMOVE_ORPHAN = "remove-orphan"
    REPORT_ORPHAN = "report-orphan"
    WAIT = "wait"
    DISABLE = "disable"
    FLAPPING = "flapping"
    RESET_FAILURES = "reset-failures"
    CREATE_NETWORK = "create-network"
    REMOVE_NETWORK = "remove-network"
    ROLLOUT = "rollout"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    PAUSE_ROLLOUT = "pause-rollout"
    #: Engine-gated update of a running service (Swarm): the engine rolls out and back.
    UPDATE = "update"
    #: Set a service's replicas (Swarm).
    SCALE = "scale"


#: Kinds that change containers; a plan without them makes no write call to Docker.
DOCKER_WRITES = frozenset({Kind.CREATE, Kind.START, Kind.RECREATE, Kind.RESTART, Kind.STOP,
                           Kind.REMOVE_DUPLICATE, Kind.REMOVE_ORPHAN, Kind.CREATE_NETWORK,
                           Kind.REMOVE_NETWORK, Kind.ROLLOUT, Kind.PROMOTE, Kind.ROLLBACK,
                           Kind.UPDATE, Kind.SCALE})
#: Kinds that are steps of a rollout (see `app/reconcile/rollout.py`).
ROLLOUT_STEPS = frozenset({Kind.ROLLOUT, Kind.PROMOTE, Kind.ROLLBACK, Kind.PAUSE_ROLLOUT,
                           Kind.UPDATE})


class Waiting(str, Enum):
    BACKOFF = "backoff"
    DEPENDENCY = "dependency"
    PAUSE = "pause"
    RETRY = "retry"
    ROLLOUT = "rollout"


@dataclass(frozen=True)
class Action:
    """One step. `heal` marks a restart that counts as a failure (`fresh`: the count starts
    over first, the service had been stable), `restart` one that counts only in the restart
    total; `failure` says what failed (a heal, a backoff wait, a disable); `waiting_for`
    says what a WAIT waits for."""

    kind: Kind
    service: str
    cause: str
    container_id: str | None = None
    drift: tuple[str, ...] = ()
    heal: bool = False
    fresh: bool = False
    restart: bool = False
    failure: str | None = None
    until: datetime | None = None
    waiting_for: Waiting | None = None
    #: The network a CREATE_NETWORK makes; a REMOVE_NETWORK names its id in `target_id`.
    network: NetworkAttachment | None = None
    #: A REMOVE_NETWORK's network; a PROMOTE's or ROLLBACK's new container.
    target_id: str | None = None
    #: A rollout's order (start-first or stop-first) and the spec hash it rolls out.
    strategy: str | None = None
    spec_hash: str | None = None
    #: The newer registry digest an image-update ROLLOUT pulls and rolls out.
    image_digest: str | None = None

    def describe(self) -> str:
        """The cause, with the drifted fields or the wait deadline when there are any."""
        text = self.cause
        if self.drift:
            text += f" [drift: {', '.join(self.drift)}]"
        if self.until:
            text += f" (until {self.until.isoformat()})"
        return text

    def render(self) -> str:
        return f"{self.kind.value} {self.subject}: {self.describe()}"

    @property
    def subject(self) -> str:
        """What the action is about: its service, or the network (whose `service` is "")."""
        return self.service or (self.network.name if self.network else "network")


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = field(default_factory=tuple)

    def render(self) -> str:
        return "\n".join(a.render() for a in self.actions) or "nothing to do"

    @property
    def writes_docker(self) -> bool:
        return any(a.kind in DOCKER_WRITES for a in self.actions)
