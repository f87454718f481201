"""`steward import-compose`: what carries over from a compose file, and what is reported."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.desired_state.compose import ComposeError, import_compose
from app.desired_state import load_directory
from tests.conftest import ROOT


def compose(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


def test_the_sample_carries_over_and_validates(tmp_path: Path) -> None:
    imported = import_compose(ROOT / "tests" / "data" / "docker-compose.yml")
    db, web = imported.services["db"], imported.services["web_app"]
    assert db["command"][:2] == ["sh", "-c"] and db["volumes"] == ["db-data:/var/lib/data"]
    assert db["healthcheck"] == {"command": ["wget", "-q", "-O", "/dev/null",
                                             "http://127.0.0.1:5432/"],
                                 "interval": "1s", "timeout": "1s", "retries": 3}
    assert web["environment"] == {"MODE": "fast", "API_TOKEN": "abc"}
    assert web["depends_on"] == ["db"] and web["ports"] == ["127.0.0.1:PORT2:80"]
    assert imported.notes["web_app"] == [
        "renamed from 'Web_App' (names are lowercase letters, digits, . _ -)",
        "env_file web.env: copied into environment (review for secrets)",
        "environment API_TOKEN: secret values now sit in the desired-state file; review "
        "before committing",
        "deploy: not carried over (Steward has no equivalent)",
        "networks: not carried over (Steward has no equivalent)"]
    text = imported.to_yaml("docker-compose.yml").replace("PORT1", "18001") \
        .replace("PORT2", "18002")
    (tmp_path / "shop.yaml").write_text(text)
    assert set(load_directory(tmp_path).services) == {"db", "web_app"}


@pytest.mark.parametrize("service, expected, note", [
    ({"image": "grafana/grafana:10"}, {"category": "monitoring"}, None),
    ({"image": "postgres:16"}, {"category": "infrastructure"}, None),
    ({"image": "x", "healthcheck": {"test": ["CMD-SHELL", "curl -f localhost || exit 1"],
                                    "interval": "1m30s", "start_period": "500ms"}},
     {"healthcheck": {"command": ["sh", "-c", "curl -f localhost || exit 1"],
                      "interval": "90s", "start_period": "0.5s"}}, None),
    ({"image": "x", "ports": ["8080"]}, {"ports": []},
     "port 8080: not published in compose; left out"),
    ({"image": "x", "ports": ["8000-8010:8000-8010"]}, {"ports": []},
     "port 8000-8010:8000-8010: port ranges are not supported; left out"),
    ({"image": "x", "volumes": ["/cache"]}, {"volumes": []},
     "volume /cache: anonymous volumes are not supported; left out"),
    ({"image": "x", "restart": "no"}, {"enabled": True},
     "restart no: Steward always heals enabled services; disable the service instead if it "
     "must not run"),
    ({"build": "."}, {"image": "REPLACE-ME"},
     "no image (build: is not supported); set image: by hand"),
])
def test_mappings_and_notes(tmp_path: Path, service: dict, expected: dict,
                            note: str | None) -> None:
    path = compose(tmp_path, yaml.safe_dump({"services": {"s": service}}))
    imported = import_compose(path)
    for key, value in expected.items():
        assert imported.services["s"][key] == value
    if note:
        assert note in imported.notes["s"]


def test_what_compose_fills_in_from_the_host_is_pointed_out(tmp_path: Path) -> None:
    path = compose(tmp_path, yaml.safe_dump({"services": {
        "web": {"image": "app:${TAG:-latest}", "environment": ["HOME_DIR", "MODE=x"]},
        "Web": {"image": "app:1"}}}, sort_keys=False))
    imported = import_compose(path)
    assert set(imported.services) == {"web", "web-1"}
    assert imported.services["web"]["environment"] == {"HOME_DIR": "", "MODE": "x"}
    assert "environment HOME_DIR: compose passes it from the host's environment; set its " \
           "value in the file" in imported.notes["web"]
    assert any(n.startswith("contains ${...}") for n in imported.notes["web"])
    assert imported.notes["web-1"] == [
        "renamed from 'Web': its cleaned name clashed with another service"]


def test_relative_mounts_are_rewritten_for_where_the_file_goes(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    path = compose(project, yaml.safe_dump({"services": {"web": {
        "image": "x", "volumes": ["./nginx.conf:/etc/nginx.conf:ro", "data:/data",
                                  {"type": "bind", "source": "./html", "target": "/www"}]}}}))
    target = tmp_path / "desired_state"
    target.mkdir()
    assert import_compose(path, target_dir=target).services["web"]["volumes"] == [
        "../shop/nginx.conf:/etc/nginx.conf:ro", "data:/data", "../shop/html:/www"]
    assert import_compose(path).services["web"]["volumes"][0] == \
        "./nginx.conf:/etc/nginx.conf:ro"


def test_a_file_that_is_not_compose_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no 'services:' mapping; is this a compose file"):
        import_compose(compose(tmp_path, "version: '3'\n"))
    with pytest.raises(ComposeError, match="not valid YAML"):
        import_compose(compose(tmp_path, "services: [\n"))
