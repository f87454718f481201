"""Desired-state loading: every error names file, line and field; valid files become specs."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.desired_state import DesiredStateError, load_directory
from app.desired_state.schema import ServiceFileSchema
from app.desired_state.spec import RestartPolicy
from tests.helpers import write_state


def write(root: Path, name: str, text: str) -> Path:
    return write_state(root, text, name)


def errors_of(root: Path) -> list[str]:
    with pytest.raises(DesiredStateError) as caught:
        load_directory(root)
    return [str(e).replace(root.name + "/", "") for e in caught.value.errors]


VALID = """
    services:
      db:
        display_name: Database
        category: infrastructure
        image: postgres:16
        command: postgres -c max_connections=50
        environment:
          POSTGRES_DB: app
          DEBUG: true
        ports: ["5432:5432", "0.0.0.0:9187:9187/udp"]
        volumes: ["./conf:/etc/conf:ro", "pgdata:/var/lib/postgresql/data"]
        healthcheck:
          tcp: {}
          interval: 2s
          timeout: 500ms
          start_period: 1m
        resources: {memory: 512m, cpus: 1.5}
      model:
        category: ai
        image: model:1
        depends_on: [db]
        healthcheck: {http: {path: /health, port: 8001}}
        restart_policy: {max_failures: 2}
"""


def test_valid_file_becomes_typed_specs(tmp_path: Path) -> None:
    write(tmp_path, "stack.yaml", VALID)
    state = load_directory(tmp_path)
    db, model = state.services["db"], state.services["model"]
    assert db.command == ("postgres", "-c", "max_connections=50")
    assert db.environment == (("DEBUG", "true"), ("POSTGRES_DB", "app"))
    assert [(p.host_ip, p.host_port, p.protocol) for p in db.ports] == [
        ("127.0.0.1", 5432, "tcp"), ("0.0.0.0", 9187, "udp")]
    assert db.port == 5432, "the primary port defaults to the first published port"
    assert db.volumes[0].source == str(tmp_path / "conf") and db.volumes[0].read_only
    assert db.volumes[1].kind == "volume"
    assert (db.healthcheck.kind, db.healthcheck.port, db.healthcheck.timeout,
            db.healthcheck.start_period) == ("tcp", 5432, 0.5, 60.0)
    assert (db.resources.memory_bytes, db.resources.cpus) == (512 * 1024 ** 2, 1.5)
    assert db.display_name == "Database" and model.display_name == "model"
    assert db.source_file.endswith("stack.yaml") and db.source_line == 2
    assert model.healthcheck.path == "/health" and model.depends_on == ("db",)


@pytest.mark.parametrize("category, expected", [
    ("infrastructure", RestartPolicy(10, 2.0, 60.0)),
    ("ai", RestartPolicy(5, 5.0, 300.0)),
    ("monitoring", RestartPolicy(3, 10.0, 600.0)),
])
def test_restart_policy_defaults_come_from_the_category(tmp_path: Path, category: str,
                                                       expected: RestartPolicy) -> None:
    write(tmp_path, "a.yaml", f"services:\n  s:\n    category: {category}\n    image: x\n")
    assert load_directory(tmp_path).services["s"].restart == expected


def test_a_service_overrides_part_of_its_policy(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """
        services:
          s:
            category: ai
            image: x
            restart_policy: {max_failures: 2, backoff_max: 30s}
    """)
    assert load_directory(tmp_path).services["s"].restart == RestartPolicy(2, 5.0, 30.0)


@pytest.mark.parametrize("body, expected", [
    ("    category: ai\n    imgae: x\n    image: x\n",
     "a.yaml:5: services.s.imgae: unknown key; allowed keys: "
     + ", ".join(sorted(ServiceFileSchema().fields))),
    ("    category: ai\n",
     "a.yaml:3: services.s.image: give image: (a tag to run or to give a build) or build:"),
    ("    category: gpu\n    image: x\n",
     "a.yaml:4: services.s.category: must be one of: infrastructure, ai, monitoring"),
    ("    category: ai\n    image: x\n    ports: [\"80\"]\n",
     "a.yaml:6: services.s.ports[0]: '80' is not a port mapping; use \"HOST:CONTAINER\", "
     "\"IP:HOST:CONTAINER\" or add \"/udp\", e.g. \"8080:80\""),
    ("    category: ai\n    image: x\n    enabled: 'yes'\n",
     "a.yaml:6: services.s.enabled: Not a valid boolean."),
    ("    category: ai\n    image: x\n    healthcheck: {interval: soon, tcp: {}}\n",
     "a.yaml:6: services.s.healthcheck.interval: 'soon' is not a duration; use e.g. 10s, "
     "500ms, 2m or a number of seconds"),
    ("    category: ai\n    image: x\n    healthcheck: {interval: 1s}\n",
     "a.yaml:6: services.s.healthcheck: give exactly one of http: {path, port}, tcp: {port} "
     "or command: [...]"),
    ("    category: ai\n    image: x\n    restart_policy:\n      max_failures: 0\n",
     "a.yaml:7: services.s.restart_policy.max_failures: Must be greater than or equal to 1 "
     "and less than or equal to 1000."),
    ("    category: ai\n    image: x\n    environment: {A: [1]}\n",
     "a.yaml:6: services.s.environment: value of 'A' must be a string, number or boolean"),
    ("    category: ai\n    image: x\n    volumes: [\"data\"]\n",
     "a.yaml:6: services.s.volumes[0]: 'data' is not a volume; use \"SOURCE:/container/path\" "
     "with optional \":ro\", \":z\" or \":ro,z\", where SOURCE is a path (./config, /srv/data) "
     "or a volume name"),
    ("    category: ai\n    image: x\n    volumes: [\"./a:/b:ro,rw\"]\n",
     "a.yaml:6: services.s.volumes[0]: './a:/b:ro,rw' is not a volume; use "
     "\"SOURCE:/container/path\" with optional \":ro\", \":z\" or \":ro,z\", where SOURCE is a "
     "path (./config, /srv/data) or a volume name"),
])
def test_each_validation_error_names_file_line_and_field(tmp_path: Path, body: str,
                                                        expected: str) -> None:
    write(tmp_path, "a.yaml", "# header comment\nservices:\n  s:\n" + body)
    assert errors_of(tmp_path) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("services:\n  Web_1:\n    category: ai\n    image: x\n",
     "a.yaml:2: services.Web_1: invalid service name; use lowercase letters, digits, '.', '_' "
     "or '-', starting with a letter or digit, at most 63 characters"),
    ("services:\n  s: [1, 2]\n",
     "a.yaml:2: services.s: a service must be a mapping of keys such as image, category"),
    ("servics: {}\n",
     "a.yaml:1: servics: unknown key; allowed keys: networks, prune, services"),
    ("- a\n- b\n", "a.yaml:1: a desired-state file must be a mapping with a 'services:' key"),
    ("services:\n  s:\n    category: ai\n    category: ai\n",
     "a.yaml:4: duplicate key 'category' (first at line 3)"),
])
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "a.yaml", text)
    assert errors_of(tmp_path) == [expected]


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "services:\n  s:\n    image: x\n   bad: indent\n")
    [error] = errors_of(tmp_path)
    assert error.startswith("a.yaml:4: invalid YAML: ")


def test_duplicate_names_across_files_point_at_both(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "services:\n  db:\n    category: ai\n    image: x\n")
    write(tmp_path, "b.yaml", "# b\nservices:\n  db:\n    category: ai\n    image: y\n")
    assert errors_of(tmp_path) == [
        "b.yaml:3: services.db: duplicate service name; already defined at a.yaml:2"]


def test_unknown_dependency_is_reported_at_its_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """
        services:
          web:
            category: ai
            image: x
            depends_on:
              - db
    """)
    assert errors_of(tmp_path) == [
        "a.yaml:6: services.web.depends_on[0]: unknown service 'db'; known: web"]


def test_dependency_cycle_is_reported_with_its_path(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """
        services:
          a: {category: ai, image: x, depends_on: [b]}
          b: {category: ai, image: x, depends_on: [c]}
          c: {category: ai, image: x, depends_on: [a]}
    """)
    assert errors_of(tmp_path) == ["a.yaml:2: services.a.depends_on: dependency cycle: "
                                   "a -> b -> c -> a"]


def test_every_error_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "services:\n  a:\n    category: ai\n")
    write(tmp_path, "b.yaml", "services:\n  b:\n    image: x\n")
    assert errors_of(tmp_path) == ["a.yaml:2: services.a.image: give image: (a tag to run or "
                                   "to give a build) or build:",
                                   "b.yaml:2: services.b.category: required key is missing"]


def test_prune_and_extension_keys(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "prune: true\nx-notes: {owner: ops}\nservices: {}\n")
    assert load_directory(tmp_path).prune is True


def test_files_must_agree_on_prune(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "prune: true\n")
    write(tmp_path, "b.yaml", "prune: false\n")
    assert errors_of(tmp_path) == [
        "b.yaml:1: prune: files disagree on prune (a.yaml:1, b.yaml:1); set it in one file only"]


def test_a_missing_directory_is_an_error_not_an_empty_fleet(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope")[0].endswith("desired-state directory not found")


def test_the_shipped_demo_stack_is_valid() -> None:
    state = load_directory(Path(__file__).resolve().parents[2] / "desired_state")
    assert {s.category for s in state.services.values()} == {"infrastructure", "ai",
                                                             "monitoring"}


def test_only_container_fields_change_the_spec_hash(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "services:\n  s: {category: ai, image: x, display_name: A}\n")
    first = load_directory(tmp_path).services["s"]
    write(tmp_path, "a.yaml", "services:\n  s: {category: ai, image: x, display_name: B,"
                              " restart_policy: {max_failures: 1}}\n")
    renamed = load_directory(tmp_path).services["s"]
    write(tmp_path, "a.yaml", "services:\n  s: {category: ai, image: x, environment: {A: 1}}\n")
    changed = load_directory(tmp_path).services["s"]
    assert first.spec_hash == renamed.spec_hash
    assert first.spec_hash != changed.spec_hash
    assert [f for f in first.field_hashes()
            if first.field_hashes()[f] != changed.field_hashes()[f]] == ["environment"]


def test_a_writable_mount_into_the_desired_state_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    write(tmp_path, "a.yaml", "services:\n  s:\n    category: ai\n    image: x\n"
                              "    volumes:\n      - ./files:/data\n")
    assert errors_of(tmp_path) == [
        "a.yaml:6: services.s.volumes[0]: ./files is inside the desired-state directory; "
        "mount it read-only (add :ro): containers must not write into the reviewed files"]


def test_a_checkout_elsewhere_hashes_the_same_and_content_is_part_of_it(tmp_path: Path) -> None:
    for name in ("live", "review"):
        (tmp_path / name / "files").mkdir(parents=True)
        (tmp_path / name / "files" / "app.conf").write_text("level = info\n")
        write(tmp_path / name, "a.yaml", "services:\n  s:\n    category: ai\n    image: x\n"
                                         "    volumes: [\"./files/app.conf:/etc/app.conf:ro\"]\n")
    live = load_directory(tmp_path / "live").services["s"]
    review = load_directory(tmp_path / "review").services["s"]
    assert live.volumes[0].source != review.volumes[0].source
    assert live.spec_hash == review.spec_hash
    (tmp_path / "review" / "files" / "app.conf").write_text("level = debug\n")
    edited = load_directory(tmp_path / "review").services["s"]
    assert edited.spec_hash != live.spec_hash
    assert [f for f in edited.field_hashes() if edited.field_hashes()[f] !=
            live.field_hashes().get(f)] == ["files"]
