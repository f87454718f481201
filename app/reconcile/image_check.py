"""Image updates: has a service's tag moved on in its registry since its container was made?

Part of observing, on its own schedule (STEWARD_IMAGE_CHECK_INTERVAL, and on demand): for
each running service whose image is pulled (not built here), the registry is asked for the
tag's digest without pulling, and that is compared with the digests the container's image
was pulled as. A newer digest is stored as "update available"; the planner rolls it out
for services with `auto_update: true`, or when an operator asks (`update`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

from app.desired_state.spec import DesiredState, ServiceSpec
from app.engine.docker_engine import DockerEngine
from app.engine.observed import ObservedContainer
from app.errors import ActionFailed
from app.reconcile.fleet import judge
from app.store.db import Store
from app.store.images import record_image_checks
from app.store.sync import stored_desired_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageCheck:
    """What the registry said about one service's image."""

    service: str
    image: str
    running: str | None = None
    available: str | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return {"service": self.service, "image": self.image, "running_digest": self.running,
                "update_available": self.available, "error": self.error}


def check_images(engine: DockerEngine, store: Store, now: Callable[[], datetime]
                 ) -> list[ImageCheck]:
    """Ask the registries about every running, pulled image, and record the answers."""
    with store.reader() as session:
        desired = stored_desired_state(session)
    observed = engine.observe()
    checks = [_check(engine, desired.services[name], container)
              for name, container in _running(desired, observed)]
    with store.session() as session:
        record_image_checks(session, checks, now())
    for found in checks:
        if found.available:
            log.info("update available for %s: %s now points to %s", found.service,
                     found.image, found.available)
    return checks


def _running(desired: DesiredState, observed: Sequence[ObservedContainer]
             ) -> list[tuple[str, ObservedContainer]]:
    primaries = judge(desired, observed).primaries
    return [(name, c) for name, c in sorted(primaries.items())
            if c is not None and c.running and desired.services[name].build is None]


def _check(engine: DockerEngine, spec: ServiceSpec, container: ObservedContainer
           ) -> ImageCheck:
    try:
        pulled_as = engine.image_digests(container.image_id or spec.image)
        if not pulled_as:  # built or loaded here: no registry to ask
            return ImageCheck(spec.name, spec.image, error="the image was not pulled from a "
                                                           "registry; nothing to compare")
        remote = engine.registry_digest(spec.image)
    except ActionFailed as err:
        return ImageCheck(spec.name, spec.image, error=str(err)[:500])
    running = next((d.split("@", 1)[1] for d in pulled_as if "@" in d), None)
    current = any(d.endswith(f"@{remote}") for d in pulled_as)
    return ImageCheck(spec.name, spec.image, running=running,
                      available=None if current else remote)
