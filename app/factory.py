"""The app factory: configuration, extensions, blueprints and the running parts, wired once."""
from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from app.api import init_app as add_api
from app.auth.access import check_access
from app.auth.tokens import TokenConfigError, load_tokens
from app.config import ROOT, desired_state_dir, load_config
from app.desired_state.age_secrets import Keyring
from app.desired_state.follow import FileWatcher, GitFollower
from app.desired_state.loader import LoadSettings
from app.domain.clock import utcnow
from app.engine.base import make_engine
from app.engine.stats import StatsCollector
from app.health.monitor import HealthMonitor
from app.http.guard import check_body, check_host
from app.http.headers import add_security_headers
from app.http.ratelimit import RefusalLimiter, count_refusal, refuse_limited_client
from app.leadership.lease import Leadership, identity
from app.notify.webhooks import Notifier
from app.operations.history import HISTORY_KINDS
from app.reconcile.reconciler import Reconciler
from app.reconcile.scheduler import ReconcileScheduler
from app.reconcile.watcher import EventWatcher
from app.steward import Steward
from app.store.db import Store
from app.store.retention import EventPruner
from app.telemetry.logs import configure_logging
from app.web import init_app as add_status_page
from app.web.blueprint import refuse_cross_site

DOCS_ASSETS = "/api/docs/assets/"
#: No request body Steward accepts is anywhere near this; larger ones get 413.
MAX_BODY_BYTES = 64 * 1024
#: A page session ends this long after sign-in, however busy it is.
SESSION_LIFETIME = timedelta(hours=8)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then STEWARD_* variables, then `config` (tests)."""
    app = Flask(__name__, instance_path=str(ROOT / "instance"), static_folder=None)
    app.config.update(load_config())
    app.config.update(
        API_TITLE="Steward",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
        API_SPEC_OPTIONS={
            "info": {"description": "With STEWARD_API_TOKENS set, send `Authorization: Bearer "
                                    "<token>`: a missing or unknown token gets 401, a viewer "
                                    "token on an action 403, both with a JSON `detail`."},
            "components": {"securitySchemes": {"bearer": {"type": "http",
                                                          "scheme": "bearer"}}},
            "security": [{}, {"bearer": []}],
        },
    )
    app.config.update(config or {})
    app.config.update(SECRET_KEY=app.config["SECRET_KEY"] or _secret_key(app),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
                      SESSION_REFRESH_EACH_REQUEST=False)  # the lifetime counts from sign-in
    app.json.sort_keys = False  # keep the contract's field order
    configure_logging(app.config["LOG_LEVEL"])
    steward = _build_steward(app.config)
    app.extensions["steward"] = steward
    try:
        app.extensions["steward_tokens"] = load_tokens(app.config)
    except TokenConfigError as err:
        raise SystemExit(f"Steward cannot start: {err}") from None
    add_api(app, steward)
    app.add_url_rule(f"{DOCS_ASSETS}<path:filename>", "docs_assets",
                     lambda filename: send_from_directory(swagger_ui_path, filename))
    _add_request_checks(app)
    add_status_page(app, steward)
    return app


def _add_request_checks(app: Flask) -> None:
    """What runs before and after every route, the API's and the page's alike."""
    app.extensions["steward_refusals"] = RefusalLimiter(app.config["REFUSALS_PER_MINUTE"])
    for check in (refuse_limited_client, check_host, check_body, refuse_cross_site,
                  check_access):  # in this order, before any route
        app.before_request(check)
    app.after_request(count_refusal)
    app.after_request(add_security_headers)


def _secret_key(app: Flask) -> str:
    """A key kept in instance/, so page sessions survive restarts; made on first start."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _build_steward(config: Mapping[str, Any]) -> Steward:
    store = Store(config["DATABASE_URL"])
    engine = make_engine(config["ENGINE"], instance=config["INSTANCE"],
                         timeout=config["DOCKER_TIMEOUT"],
                         secrets=Keyring(config["AGE_KEY_FILE"]))
    health = HealthMonitor(store, clock=utcnow)
    desired_dir = desired_state_dir(config)
    follower = None
    if config["GIT_URL"]:
        follower = GitFollower(url=config["GIT_URL"], branch=config["GIT_BRANCH"],
                               checkout=Path(config["GIT_CHECKOUT"]),
                               interval=config["GIT_POLL"], on_result=lambda result: None)
    reconciler = Reconciler(store=store, engine=engine, health=health, desired_dir=desired_dir,
                            stable_period=config["STABLE_PERIOD"],
                            load_settings=LoadSettings.from_config(config))
    scheduler = ReconcileScheduler(reconciler, interval=config["RECONCILE_INTERVAL"])
    urls = [u.strip() for u in config["WEBHOOK_URLS"].split(",") if u.strip()]
    notifier = Notifier(store, urls, instance=config["INSTANCE"], clock=utcnow,
                        backoff=config["WEBHOOK_BACKOFF"],
                        secret=config["WEBHOOK_SECRET"]) if urls else None
    pruner = EventPruner(store, retention_days=config["EVENT_RETENTION_DAYS"],
                         max_rows=config["EVENT_MAX_ROWS"], session_lifetime=SESSION_LIFETIME,
                         clock=utcnow, history_kinds=HISTORY_KINDS)
    return Steward(store=store, reconciler=reconciler, scheduler=scheduler, health=health,
                   watcher=EventWatcher(engine),
                   files=FileWatcher(desired_dir, lambda: None, config["WATCH_INTERVAL"]),
                   leadership=Leadership(store, holder=identity(config["REPLICA_NAME"]),
                                         seconds=config["LEASE_SECONDS"], clock=utcnow),
                   follower=follower, notifier=notifier, pruner=pruner,
                   image_check_interval=config["IMAGE_CHECK_INTERVAL"],
                   stats=StatsCollector(instance=config["INSTANCE"],
                                        interval=config["STATS_INTERVAL"],
                                        clock=utcnow))
