"""Steward: keeps Docker services the way a reviewed git repository says, and heals them."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, redirect, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from app.api import BLUEPRINTS
from app.config import ROOT, load_config
from app.engine.docker_engine import DockerEngine
from app.extensions import Api
from app.health.monitor import HealthMonitor
from app.reconcile.reconciler import Reconciler, utcnow
from app.reconcile.scheduler import ReconcileScheduler
from app.reconcile.watcher import EventWatcher
from app.steward import Steward
from app.store.db import Store

DOCS_ASSETS = "/api/docs/assets/"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then STEWARD_* variables, then `config` (tests)."""
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    app.config.update(load_config())
    app.config.update(
        API_TITLE="Steward",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
    )
    app.config.update(config or {})
    app.json.sort_keys = False  # keep the contract's field order
    _configure_logging(app.config["LOG_LEVEL"])
    app.extensions["steward"] = _build_steward(app.config)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.add_url_rule(f"{DOCS_ASSETS}<path:filename>", "docs_assets",
                     lambda filename: send_from_directory(swagger_ui_path, filename))
    app.add_url_rule("/", "index", lambda: redirect("/api/docs"))
    return app


def _build_steward(config: Mapping[str, Any]) -> Steward:
    store = Store(config["DATABASE_URL"])
    engine = DockerEngine(instance=config["INSTANCE"], timeout=config["DOCKER_TIMEOUT"])
    health = HealthMonitor(store, clock=utcnow)
    reconciler = Reconciler(store=store, engine=engine, health=health,
                            desired_dir=Path(config["DESIRED_STATE_DIR"]),
                            stable_period=config["STABLE_PERIOD"])
    scheduler = ReconcileScheduler(reconciler, interval=config["RECONCILE_INTERVAL"])
    watcher = EventWatcher(engine)
    return Steward(store=store, reconciler=reconciler, scheduler=scheduler, health=health,
                   watcher=watcher)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
