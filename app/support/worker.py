"""One background thread with start, stop and join, for every part of Steward that runs one
(the file watcher, the git follower, the event watcher, the health monitor, the notifier,
the page's feed, the stats collector and the lease).

The loop reads `stopping` (wait on it instead of sleeping, so stop is immediate); `wake`
unblocks whatever else the loop waits on (a stream, another event). A loop that dies on an
unexpected error is logged with its name rather than vanishing, and a thread that does not
end within `join_timeout` is logged too, so a stuck shutdown says where it is stuck. A
stopped worker can be started again (a replica that lost the lease and wins it back).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, name: str, loop: Callable[[], None], *,
                 wake: Callable[[], None] = lambda: None, join_timeout: float = 5.0,
                 stopping: threading.Event | None = None) -> None:
        self.name = name
        self.join_timeout = join_timeout
        #: Set by stop(); shared by the workers of one owner when it is passed in.
        self.stopping = stopping or threading.Event()
        self._loop = loop
        self._wake = wake
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the loop; a worker whose loop still runs (a stop that timed out) is not
        started twice."""
        if self.running:
            log.warning("%s is still running; not starting a second one", self.name)
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - said where, instead of a thread dying unheard
            log.exception("%s stopped on an unexpected error", self.name)

    def stop(self) -> None:
        """Ask the loop to end, wake it, and wait for it (at most `join_timeout`)."""
        self.stopping.set()
        self._wake()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout=self.join_timeout)
        if thread.is_alive():
            log.warning("%s did not stop within %gs", self.name, self.join_timeout)
        else:
            self._thread = None
