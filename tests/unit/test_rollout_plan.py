"""Rollout decisions in the pure planner: the strategy, the gate, the rollback, the memory
of a failed spec, superseding and the operator's pin. Tables of (situation, plan text)."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.desired_state.spec import (
    HealthCheck,
    NetworkAttachment,
    PortMapping,
    UpdatePolicy,
)
from app.domain.views import RolloutView, RuntimeView
from tests.helpers import NOW, container, render, spec

OLD = spec(update=UpdatePolicy(monitor=10, deadline=60))
NEW = replace(OLD, image="img:2")
CHECKED = replace(NEW, healthcheck=HealthCheck("command", 1, 1, 0, 3, command=("true",)))
STARTED = NOW - timedelta(seconds=5)


def rolling(spec_hash: str, **changes: object) -> RolloutView:
    base = RolloutView(state="in_progress", strategy="start-first", spec_hash=spec_hash,
                       started_at=STARTED, candidate_id="new", old_id="web-c1")
    return replace(base, **changes)


def new_container(of, state: str = "running", **changes: object):
    return container(of, state, id="new", name="steward-web-next", **changes)


@pytest.mark.parametrize("desired, expected", [
    (NEW, "rollout web: desired spec changed; start-first because it publishes no host "
          "ports [drift: image]"),
    (replace(NEW, ports=(PortMapping("127.0.0.1", 8080, 80),)),
     "rollout web: desired spec changed; stop-first because it publishes host ports "
     "[drift: image, ports]"),
    (replace(NEW, network_mode="host", networks=()),
     "rollout web: desired spec changed; stop-first because it uses the host's network "
     "[drift: image, networks, network_mode]"),
    (replace(NEW, update=UpdatePolicy(order="stop-first")),
     "rollout web: desired spec changed; stop-first because set in update.order "
     "[drift: image]"),
])
def test_the_strategy_follows_the_ports(desired, expected) -> None:
    assert render([desired], [container(OLD)]) == expected


@pytest.mark.parametrize("desired, new, rollout, expected", [
    (NEW, new_container(NEW), rolling(NEW.spec_hash),
     "wait web: rollout: the new container must be running for 10s "
     "(until 2026-01-01T12:00:10+00:00)"),
    (NEW, new_container(NEW), rolling(NEW.spec_hash, healthy_since=NOW - timedelta(seconds=4)),
     "wait web: rollout: the new container must be running for 10s "
     "(until 2026-01-01T12:00:06+00:00)"),
    (NEW, new_container(NEW), rolling(NEW.spec_hash, healthy_since=NOW - timedelta(seconds=10)),
     "promote web: running for 10s"),
    (CHECKED, new_container(CHECKED, health="starting"),
     rolling(CHECKED.spec_hash, started_at=NOW - timedelta(seconds=61)),
     "rollback web: the new container was not healthy for 10s within the 60s deadline"),
    (NEW, new_container(NEW, "exited", exit_code=3), rolling(NEW.spec_hash),
     "rollback web: the new container exited (exit code 3)"),
    (CHECKED, new_container(CHECKED, health="unhealthy", health_output="exit 1: no db"),
     rolling(CHECKED.spec_hash), "rollback web: the new container turned unhealthy: exit 1: no db"),
    (NEW, new_container(NEW, "created"),
     rolling(NEW.spec_hash, reason="the new container did not start: exec: nope"),
     "rollback web: the new container did not start: exec: nope"),
    (NEW, None, rolling(NEW.spec_hash), "rollback web: the new container is gone"),
    (replace(NEW, image="img:3"), new_container(NEW), rolling(NEW.spec_hash),
     "rollback web: superseded by a newer desired spec"),
])
def test_the_gate_decides_each_pass(desired, new, rollout, expected) -> None:
    observed = [container(OLD)] + ([new] if new else [])
    assert render([desired], observed, {"web": RuntimeView(rollout=rollout)}) == expected


def test_pause_instead_of_rollback_when_asked() -> None:
    paused = replace(NEW, update=UpdatePolicy(monitor=10, deadline=60, failure_action="pause"))
    failed = [container(OLD), new_container(paused, "exited", exit_code=1)]
    view = RuntimeView(rollout=rolling(paused.spec_hash))
    assert render([paused], failed, {"web": view}) == \
        "pause-rollout web: the new container exited (exit code 1)"
    held = RuntimeView(rollout=rolling(paused.spec_hash, state="paused"))
    assert render([paused], failed, {"web": held}) == "nothing to do", \
        "a paused rollout leaves both containers for an operator"


def test_a_rolled_back_spec_is_not_tried_again_until_asked() -> None:
    failed = RolloutView(state="rolled_back", strategy="start-first", spec_hash=NEW.spec_hash,
                         started_at=STARTED, reason="the new container exited (exit code 3)")
    assert render([NEW], [container(OLD)], {"web": RuntimeView(rollout=failed)}) == \
        "nothing to do", "the old container keeps serving"
    assert render([NEW], [container(OLD, "exited", exit_code=137)],
                  {"web": RuntimeView(rollout=failed)}) == "start web: exit code 137", \
        "the old container is still healed, as the same spec"
    retry = RuntimeView(rollout=failed, pending_action="rollout-retry")
    assert render([NEW], [container(OLD)], {"web": retry}).startswith("rollout web:")
    newer = replace(NEW, image="img:3")
    assert render([newer], [container(OLD)], {"web": RuntimeView(rollout=failed)}) \
        .startswith("rollout web:"), "a newer desired spec is rolled out as usual"


def test_during_a_rollout_neither_container_is_a_duplicate() -> None:
    observed = [container(OLD), new_container(NEW)]
    text = render([NEW], observed, {"web": RuntimeView(rollout=rolling(NEW.spec_hash))})
    assert "remove-duplicate" not in text and text.startswith("wait web: rollout")


def test_an_operators_pin_is_rolled_out_like_any_change() -> None:
    pinned = RuntimeView(pinned_spec=OLD)
    assert render([NEW], [container(NEW)], {"web": pinned}) == (
        "rollout web: desired spec changed; start-first because it publishes no host ports "
        "[drift: image]")
    assert render([NEW], [container(OLD)], {"web": pinned}) == "nothing to do"


def test_networks_of_a_start_first_rollout_stay_as_they_are() -> None:
    moved = replace(NEW, networks=(NetworkAttachment(name="backend"),))
    assert "[drift: image, networks]" in render([moved], [container(OLD)])


DIGEST = "sha256:" + "b" * 64


@pytest.mark.parametrize("desired, runtime, expected", [
    (OLD, RuntimeView(available_digest=DIGEST), "nothing to do"),
    (replace(OLD, auto_update=True), RuntimeView(available_digest=DIGEST),
     "rollout web: image update available (sha256:bbbbbbbbbbbb); start-first because it "
     "publishes no host ports"),
    (OLD, RuntimeView(available_digest=DIGEST, pending_action="update"),
     "rollout web: image update available (sha256:bbbbbbbbbbbb); start-first because it "
     "publishes no host ports"),
    (replace(OLD, auto_update=True), RuntimeView(available_digest=DIGEST, rollout=RolloutView(
        state="rolled_back", strategy="start-first", spec_hash=OLD.spec_hash,
        started_at=STARTED, image_digest=DIGEST)), "nothing to do"),
])
def test_image_updates_roll_out_when_automatic_or_asked_for(desired, runtime,
                                                            expected) -> None:
    assert render([desired], [container(OLD)], {"web": runtime}) == expected


def test_the_plan_report_lists_updates_that_are_only_shown() -> None:
    from app.desired_state.spec import DesiredState
    from tests.helpers import planned, reported

    desired = DesiredState(services={"web": OLD})
    views = {"web": RuntimeView(available_digest=DIGEST)}
    text = reported(planned(desired, [container(OLD)], views, NOW, stable_period=60), desired,
                  [container(OLD)], views).render()
    assert f"  update available web: {DIGEST} (auto_update: true, or `steward update web`, " \
           "rolls it out)" in text
