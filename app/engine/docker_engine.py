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
from docker.errors import APIError, BuildError, DockerException, ImageNotFound, NotFound

from app.desired_state.age_secrets import Keyring
from app.desired_state.spec import NetworkAttachment, ServiceSpec
from app.engine.observed import ObservedContainer, ObservedNetwork
from app.engine.options import (
    LABEL_BUILD,
    LABEL_FIELD_HASHES,
    LABEL_INSTANCE,
    LABEL_NETWORK,
    LABEL_SERVICE,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    container_name,
    create_options,
    endpoint_aliases,
    host_config_options,
    network_name,
)
from app.errors import ActionFailed, ConfigurationError, EngineUnavailable
from app.telemetry import metrics

__all__ = ["LABEL_INSTANCE", "LABEL_SERVICE", "ContainerEvent", "DockerEngine"]

#: Container events that can mean a service needs healing or its dependents need a look.
WATCHED_EVENTS = ("die", "oom", "health_status", "destroy", "stop", "start", "restart")

_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXIT_IN_STATUS = re.compile(r"^Exited \((-?\d+)\)")
#: How Docker says a container asked for a device driver it has no runtime for.
_NO_DEVICE_DRIVER = re.compile(r'could not select device driver "([^"]*)"')
#: Lines of build output kept for the event log and the reason of a failed build.
BUILD_LOG_LINES = 20

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ContainerEvent:
    service: str
    container_id: str
    action: str


class DockerEngine:
    """One Steward instance's view of one Docker engine; connects lazily, reconnects alone."""

    kind = "docker"  # see app/engine/base.py

    def __init__(self, *, instance: str, base_url: str | None = None,
                 timeout: float = 30.0, secrets: Keyring = Keyring()) -> None:
        self.instance = instance
        self.secrets = secrets  # decrypts age-encrypted environments at create, nowhere else
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
            container = _from_summary(summary, f"{self.instance}_default")
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
            oom_killed=bool(state.get("OOMKilled")), address=seen.address,
            image_id=seen.image_id,
        )

    # -- writes ------------------------------------------------------------------------------

    def create(self, spec: ServiceSpec) -> str:
        """Create and start a container for `spec` on its networks, answering to its name.

        The image must be there (see `prepare_image`). A container that was created but
        could not start (no GPU runtime, say) is kept: the next pass sees it.
        """
        container_id = self.create_container(spec)
        self.start(container_id)
        return container_id

    def name_of(self, spec: ServiceSpec, suffix: str = "") -> str:
        """The container name of `spec`'s service; a rollout's new one gets `-next`."""
        return container_name(self.instance, spec) + suffix

    def create_container(self, spec: ServiceSpec, *, suffix: str = "",
                         aliases: bool = True) -> str:
        """Create (not start) a container for `spec`, named `<instance>-<service><suffix>`.

        Without `aliases` it joins its networks under its container name only, so it gets
        no traffic meant for the service until `set_aliases` (a rollout's new container).
        """
        name = self.name_of(spec, suffix)
        first, *others = spec.networks or (None,)
        created = self._call(lambda c: c.api.create_container(
            spec.image, **create_options(self.instance, spec, c.api.create_host_config(
                **host_config_options(self.instance, spec)), name=name,
                secrets=self.secrets),
            networking_config=c.api.create_networking_config({
                network_name(self.instance, first): c.api.create_endpoint_config(
                    aliases=endpoint_aliases(spec, first) if aliases else None)})
            if first else None), f"create container {name}")
        for network in others:  # API 1.43 and older take one network at create
            self._call(lambda c: c.api.connect_container_to_network(
                created["Id"], network_name(self.instance, network),
                aliases=endpoint_aliases(spec, network) if aliases else None),
                f"connect {name} to {network.name}")
        return created["Id"]

    def set_aliases(self, container_id: str, spec: ServiceSpec) -> None:
        """Make a container answer to the service's name on each of its networks (Docker
        sets aliases only when connecting, so each network is joined again)."""
        for network in spec.networks:
            docker_name = network_name(self.instance, network)
            self._leave(container_id, docker_name)
            self._call(lambda c: c.api.connect_container_to_network(
                container_id, docker_name, aliases=endpoint_aliases(spec, network)),
                f"connect to {network.name}")

    def _leave(self, container_id: str, network: str) -> None:
        """Disconnect from a network; not being connected (any more) is fine."""
        try:
            self._call(lambda c: c.api.disconnect_container_from_network(
                container_id, network, force=True), f"disconnect from {network}",
                reraise=(NotFound, APIError))
        except (NotFound, APIError) as err:
            if "not connected" not in str(err) and not isinstance(err, NotFound):
                raise ActionFailed(f"disconnect from {network}: {_short(err)}") from None

    def detach(self, container_id: str, spec: ServiceSpec) -> None:
        """Take a container off the service's networks, so no new request reaches it."""
        for network in spec.networks:
            self._leave(container_id, network_name(self.instance, network))

    def rename(self, container_id: str, name: str) -> None:
        self._call(lambda c: c.api.rename(container_id, name), f"rename container to {name}")

    def start(self, container_id: str) -> None:
        try:
            self._call(lambda c: c.api.start(container_id), "start container")
        except ActionFailed as err:
            raise _explained(err) from None

    def prepare_image(self, spec: ServiceSpec, *, pull: bool = False) -> str | None:
        """Build the image when the spec has a build and the image is not of this build,
        else pull it when missing (or always, with `pull`: an image update); return the
        build's last output lines, if it built."""
        if spec.build is None:
            if pull:
                self.pull(spec.image)
            else:
                self.ensure_image(spec.image)
            return None
        wanted = spec.field_hashes()["build"]
        try:
            image = self._call(lambda c: c.api.inspect_image(spec.image), "look up image",
                               reraise=(ImageNotFound, NotFound))
            if (image.get("Config") or {}).get("Labels", {}).get(LABEL_BUILD) == wanted:
                return None
        except (ImageNotFound, NotFound):
            pass
        return self._build(spec, wanted)

    def _build(self, spec: ServiceSpec, build_hash: str) -> str:
        build = spec.build
        assert build is not None
        log.info("building image %s for %s from %s", spec.image, spec.name, build.context)
        output: list[str] = []
        try:
            self._call(lambda c: _stream_build(c, output, path=build.context, tag=spec.image,
                                               dockerfile=build.dockerfile, target=build.target,
                                               buildargs=dict(build.args), rm=True,
                                               forcerm=True, decode=True, labels={
                                                   LABEL_INSTANCE: self.instance,
                                                   LABEL_SERVICE: spec.name,
                                                   LABEL_BUILD: build_hash}),
                       f"build image {spec.image}", reraise=(BuildError,))
        except (BuildError, ActionFailed) as err:
            tail = "\n".join(output[-BUILD_LOG_LINES:])
            raise ActionFailed(f"build of {spec.image} failed: {_short(err)}"
                               + (f"\n{tail}" if tail else "")) from None
        return "\n".join(output[-BUILD_LOG_LINES:])

    # -- networks ----------------------------------------------------------------------------

    def observe_networks(self) -> list[ObservedNetwork]:
        """This instance's networks, with how many containers each has attached."""
        found = self._call(lambda c: c.api.networks(
            filters={"label": f"{LABEL_INSTANCE}={self.instance}"}), "list networks")
        result = []
        for summary in found:
            details = self._call(lambda c: c.api.inspect_network(summary["Id"]),
                                 "inspect network")
            labels = details.get("Labels") or {}
            result.append(ObservedNetwork(id=details["Id"], name=details["Name"],
                                          network=labels.get(LABEL_NETWORK, ""),
                                          containers=len(details.get("Containers") or {})))
        return result

    def create_network(self, network: NetworkAttachment) -> str:
        """Create one of Steward's networks, or adopt it when it exists under its name."""
        name = network_name(self.instance, network)
        existing = self._call(lambda c: c.api.networks(names=[name]), "list networks")
        for summary in existing:
            if summary.get("Name") == name:
                return summary["Id"]
        created = self._call(lambda c: c.api.create_network(
            name, driver=network.driver, internal=network.internal, check_duplicate=True,
            labels={LABEL_INSTANCE: self.instance, LABEL_NETWORK: network.name}),
            f"create network {name}")
        return created["Id"]

    def remove_network(self, network_id: str) -> None:
        with contextlib.suppress(NotFound):
            self._call(lambda c: c.api.remove_network(network_id), "remove network",
                       reraise=(NotFound,))

    def stop(self, container_id: str, grace_period: float) -> None:
        self._call(lambda c: c.api.stop(container_id, timeout=round(grace_period)),
                   "stop container")

    def restart(self, container_id: str, grace_period: float) -> None:
        self._call(lambda c: c.api.restart(container_id, timeout=round(grace_period)),
                   "restart container")

    def remove(self, container_id: str) -> None:
        """Stop and remove a container (by id or name); one already gone counts as removed."""
        with contextlib.suppress(NotFound):
            self._call(lambda c: c.api.remove_container(container_id, force=True, v=False),
                       "remove container", reraise=(NotFound,))

    def ensure_image(self, image: str) -> None:
        """Pull `image` unless the engine has it; a failed pull is this service's error."""
        try:
            self._call(lambda c: c.api.inspect_image(image), "look up image",
                       reraise=(ImageNotFound, NotFound))
        except (ImageNotFound, NotFound):
            try:
                self.pull(image)
            except ActionFailed as err:
                raise ActionFailed(f"image {image} is not present and could not be pulled: "
                                   f"{str(err).removeprefix(f'pull of {image} failed: ')}"
                                   ) from None

    def pull(self, image: str) -> None:
        log.info("pulling image %s", image)
        try:
            self._call(lambda c: _pull(c, image), f"pull image {image}",
                       reraise=(requests.Timeout,))
        except (ActionFailed, requests.Timeout) as err:
            raise ActionFailed(f"pull of {image} failed: {_short(err)}") from None

    def registry_digest(self, image: str) -> str:
        """The digest the registry has for `image`'s tag now, asked without pulling (with
        Docker's credential store, as `docker pull` would)."""
        data = self._call(lambda c: c.images.get_registry_data(image),
                          f"ask the registry about {image}")
        return data.id

    def image_digests(self, image_id: str) -> list[str]:
        """The registry digests (`repo@sha256:...`) a local image was pulled or pushed as."""
        attrs = self._call(lambda c: c.api.inspect_image(image_id), "look up image")
        return list(attrs.get("RepoDigests") or ())

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


def _stream_build(client: docker.DockerClient, output: list[str], **options: Any) -> None:
    """Build, keeping the output lines; an error in the stream fails the build."""
    for message in client.api.build(**options):
        if "error" in message:
            raise BuildError(message["error"].strip(), output)
        text = str(message.get("stream") or "").rstrip()
        if text:
            output.extend(text.splitlines())


def _explained(err: ActionFailed) -> ActionFailed:
    """A start refused for want of a device runtime is the configuration's fault, and the
    fix is on the host: say so plainly."""
    match = _NO_DEVICE_DRIVER.search(str(err))
    if match is None:
        return err
    driver = match.group(1) or "nvidia"
    return ConfigurationError(f"no GPU runtime: Docker could not select device driver "
                              f"'{driver}'; install nvidia-container-toolkit and restart "
                              "dockerd, or remove the GPU request")


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


def _address(summary: Mapping[str, Any], preferred: str) -> str | None:
    """The container's IP on `preferred` (the instance network), else on any network."""
    networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
    ordered = [networks[preferred]] if preferred in networks else []
    for endpoint in ordered + list(networks.values()):
        if (endpoint or {}).get("IPAddress"):
            return endpoint["IPAddress"]
    return None


def _from_summary(summary: Mapping[str, Any], network: str) -> ObservedContainer:
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
        address=_address(summary, network),
        image_id=summary.get("ImageID", ""),
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
