"""How a plan is told: field diffs with secrets hidden, one line per action kind, the
counts and the exit status they lead to, and the recap of a pass."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from app.cli.commands import main
from app.desired_state.spec import (
    DesiredState,
    HealthCheck,
    PortMapping,
    Resources,
    VolumeMount,
)
from app.domain.actions import Action, Kind, Plan, Waiting
from app.domain.recap import summarize
from app.engine.observed import ObservedContainer
from app.reconcile.diff import spec_changes
from app.reconcile.executor import ExecutionReport
from app.reconcile.reconciler import PassResult
from tests.helpers import NOW, reported, spec

WEB = spec("web", environment=(("MODE", "one"), ("DB_PASSWORD", "old")),
           ports=(PortMapping("127.0.0.1", 8080, 80),), command=("serve", "--token=abc"))


def observed(of, **changes) -> ObservedContainer:
    return ObservedContainer(id=f"{of.name}-c1", name=of.name, service=of.name,
                             spec_hash=of.spec_hash, field_hashes=of.field_hashes(),
                             applied=of.container_fields(), state="running", image=of.image,
                             **changes)


def diff(old, new, fields: tuple[str, ...]) -> list[str]:
    """As a plan shows it: the old side from the container's label, the new from the spec."""
    return [c.render() for c in spec_changes(old.label_fields(), new.label_fields(), fields)]


@pytest.mark.parametrize("changes, fields, lines", [
    ({"image": "img:2"}, ("image",), ["~ image: img:1 -> img:2"]),
    ({"command": ("serve", "--token=xyz", "-v")}, ("command",),
     ["~ command: serve --token=******** -> serve --token=******** -v"]),
    ({"environment": (("MODE", "two"), ("DB_PASSWORD", "new"), ("EXTRA", "1"))},
     ("environment",), ["~ environment.DB_PASSWORD: (sensitive) -> (sensitive, changed)",
                        "+ environment.EXTRA: 1", "~ environment.MODE: one -> two"]),
    ({"environment": (("MODE", "one"),)}, ("environment",),
     ["- environment.DB_PASSWORD: (sensitive)"]),
    ({"ports": (PortMapping("127.0.0.1", 9090, 80),)}, ("ports",),
     ["+ ports: 127.0.0.1:9090->80/tcp", "- ports: 127.0.0.1:8080->80/tcp"]),
    ({"volumes": (VolumeMount("/srv/data", "/data", read_only=True),)}, ("volumes",),
     ["+ volumes: /srv/data:/data:ro"]),
    ({"files": (("/etc/app.conf", "abcdef0123456789"),)}, ("files",),
     ["+ files./etc/app.conf: content abcdef012345"]),
    ({"resources": Resources(memory_bytes=2 ** 30, cpus=2)}, ("resources",),
     ["+ resources: memory=1073741824 cpus=2"]),
    ({"healthcheck": HealthCheck("command", 5, 2, 0, 3, command=("curl", "-f", "x"))},
     ("healthcheck",), ["+ healthcheck: curl -f x every 5s, timeout 2s, 3 retries"]),
])
def test_each_field_diffs_readably_and_never_shows_a_secret(changes: dict,
                                                           fields: tuple[str, ...],
                                                           lines: list[str]) -> None:
    assert diff(WEB, replace(WEB, **changes), fields) == lines


@pytest.mark.parametrize("old, new, line", [
    ({"environment": (("DATABASE_URL", "postgres://app:pw1@db/app"),)},
     {"environment": (("DATABASE_URL", "postgres://app:pw2@db/app"),)},
     "~ environment.DATABASE_URL: postgres://app:********@db/app -> "
     "postgres://app:********@db/app (changed)"),
    ({"command": ("serve", "--password", "hunter1")}, {"command": ("serve", "--password", "hunter2")},
     "~ command: serve --password ******** -> serve --password ******** (changed)"),
    ({"command": ("sh", "-c", "app --token abc")}, {"command": ("sh", "-c", "app --token xyz")},
     "~ command: sh -c 'app --token ********' -> sh -c 'app --token ********' (changed)"),
])
def test_a_changed_secret_says_so_without_showing_it(old: dict, new: dict, line: str) -> None:
    assert diff(replace(WEB, **old), replace(WEB, **new), tuple(old)) == [line]


def test_the_container_label_keeps_no_secret() -> None:
    label = json.dumps(replace(WEB, environment=(("DB_PASSWORD", "pw1"),
                                                 ("URL", "https://u:s3cret@x/")),
                               command=("serve", "--token", "t0k")).label_fields())
    for secret in ("pw1", "s3cret", "t0k"):
        assert secret not in label


def test_a_container_from_before_the_spec_label_shows_unknown_old_values() -> None:
    changes = spec_changes(None, replace(WEB, image="img:2").container_fields(),
                           ("image", "ports"))
    assert [c.render() for c in changes] == ["~ image: (unknown) -> img:2",
                                             "~ ports: (unknown) -> 127.0.0.1:8080->80/tcp"]


def test_every_kind_of_step_has_its_line() -> None:
    db, api, cache = spec("db", "infrastructure"), spec("api"), spec("cache", "infrastructure")
    new_web = replace(WEB, image="img:2")
    desired = DesiredState(services={s.name: s for s in (db, api, cache, new_web)})
    actions = (
        Action(Kind.REMOVE_ORPHAN, "gone", "service is no longer in the desired state "
                                           "(prune: true)", container_id="g1"),
        Action(Kind.REPORT_ORPHAN, "left", "service is no longer in the desired state; set "
                                           "prune: true to remove it", container_id="l1"),
        Action(Kind.CREATE, "cache", "no container"),
        Action(Kind.START, "db", "exit code 1", container_id="db-c1", heal=True),
        Action(Kind.REMOVE_DUPLICATE, "db", "more than one container for the service",
               container_id="db-c2"),
        Action(Kind.RECREATE, "web", "desired spec changed", container_id="web-c1",
               drift=("image",)),
        Action(Kind.RESTART, "api", "restart requested", container_id="api-c1"),
        Action(Kind.STOP, "api", "stopped by an operator", container_id="api-c1"),
        Action(Kind.WAIT, "api", "backoff after 2 failure(s); last: exit code 1", until=NOW,
               waiting_for=Waiting.BACKOFF),
        Action(Kind.DISABLE, "api", "failure limit reached: 5 consecutive failures, last: x"),
        Action(Kind.FLAPPING, "api", "flapping: 6 health check changes in 10m"),
        Action(Kind.RESET_FAILURES, "api", "healthy for 60s since the last failure"),
    )
    the_report = reported(Plan(actions), desired, [observed(WEB)])
    assert the_report.render().splitlines() == [
        "- remove gone: service is no longer in the desired state (prune: true)",
        "? report-orphan left: service is no longer in the desired state; set prune: true to "
        "remove it",
        "+ create cache: no container",
        "> start db: exit code 1",
        "- remove db: more than one container for the service",
        "~ recreate web: desired spec changed [drift: image]",
        "    ~ image: img:1 -> img:2",
        "> restart api: restart requested",
        "| stop api: stopped by an operator",
        "  wait api: backoff after 2 failure(s); last: exit code 1 (until 2026-01-01T12:00:00Z)",
        "! disable api: failure limit reached: 5 consecutive failures, last: x",
        "! flapping api: flapping: 6 health check changes in 10m",
        "  reset-failures api: healthy for 60s since the last failure",
        "Plan: 1 to create, 1 to recreate, 1 to start, 1 to restart, 1 to stop, 2 to remove, "
        "1 to disable; 0 unchanged."]
    assert the_report.changes


def test_waits_and_resets_alone_are_no_change() -> None:
    desired = DesiredState(services={"web": WEB})
    waiting = Plan((Action(Kind.WAIT, "web", "self-healing paused", until=NOW,
                           waiting_for=Waiting.PAUSE),))
    assert not reported(waiting, desired, [observed(WEB)]).changes
    assert reported(Plan(()), desired, [observed(WEB)]).render() == \
        "Plan: no changes; 1 unchanged."


def test_a_dependent_to_create_later_is_a_change() -> None:
    desired = DesiredState(services={"web": WEB})
    deferred = Plan((Action(Kind.WAIT, "web", "waiting for dependency db (stopped)",
                            waiting_for=Waiting.DEPENDENCY),))
    the_report = reported(deferred, desired, [])
    assert the_report.render().splitlines()[0] == \
        "+ create web: no container; waits for db (stopped)"
    assert the_report.changes


def test_the_recap_counts_ok_changed_failed_skipped() -> None:
    actions = (Action(Kind.CREATE, "a", "no container"), Action(Kind.START, "b", "exit 1"),
               Action(Kind.WAIT, "c", "waiting for dependency a (stopped)"),
               Action(Kind.RESTART, "d", "restart requested"))
    execution = ExecutionReport(done=[actions[0]], failed=[(actions[1], "no such image")],
                                skipped=[actions[3]])
    recap = summarize(PassResult(plan=Plan(actions), report=execution,
                                 planned=frozenset("abcde")))
    assert recap.render().splitlines() == [
        "a : changed  (create a: no container)",
        "b : failed  (no such image)",
        "c : skipped  (waiting for dependency a (stopped))",
        "d : skipped  (an operator acted meanwhile)",
        "e : ok",
        "RECAP: ok=1 changed=1 failed=1 skipped=2 -> failed"]


def test_plan_exits_1_with_every_file_line_on_invalid_files(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("services:\n  web:\n    category: gpu\n    image: x\n"
                                     "  db:\n    image: y\n")
    answer = CliRunner().invoke(main, ["plan", str(tmp_path)])
    assert answer.exit_code == 1
    assert answer.output.splitlines() == [
        f"{tmp_path.name}/a.yaml:3: services.web.category: must be one of: infrastructure, "
        "ai, monitoring",
        f"{tmp_path.name}/a.yaml:5: services.db.category: required key is missing"]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_action_can_be_told(kind: Kind) -> None:
    """A plan with any action renders (the page and `steward plan` show every plan)."""
    from app.desired_state.spec import DesiredState
    from tests.helpers import reported

    text = reported(Plan((Action(kind, "web", "because"),)), DesiredState({"web": spec()}),
                  []).render()
    assert text.splitlines()[0].endswith(" web: because")
