"""Webhooks (`STEWARD_WEBHOOK_URLS`): a JSON message when a service is disabled by the
failure limit, becomes unhealthy, or recovers.

Threads of their own, so a slow or dead receiver never delays healing. The watcher looks
once a second at the event log (a disable, a restart because unhealthy: never missed,
however fast healing was) and at the statuses (unhealthy while waiting, running again after
trouble), and queues one message per change. Each URL has its own sender and bounded
queue: it posts with exponential backoff and records every delivery and attempt in the
store. Deliveries still pending when Steward stops are sent again when it starts.

With `STEWARD_WEBHOOK_SECRET` set, every post carries `X-Steward-Signature-256: sha256=<hex>`,
the HMAC-SHA256 of the exact body bytes under that secret (GitHub's scheme), so a receiver
can tell Steward's messages from forged ones. Redirects are never followed: a receiver
that answers 3xx has not taken the message, and Steward will not post it elsewhere.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select

from app.domain.clock import iso
from app.operations.read_model import ServiceOverview, list_services
from app.store.db import Store
from app.store.deliveries import (
    finish_delivery,
    note_attempt,
    pending_deliveries,
    start_delivery,
)
from app.store.models import Event
from app.support.worker import Worker

log = logging.getLogger(__name__)

ATTEMPTS = 6
QUEUE_SIZE = 1000
SIGNATURE_HEADER = "X-Steward-Signature-256"


@dataclass(frozen=True)
class Message:
    event: str  # unhealthy, recovered, disabled, rollout-failed
    service: ServiceOverview
    at: datetime
    reason: str | None = None

    def payload(self, instance: str) -> dict:
        s = self.service
        return {"event": self.event, "service": s.name, "display_name": s.display_name,
                "category": s.category, "status": s.status, "reason": self.reason,
                "failure_count": s.failure_count, "restart_count": s.restart_count,
                "at": iso(self.at), "steward": instance}


@dataclass
class Watch:
    """What the watcher knows between looks: the last event it read, the services in
    trouble (told unhealthy or disabled, not yet told recovered)."""

    last_event: int = 0
    troubled: set[str] = field(default_factory=set)


def messages(watch: Watch, events: list[Event], fleet: list[ServiceOverview],
             at: datetime) -> list[Message]:
    """The messages one look calls for; updates `watch`. Pure but for `watch`."""
    by_name = {s.name: s for s in fleet}
    found = []
    for event in events:
        watch.last_event = max(watch.last_event, event.id)
        service = by_name.get(event.service or "")
        if service is None:
            continue
        if event.kind == "disable":
            found.append(Message("disabled", service, at, event.message))
            watch.troubled.add(service.name)
        elif event.kind == "rollback" and "rolled back: superseded" not in event.message:
            found.append(Message("rollout-failed", service, at, event.message))
        elif event.kind == "restart" and event.message.startswith("unhealthy") \
                and service.name not in watch.troubled:
            found.append(Message("unhealthy", service, at, event.message))
            watch.troubled.add(service.name)
    for service in fleet:
        if service.status == "unhealthy" and service.name not in watch.troubled:
            found.append(Message("unhealthy", service, at,
                                 service.health_output or service.last_failure))
            watch.troubled.add(service.name)
        elif service.status == "running" and service.name in watch.troubled:
            found.append(Message("recovered", service, at))
            watch.troubled.discard(service.name)
    return found


def shown_url(url: str) -> str:
    """A receiver as it may be shown or stored: scheme and host, and a short hash that
    tells URLs apart; never its path or query, which often carry a secret."""
    parts = urlsplit(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}" \
           f"/…#{digest}"


class Notifier:
    def __init__(self, store: Store, urls: list[str], *, instance: str,
                 clock: Callable[[], datetime], backoff: float = 1.0, secret: str = "") -> None:
        self.store = store
        self.urls = urls
        self.secret = secret
        self.instance = instance
        self.clock = clock
        self.backoff = backoff
        self._queues = {url: queue.Queue(maxsize=QUEUE_SIZE) for url in urls}
        self._stopped = threading.Event()
        self._workers = [Worker("steward-notify-watch", self._watch_loop,
                                stopping=self._stopped)] + [
            Worker("steward-notify-send", lambda u=url: self._send_loop(u),
                   stopping=self._stopped) for url in self.urls]
        self._watch: Watch | None = None

    def start(self) -> None:
        self._resend_pending()
        for worker in self._workers:
            worker.start()

    def look(self) -> None:
        """Read what happened since the last look and queue the messages it calls for."""
        now = self.clock()
        with self.store.reader() as session:
            fleet = list_services(session, now)
            if self._watch is None:  # the first look: what is, is not news
                last = session.scalar(select(func.max(Event.id))) or 0
                self._watch = Watch(last, {s.name for s in fleet
                                           if s.status in ("unhealthy", "disabled")})
                return
            events = list(session.scalars(select(Event).where(
                Event.id > self._watch.last_event).order_by(Event.id)))
        for message in messages(self._watch, events, fleet, now):
            self._queue_message(message)

    def _queue_message(self, message: Message) -> None:
        payload = message.payload(self.instance)
        for url in self.urls:
            with self.store.session() as session:
                delivery = start_delivery(session, url=shown_url(url), event=message.event,
                                          service=message.service.name, payload=payload,
                                          now=message.at)
            self._enqueue(delivery, url, payload)

    def _enqueue(self, delivery: int, url: str, payload: dict) -> None:
        try:
            self._queues[url].put_nowait((delivery, payload))
        except queue.Full:
            with self.store.session() as session:
                note_attempt(session, delivery, "not sent: the queue for this receiver is "
                                                "full (it has been failing for long)",
                             self.clock())
                finish_delivery(session, delivery, self.clock())

    def _resend_pending(self) -> None:
        """Messages a previous run could not finish go out again."""
        shown = {shown_url(u): u for u in self.urls}
        with self.store.reader() as session:
            pending = [(d.id, d.url, d.payload) for d in pending_deliveries(session)]
        for delivery, url, payload in pending:
            if url in shown:
                self._enqueue(delivery, shown[url], payload)

    def _watch_loop(self) -> None:
        while not self._stopped.wait(1.0):
            try:
                self.look()
            except Exception:  # noqa: BLE001 - keep watching whatever one look hit
                log.exception("webhook watcher could not read the store; looking again")

    def _send_loop(self, url: str) -> None:
        while not self._stopped.is_set():
            try:
                delivery, payload = self._queues[url].get(timeout=0.5)
            except queue.Empty:
                continue
            self.deliver(delivery, url, payload)

    def deliver(self, delivery: int, url: str, payload: dict) -> bool:
        """Post until the receiver answers 2xx, waiting backoff * 2^n between attempts.
        A stop during the wait leaves the delivery pending, for the next start."""
        for attempt in range(1, ATTEMPTS + 1):
            error = post(url, payload, self.secret)
            with self.store.session() as session:
                note_attempt(session, delivery, error, self.clock())
            if error is None:
                return True
            log.warning("webhook %s for %s to %s failed (attempt %d of %d): %s",
                        payload["event"], payload["service"], shown_url(url), attempt,
                        ATTEMPTS, error)
            if attempt < ATTEMPTS and self._stopped.wait(self.backoff * 2 ** (attempt - 1)):
                return False
        with self.store.session() as session:
            finish_delivery(session, delivery, self.clock())
        return False

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop()


def signature(body: bytes, secret: str) -> str:
    """The value of `X-Steward-Signature-256` for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, payload: dict, secret: str = "") -> str | None:
    """None when the receiver took it, else why not (without the URL's path or query)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"User-Agent": "steward-webhook", "Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    try:
        answer = requests.post(url, data=body, timeout=5, headers=headers,
                               allow_redirects=False)
    except requests.Timeout:
        return "no answer within 5s"
    except requests.RequestException as err:
        return f"{type(err).__name__}: could not reach {shown_url(url)}"
    if 200 <= answer.status_code < 300:
        return None
    if 300 <= answer.status_code < 400:
        return f"HTTP {answer.status_code}: a redirect, not followed"
    return f"HTTP {answer.status_code}"
