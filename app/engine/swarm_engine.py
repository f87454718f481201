"""The Swarm engine: the same desired state as Swarm services on a manager (DOCKER_HOST).

A service per desired service, labelled like the docker engine's containers; each
observation is one service with its tasks (`swarm_tasks`). Swarm restarts, places and
rolls back tasks; Steward creates, updates (carrying the service's current Version, so a
stale writer is refused), scales and removes services. Reads that are about containers
(logs, events) are the docker engine's own, inherited.
"""
from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

from docker.errors import APIError, NotFound
from docker.types import SecretReference

from app.desired_state.spec import NetworkAttachment, ServiceSpec
from app.engine.docker_engine import DockerEngine
from app.engine.observed import ObservedContainer
from app.engine.options import (
    LABEL_INSTANCE,
    LABEL_NETWORK,
    LABEL_SERVICE,
    network_name,
)
from app.engine.swarm_options import (
    SwarmSecret,
    TaskEnvironment,
    service_name,
    service_options,
    task_environment,
    unsupported,
)
from app.engine.swarm_tasks import observe_service
from app.errors import ConfigurationError

log = logging.getLogger(__name__)


class SwarmEngine(DockerEngine):
    """Services on a Swarm manager; connects lazily like the docker engine."""

    kind = "swarm"

    def observe(self, known: Mapping[str, str] | None = None) -> list[ObservedContainer]:
        """Every service of this instance with its tasks and their nodes: one list call
        for each."""
        owned = {"label": f"{LABEL_INSTANCE}={self.instance}"}
        services = self._call(lambda c: c.api.services(filters=owned), "list services")
        if not services:
            return []
        tasks = self._call(lambda c: c.api.tasks(), "list tasks")
        by_service: dict[str, list[dict]] = {}
        for task in tasks:
            by_service.setdefault(task.get("ServiceID", ""), []).append(task)
        nodes = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"][:12])
                 for n in self._call(lambda c: c.api.nodes(), "list nodes")}
        now = datetime.now(timezone.utc)
        return [observe_service(s, by_service.get(s["ID"], []), now, node_names=nodes)
                for s in services]

    def prepare_image(self, spec: ServiceSpec) -> str | None:
        """Each node pulls the image itself when it runs a task; nothing to do here."""
        return None

    def create_service(self, spec: ServiceSpec, replicas: int) -> str:
        self._check(spec)
        options = service_options(self.instance, spec, replicas=replicas,
                                  environment=self._environment(spec))
        created = self._call(lambda c: c.api.create_service(**options),
                             f"create service {options['name']}")
        self._prune_secrets(spec.name)  # what an earlier, failed create left
        return created["ID"]

    def update_service(self, spec: ServiceSpec, replicas: int, *, force: bool = False) -> str:
        """Replace the service's spec with `spec`'s at `replicas`, at the Version just read:
        Swarm refuses it when someone else wrote in between ("update out of sequence")."""
        self._check(spec)
        current = self._service(spec.name)
        template = (current["Spec"].get("TaskTemplate") or {})
        forced = (template.get("ForceUpdate") or 0) + 1 if force else \
            template.get("ForceUpdate")
        options = service_options(self.instance, spec, replicas=replicas,
                                  environment=self._environment(spec), force_update=forced)
        self._call(lambda c: c.api.update_service(
            current["ID"], current["Version"]["Index"], **options),
            f"update service {options['name']}")
        self._prune_secrets(spec.name)
        return current["ID"]

    def scale(self, spec_name: str, replicas: int) -> str:
        """Set the replicas, keeping the rest of the spec as it is (Version-checked)."""
        current = self._service(spec_name)
        spec = current["Spec"]
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        self._call(lambda c: c.api.update_service(
            current["ID"], current["Version"]["Index"], task_template=spec["TaskTemplate"],
            name=spec["Name"], labels=spec.get("Labels"), mode=spec["Mode"],
            update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
            endpoint_spec=spec.get("EndpointSpec")), f"scale {spec['Name']} to {replicas}")
        return current["ID"]

    def remove(self, container_id: str) -> None:
        """Remove a service, by its id or by a container of one of its tasks."""
        target = container_id
        with contextlib.suppress(NotFound, APIError):  # not a container: a service id
            attrs = self._call(lambda c: c.api.inspect_container(container_id),
                               "inspect container", reraise=(NotFound, APIError))
            target = (attrs.get("Config") or {}).get("Labels", {}).get(
                "com.docker.swarm.service.id", container_id)
        with contextlib.suppress(NotFound):
            service = self._call(lambda c: c.api.inspect_service(target), "inspect service",
                                 reraise=(NotFound,))
            self._call(lambda c: c.api.remove_service(target), "remove service",
                       reraise=(NotFound,))
            self._prune_secrets((service["Spec"].get("Labels") or {}).get(LABEL_SERVICE, ""))

    def create_network(self, network: NetworkAttachment) -> str:
        """An attachable overlay network, or the existing one of that name."""
        name = network_name(self.instance, network)
        for summary in self._call(lambda c: c.api.networks(names=[name]), "list networks"):
            if summary.get("Name") == name:
                return summary["Id"]
        created = self._call(lambda c: c.api.create_network(
            name, driver="overlay", attachable=True, internal=network.internal,
            scope="swarm", labels={LABEL_INSTANCE: self.instance,
                                   LABEL_NETWORK: network.name}), f"create network {name}")
        return created["Id"]

    def _environment(self, spec: ServiceSpec) -> TaskEnvironment:
        """The task's environment, its sealed values created as Swarm secrets first."""
        environment = task_environment(self.instance, spec, self.secrets)
        environment.references.extend(
            SecretReference(self._secret_id(secret, spec.name), secret.name,
                            filename=secret.variable) for secret in environment.secrets)
        return environment

    def _secret_id(self, secret: SwarmSecret, spec_name: str) -> str:
        """The secret's id, created when missing (same name, same ciphertext: the same)."""
        for found in self._call(lambda c: c.api.secrets(filters={"name": secret.name}),
                                "list secrets"):
            if found["Spec"]["Name"] == secret.name:
                return found["ID"]
        created = self._call(lambda c: c.api.create_secret(
            secret.name, secret.data.encode(), labels={LABEL_INSTANCE: self.instance,
                                                       LABEL_SERVICE: spec_name}),
            f"create secret {secret.name}")
        return created["ID"]

    def _prune_secrets(self, spec_name: str) -> None:
        """Remove the service's secrets that neither its spec nor its previous spec (what a
        rollback returns to) uses; Swarm keeps any a task still holds."""
        owned = {"label": [f"{LABEL_INSTANCE}={self.instance}", f"{LABEL_SERVICE}={spec_name}"]}
        used: set[str] = set()
        name = service_name(self.instance, spec_name)
        with contextlib.suppress(NotFound):
            service = self._call(lambda c: c.api.inspect_service(name), "inspect service",
                                 reraise=(NotFound,))
            for key in ("Spec", "PreviousSpec"):
                container = ((service.get(key) or {}).get("TaskTemplate") or {}).get(
                    "ContainerSpec") or {}
                used.update(ref["SecretID"] for ref in container.get("Secrets") or ())
        for secret in self._call(lambda c: c.api.secrets(filters=owned), "list secrets"):
            if secret["ID"] not in used:
                with contextlib.suppress(APIError):
                    self._call(lambda c: c.api.remove_secret(secret["ID"]), "remove secret",
                               reraise=(APIError,))

    def _service(self, spec_name: str) -> dict[str, Any]:
        name = service_name(self.instance, spec_name)
        return self._call(lambda c: c.api.inspect_service(name), f"inspect service {name}")

    @staticmethod
    def _check(spec: ServiceSpec) -> None:
        problems = unsupported(spec)
        if problems:
            raise ConfigurationError(f"{spec.name} cannot run on Swarm: " + "; ".join(problems))
