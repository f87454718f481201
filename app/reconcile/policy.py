"""The restart policy: when a failed service is restarted again, and when Steward gives up.

Pure arithmetic on a service's counters and the clock passed in, so the whole policy can be
tested on a fake clock. The n-th consecutive restart after a failure waits
min(base * 2**(n-2), max) seconds after the previous one; the first is immediate. Once
`max_failures` restarts in a row have not held, the service is disabled.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.desired_state.spec import RestartPolicy
from app.reconcile.views import RuntimeView

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


def is_stable(runtime: RuntimeView, now: datetime, stable_period: float) -> bool:
    """A service healthy since its last restart for `stable_period` has earned a clean slate."""
    return runtime.last_restart_at is None or \
        now - runtime.last_restart_at >= timedelta(seconds=stable_period)
