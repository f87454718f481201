"""The event watcher: Docker's container events wake the reconciler for the service concerned.

This is the edge-triggered half of reconciling (the interval job is the level-triggered
safety net): a container that dies, is OOM-killed, changes health, is stopped or removed
behind Steward's back gets a pass for its service within moments. When the stream breaks
(dockerd restarted or gone) the watcher asks for a full pass at once (which notices the
engine is down) and again when it has reconnected, since events were missed meanwhile.
"""
from __future__ import annotations

import logging
from typing import Callable

from app.engine.docker_engine import ContainerEvent, DockerEngine
from app.errors import EngineUnavailable
from app.support.worker import Worker

log = logging.getLogger(__name__)

RECONNECT_MAX_SECONDS = 2.0


class EventWatcher:
    def __init__(self, engine: DockerEngine, *,
                 on_event: Callable[[ContainerEvent], None] | None = None,
                 on_resync: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_event = on_event or (lambda event: None)
        self.on_resync = on_resync or (lambda: None)
        self._worker = Worker("steward-events", self._run,
                              wake=lambda: self.engine.close_events())

    def start(self) -> None:
        self._worker.start()

    def _run(self) -> None:
        delay = 0.25
        while not self._worker.stopping.is_set():
            try:
                events = self.engine.follow_events()
            except EngineUnavailable as err:
                log.debug("event stream not available (%s); retrying in %.2fs", err, delay)
                self._worker.stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            if self._worker.stopping.is_set():  # stop() came while connecting
                self.engine.close_events()
                return
            delay = 0.25
            log.info("following Docker events; resynchronising with a full pass")
            self._call(self.on_resync)
            for event in events:
                log.debug("docker event: %s %s", event.action, event.service)
                self._call(self.on_event, event)
            if not self._worker.stopping.is_set():
                log.warning("Docker event stream ended; reconnecting")
                self._call(self.on_resync)

    @staticmethod
    def _call(callback: Callable[..., None], *args: object) -> None:
        """A failing callback is logged; the watcher itself must keep watching."""
        try:
            callback(*args)
        except Exception:  # noqa: BLE001
            log.exception("handling a Docker event failed")

    def stop(self) -> None:
        self._worker.stop()
