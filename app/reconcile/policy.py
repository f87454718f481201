"""The restart policy: when a failed service is restarted again, and when Steward gives up.

Pure arithmetic on a service's counters and the clock passed in, so the whole policy can be
tested on a fake clock:

- the first restart after a failure is immediate;
- each further consecutive restart n (n = 1 for the second one) waits
  min(base * 2**(n-1), max) seconds after the previous restart;
- `failure_count` counts failures that were healed (restarts that did not hold, and flapping
  episodes); the failure after `max_failures` of them disables the service;
- `failure_count` resets once the service has been healthy for the stable period: no
  restart, no health check flip and no flapping for that long.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.desired_state.spec import HealthCheck, RestartPolicy
from app.domain.views import RuntimeView

STABLE_PERIOD_SECONDS = 60.0


def backoff(policy: RestartPolicy, step: int) -> float:
    """min(base * 2**step, max): the delay after `step` earlier waits."""
    return min(policy.backoff_base * 2 ** step, policy.backoff_max)


def restart_delay(policy: RestartPolicy, restart_number: int) -> float:
    """Seconds the `restart_number`-th consecutive restart waits after the previous one."""
    return 0.0 if restart_number <= 1 else backoff(policy, restart_number - 2)


def next_restart_at(policy: RestartPolicy, runtime: RuntimeView) -> datetime | None:
    """When the next healing restart may happen; None means at once."""
    if runtime.failure_count == 0 or runtime.last_restart_at is None:
        return None
    delay = restart_delay(policy, runtime.failure_count + 1)
    return runtime.last_restart_at + timedelta(seconds=delay)


def limit_reached(policy: RestartPolicy, runtime: RuntimeView) -> bool:
    return runtime.failure_count >= policy.max_failures


def error_retry_at(policy: RestartPolicy, runtime: RuntimeView) -> datetime | None:
    """When to retry after an engine error (a failed pull or create); None means at once."""
    if runtime.error_count == 0 or runtime.last_error_at is None:
        return None
    return runtime.last_error_at + timedelta(seconds=backoff(policy, runtime.error_count - 1))


def recent_transitions(policy: RestartPolicy, runtime: RuntimeView,
                       now: datetime) -> tuple[datetime, ...]:
    """The health check flips inside the flapping window that ends now, of the container
    running now (flips before a restart were counted by that restart already)."""
    start = now - timedelta(seconds=policy.flap_window)
    if runtime.started_at is not None:
        start = max(start, runtime.started_at)
    return tuple(t for t in runtime.health_transitions if t > start)


def is_flapping(policy: RestartPolicy, runtime: RuntimeView, now: datetime) -> bool:
    """Enough flips inside the window to count as one more failure."""
    return len(recent_transitions(policy, runtime, now)) >= policy.flap_transitions


def was_flapping(flapping_at: datetime | None, window: float, now: datetime) -> bool:
    """Flapping was detected within the last window (what the API reports as `flapping`)."""
    return flapping_at is not None and now - flapping_at < timedelta(seconds=window)


def stable_at(runtime: RuntimeView, stable_period: float) -> datetime | None:
    """When the service will have gone `stable_period` without a restart, health flip or
    flapping; None if none of those ever happened."""
    moments = [runtime.last_restart_at, runtime.flapping_at, *runtime.health_transitions[-1:]]
    latest = max((m for m in moments if m is not None), default=None)
    return latest + timedelta(seconds=stable_period) if latest else None


def is_stable(runtime: RuntimeView, now: datetime, stable_period: float) -> bool:
    """No restart, health flip or flapping for `stable_period`: a clean slate is earned."""
    at = stable_at(runtime, stable_period)
    return at is None or now >= at


def counted_failures(runtime: RuntimeView, failed_at: datetime, stable_period: float) -> int:
    """The failure count a new failure at `failed_at` adds to: 0 if the service had been
    stable for the stable period before it failed, even if no pass reset the count yet."""
    if runtime.failure_count and is_stable(runtime, failed_at, stable_period):
        return 0
    return runtime.failure_count


def settle_time(check: HealthCheck) -> timedelta:
    """How long a dependent's health check gets after a dependency came back: two more
    checks, each a full interval plus its timeout, before its failure counts again."""
    return timedelta(seconds=2 * (check.interval + check.timeout))
