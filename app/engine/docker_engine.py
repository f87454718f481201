"""The only module that talks to the Docker Engine API (through the docker SDK).

Containers are Steward's when they carry its labels: the instance, the service name and the
spec hash. Everything listed, started or removed here is filtered by the instance label, so
containers Steward did not create are never touched.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Healthcheck, Mount

from app import metrics
from app.desired_state.spec import ServiceSpec
from app.engine.observed import ObservedContainer
from app.errors import ActionFailed, EngineUnavailable

LABEL_INSTANCE = "io.steward.instance"
LABEL_SERVICE = "io.steward.service"
LABEL_SPEC_HASH = "io.steward.spec-hash"
LABEL_FIELD_HASHES = "io.steward.field-hashes"
#: The container fields the container was made from, so a plan can show old -> new values.
LABEL_SPEC = "io.steward.spec"

#: Container events that can mean a service needs healing or its dependents need a look.
WATCHED_EVENTS = ("die", "oom", "health_status", "destroy", "stop", "start", "restart")

_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXIT_IN_STATUS = re.compile(r"^Exited \((-?\d+)\)")
_NANOS = 1_000_000_000

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ContainerEvent:
    service: str
    container_id: str
    action: str


class DockerEngine:
    """One Steward instance's view of one Docker engine; connects lazily, reconnects alone."""

    def __init__(self, *, instance: str, base_url: str | None = None,
                 timeout: float = 30.0) -> None:
        self.instance = instance
        self.base_url = base_url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._connecting = threading.Lock()
        self._event_streams: list[Any] = []

    # -- reads -------------------------------------------------------------------------------

    def ping(self) -> str:
        """The engine's version, or EngineUnavailable."""
        return self._call(lambda c: c.version()["Version"], "ping the engine")

    def observe(self, known: Mapping[str, str] | None = None) -> list[ObservedContainer]:
        """All of this instance's containers in one list call.

        `known` maps container id -> `signature` as last observed; only containers that are
        new or changed are inspected, for their start and finish times, exit details and
        health check output.
        """
        known = known or {}
        summaries = self._call(lambda c: c.api.containers(
            all=True, filters={"label": f"{LABEL_INSTANCE}={self.instance}"}), "list containers")
        observed = []
        for summary in summaries:
            container = _from_summary(summary)
            if known.get(container.id) != container.signature:
                container = self._inspect(container) or container
            observed.append(container)
        return observed

    def follow_events(self) -> Iterator[ContainerEvent]:
        """Connect, then follow this instance's container events until the engine goes away.

        Raises EngineUnavailable at once when it cannot connect; the iterator simply ends
        when the engine closes the stream (a dockerd restart) or `close_events()` is called.
        A dedicated connection without a read timeout: the stream is idle while nothing
        happens.
        """
        client = self._connect(timeout=None)
        try:
            stream = client.api.events(decode=True, filters={
                "type": "container", "label": f"{LABEL_INSTANCE}={self.instance}",
                "event": list(WATCHED_EVENTS)})
        except (DockerException, requests.RequestException) as err:
            client.close()
            raise EngineUnavailable(f"Docker engine unreachable: {_short(err)}") from None
        self._event_streams.append(stream)
        return self._events_from(stream, client)

    def _events_from(self, stream: Any, client: docker.DockerClient) -> Iterator[ContainerEvent]:
        try:
            for raw in stream:
                event = _event_from(raw)
                if event is not None:
                    yield event
        except (requests.RequestException, DockerException, OSError, ValueError) as err:
            log.info("Docker event stream ended: %s", _short(err))
        finally:
            self._event_streams.remove(stream)
            client.close()

    def close_events(self) -> None:
        """End every `events()` stream now (on shutdown)."""
        for stream in list(self._event_streams):
            with contextlib.suppress(Exception):
                stream.close()

    def logs(self, container_id: str, lines: int, timeout: float = 2.0) -> str:
        """The container's last `lines` log lines (stdout and stderr), as text.

        A connection of its own with a short timeout: a page asking for logs never waits
        behind a pass, nor long on a hanging engine.
        """
        client = self._connect(timeout=timeout)
        try:
            raw = client.api.logs(container_id, stdout=True, stderr=True, tail=lines)
        except NotFound:
            raise ActionFailed("the container is gone") from None
        except (APIError, requests.RequestException, DockerException) as err:
            raise ActionFailed(f"could not read logs: {_short(err)}") from None
        finally:
            client.close()
        return raw.decode("utf-8", errors="replace")

    def _inspect(self, seen: ObservedContainer) -> ObservedContainer | None:
        try:
            attrs = self._call(lambda c: c.api.inspect_container(seen.id), "inspect container")
        except ActionFailed:
            return None
        state = attrs["State"]
        health = state.get("Health") or {}
        return ObservedContainer(
            id=seen.id, name=seen.name, service=seen.service, spec_hash=seen.spec_hash,
            field_hashes=seen.field_hashes, applied=seen.applied, image=seen.image,
            created=seen.created,
            state=state["Status"], health=health.get("Status") or seen.health,
            health_output=_last_check_output(health),
            started_at=_parse_time(state.get("StartedAt")),
            finished_at=_parse_time(state.get("FinishedAt")),
            exit_code=state.get("ExitCode") if state["Status"] != "running" else None,
            oom_killed=bool(state.get("OOMKilled")),
        )

    # -- writes ------------------------------------------------------------------------------

    def create(self, spec: ServiceSpec) -> str:
        """Create and start a container for `spec`; pulls the image when it is missing."""
        self.ensure_image(spec.image)
        name = f"{self.instance}-{spec.name}"
        created = self._call(lambda c: c.api.create_container(
            spec.image, name=name, **self._create_options(c, spec)), f"create container {name}")
        self.start(created["Id"])
        return created["Id"]

    def start(self, container_id: str) -> None:
        self._call(lambda c: c.api.start(container_id), "start container")

    def stop(self, container_id: str, grace_period: float) -> None:
        self._call(lambda c: c.api.stop(container_id, timeout=round(grace_period)),
                   "stop container")

    def restart(self, container_id: str, grace_period: float) -> None:
        self._call(lambda c: c.api.restart(container_id, timeout=round(grace_period)),
                   "restart container")

    def remove(self, container_id: str) -> None:
        """Stop and remove a container; one that is already gone counts as removed."""
        with contextlib.suppress(NotFound):
            self._call(lambda c: c.api.remove_container(container_id, force=True, v=False),
                       "remove container", reraise=(NotFound,))

    def ensure_image(self, image: str) -> None:
        """Pull `image` unless the engine has it; a failed pull is this service's error."""
        try:
            self._call(lambda c: c.api.inspect_image(image), "look up image",
                       reraise=(ImageNotFound, NotFound))
        except (ImageNotFound, NotFound):
            log.info("pulling image %s", image)
            try:
                self._call(lambda c: _pull(c, image), f"pull image {image}",
                           reraise=(requests.Timeout,))
            except (ActionFailed, requests.Timeout) as err:
                raise ActionFailed(f"image {image} is not present and could not be pulled: "
                                   f"{_short(err)}") from None

    def _create_options(self, client: docker.DockerClient, spec: ServiceSpec) -> dict[str, Any]:
        bindings: dict[str, list[tuple[str, int]]] = {}
        for p in spec.ports:
            bindings.setdefault(f"{p.container_port}/{p.protocol}", []).append(
                (p.host_ip, p.host_port))
        host_config = client.api.create_host_config(
            port_bindings=bindings,
            mounts=[Mount(v.target, v.source, type=v.kind, read_only=v.read_only)
                    for v in spec.volumes],
            restart_policy={"Name": "no"},  # Steward heals, so Docker must not
            init=spec.init or None,
            mem_limit=spec.resources.memory_bytes,
            nano_cpus=int(spec.resources.cpus * _NANOS) if spec.resources.cpus else None,
        )
        return {
            "command": list(spec.command) if spec.command else None,
            "environment": dict(spec.environment),
            "ports": [(p.container_port, p.protocol) for p in spec.ports],
            "labels": {
                LABEL_INSTANCE: self.instance,
                LABEL_SERVICE: spec.name,
                LABEL_SPEC_HASH: spec.spec_hash,
                LABEL_FIELD_HASHES: json.dumps(spec.field_hashes(), sort_keys=True),
                LABEL_SPEC: json.dumps(spec.label_fields(), sort_keys=True),
            },
            "healthcheck": _healthcheck(spec),
            "stop_timeout": round(spec.stop_grace_period),
            "host_config": host_config,
            "detach": True,
        }

    # -- plumbing ----------------------------------------------------------------------------

    def _client_or_raise(self) -> docker.DockerClient:
        with self._connecting:  # the executor calls from several threads at once
            if self._client is None:
                self._client = self._connect(timeout=self.timeout)
            return self._client

    def _connect(self, timeout: float | None) -> docker.DockerClient:
        """A new, pinged client; `timeout=None` waits on reads for ever (event streams)."""
        try:
            client = docker.DockerClient(base_url=self.base_url, timeout=timeout) \
                if self.base_url else docker.from_env(timeout=timeout)
            client.ping()
        except (DockerException, requests.RequestException) as err:
            raise EngineUnavailable(f"Docker engine unreachable: {_short(err)}") from None
        return client

    def _call(self, operation: Callable[[docker.DockerClient], T], what: str,
              reraise: tuple[type[Exception], ...] = ()) -> T:
        """Run one SDK call, turning SDK errors into Steward's error types."""
        client = self._client_or_raise()
        try:
            return operation(client)
        except reraise:
            raise
        except NotFound as err:
            metrics.DOCKER_ERRORS.labels("refused").inc()
            raise ActionFailed(f"{what}: No such container or image ({_short(err)})") from None
        except APIError as err:
            metrics.DOCKER_ERRORS.labels("refused").inc()
            raise ActionFailed(f"{what}: {_short(err)}") from None
        except (requests.ConnectionError, requests.Timeout, DockerException) as err:
            metrics.DOCKER_ERRORS.labels("unreachable").inc()
            self._client = None
            raise EngineUnavailable(f"Docker engine unreachable: {_short(err)}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _pull(client: docker.DockerClient, image: str) -> None:
    """Pull with progress streaming, so a long pull never trips the per-call read timeout."""
    for message in client.api.pull(image, stream=True, decode=True):
        if "error" in message:
            raise APIError(message["error"])


def _healthcheck(spec: ServiceSpec) -> Healthcheck | None:
    check = spec.healthcheck
    if check is None or check.kind != "command":
        return None
    return Healthcheck(test=["CMD", *(check.command or ())], interval=int(check.interval * _NANOS),
                       timeout=int(check.timeout * _NANOS), retries=check.retries,
                       start_period=int(check.start_period * _NANOS))


def _last_check_output(health: Mapping[str, Any]) -> str | None:
    """The tail of the newest health check's output (Docker keeps the last five)."""
    runs = health.get("Log") or []
    if not runs:
        return None
    last = runs[-1]
    text = (last.get("Output") or "").strip()
    return f"exit {last.get('ExitCode')}: {text[-300:]}" if text else f"exit {last.get('ExitCode')}"


def _event_from(raw: Mapping[str, Any]) -> ContainerEvent | None:
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    service = attributes.get(LABEL_SERVICE)
    action = str(raw.get("Action") or raw.get("status") or "")
    if not service or not actor.get("ID"):
        return None
    return ContainerEvent(service=service, container_id=actor["ID"],
                          action=action.split(":", 1)[0])


def _from_summary(summary: Mapping[str, Any]) -> ObservedContainer:
    labels = summary.get("Labels") or {}
    status = summary.get("Status") or ""
    health = _HEALTH_IN_STATUS.search(status)
    exit_match = _EXIT_IN_STATUS.match(status)
    field_hashes = _json_label(labels, LABEL_FIELD_HASHES) or {}
    applied = _json_label(labels, LABEL_SPEC)
    return ObservedContainer(
        id=summary["Id"],
        name=(summary.get("Names") or ["?"])[0].lstrip("/"),
        service=labels.get(LABEL_SERVICE, ""),
        spec_hash=labels.get(LABEL_SPEC_HASH, ""),
        field_hashes=field_hashes,
        applied=applied,
        state=summary.get("State", "unknown"),
        image=summary.get("Image", ""),
        health={"health: starting": "starting"}.get(health.group(1), health.group(1))
        if health else None,
        exit_code=int(exit_match.group(1)) if exit_match else None,
        created=str(summary.get("Created", "")).rjust(12, "0"),
    )


def _json_label(labels: Mapping[str, str], name: str) -> dict | None:
    try:
        value = json.loads(labels[name])
    except (KeyError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-"):
        return None
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", value).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed)


def _short(err: Exception) -> str:
    text = getattr(err, "explanation", None) or str(err)
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else type(err).__name__
