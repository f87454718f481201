"""Fixtures the unit tests share."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.steward import Steward
from app.store.models import RuntimeState
from app.store.runtime import set_engine_status
from tests.helpers import write_state


@pytest.fixture
def fleet(steward: Steward, desired_dir: Path) -> Steward:
    write_state(desired_dir, """
        services:
          postgres: {category: infrastructure, image: "postgres:16", ports: ["5432:5432"]}
          rtdetr: {category: ai, image: "rtdetr:1", display_name: RT-DETR Object Detection,
                   port: 8001}
          nemotron: {category: ai, image: "nemotron:1", display_name: Nemotron LLM}
    """)
    assert steward.reconciler.load_desired() is None
    started = datetime.now(timezone.utc) - timedelta(seconds=100)
    with steward.store.session() as session:
        for name in ("postgres", "rtdetr"):
            row = session.get(RuntimeState, name)
            row.container_id, row.container_state, row.started_at = \
                f"{name}0123456789abcdef", "running", started
        session.get(RuntimeState, "nemotron").container_state = "exited"
        set_engine_status(session, reachable=True, detail=None, now=started)
    return steward
