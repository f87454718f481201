"""Webhooks (`STEWARD_WEBHOOK_URLS`): a JSON message when a service is disabled by the
failure limit, becomes unhealthy, or recovers.

Two threads of their own, so a slow or dead receiver never delays healing. The watcher
compares each service's status in the store once a second (whatever changed it) and queues
a message per transition; the sender posts each message to each URL, retrying with
exponential backoff, and records every delivery and its attempts in the store.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import requests

from app.desired_state.secrets import without_credentials
from app.overview import ServiceOverview, list_services
from app.store.db import Store
from app.store.deliveries import finish_delivery, note_attempt, start_delivery

log = logging.getLogger(__name__)

ATTEMPTS = 6


@dataclass(frozen=True)
class Message:
    event: str  # unhealthy, recovered, disabled
    service: ServiceOverview
    at: datetime

    def payload(self, instance: str) -> dict:
        s = self.service
        reason = s.disabled_reason if self.event == "disabled" else \
            s.health_output or s.last_failure if self.event == "unhealthy" else None
        return {"event": self.event, "service": s.name, "display_name": s.display_name,
                "category": s.category, "status": s.status, "reason": reason,
                "failure_count": s.failure_count, "restart_count": s.restart_count,
                "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "steward": instance}


def transitions(before: dict[str, ServiceOverview], now: list[ServiceOverview],
                at: datetime) -> list[Message]:
    """The messages one look at the fleet calls for, compared with the previous look."""
    messages = []
    for service in now:
        was = before.get(service.name)
        if was is None or was.status == service.status:
            continue
        if service.status == "disabled" and (service.disabled_reason or "").startswith(
                "failure limit"):
            messages.append(Message("disabled", service, at))
        elif service.status == "unhealthy":
            messages.append(Message("unhealthy", service, at))
        elif service.status == "running" and was.status in ("unhealthy", "stopped"):
            messages.append(Message("recovered", service, at))
    return messages


class Notifier:
    def __init__(self, store: Store, urls: list[str], *, instance: str,
                 clock: Callable[[], datetime], backoff: float = 1.0) -> None:
        self.store = store
        self.urls = urls
        self.instance = instance
        self.clock = clock
        self.backoff = backoff
        self._queue: queue.Queue[tuple[int, str, dict]] = queue.Queue()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last: dict[str, ServiceOverview] | None = None

    def start(self) -> None:
        for target, name in ((self._watch, "steward-notify-watch"),
                             (self._send, "steward-notify-send")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def look(self) -> None:
        """Compare the fleet with the last look and queue what changed."""
        now = self.clock()
        with self.store.reader() as session:
            fleet = list_services(session, now)
        if self._last is not None:
            for message in transitions(self._last, fleet, now):
                self._queue_message(message)
        self._last = {s.name: s for s in fleet}

    def _queue_message(self, message: Message) -> None:
        payload = message.payload(self.instance)
        for url in self.urls:
            with self.store.session() as session:
                delivery = start_delivery(session, url=without_credentials(url),
                                          event=message.event, service=message.service.name,
                                          payload=payload, now=message.at)
            self._queue.put((delivery, url, payload))

    def _watch(self) -> None:
        while not self._stopped.wait(1.0):
            try:
                self.look()
            except Exception:  # noqa: BLE001 - keep watching whatever one look hit
                log.exception("webhook watcher could not read the fleet; looking again")

    def _send(self) -> None:
        while not self._stopped.is_set():
            try:
                delivery, url, payload = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self.deliver(delivery, url, payload)

    def deliver(self, delivery: int, url: str, payload: dict) -> bool:
        """Post until the receiver answers 2xx, waiting backoff * 2^n between attempts."""
        for attempt in range(1, ATTEMPTS + 1):
            error = _post(url, payload)
            with self.store.session() as session:
                note_attempt(session, delivery, error, self.clock())
            if error is None:
                return True
            log.warning("webhook %s for %s failed (attempt %d of %d): %s", payload["event"],
                        payload["service"], attempt, ATTEMPTS, error)
            if attempt < ATTEMPTS and self._stopped.wait(self.backoff * 2 ** (attempt - 1)):
                break
        with self.store.session() as session:
            finish_delivery(session, delivery, self.clock())
        return False

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)


def _post(url: str, payload: dict) -> str | None:
    """None when the receiver took it, else why not."""
    started = time.monotonic()
    try:
        answer = requests.post(url, json=payload, timeout=5,
                               headers={"User-Agent": "steward-webhook"})
    except requests.RequestException as err:
        return without_credentials(f"{type(err).__name__}: {err}")[:300]
    if 200 <= answer.status_code < 300:
        return None
    return f"HTTP {answer.status_code} after {time.monotonic() - started:.2f}s"
