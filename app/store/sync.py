"""Put a validated `DesiredState` into the store in one transaction, or record why not.

The services table always holds the last *valid* load: an invalid edit adds a failed row to
`desired_state_loads` and an event, and changes nothing else.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.desired_state.revision import Revision
from app.desired_state.spec import DesiredState, ServiceSpec
from app.store.events import record_event
from app.store.models import DesiredStateLoad, RuntimeState, ServiceRecord


def sync_desired_state(session: Session, desired: DesiredState, now: datetime,
                       revision: Revision = Revision()) -> None:
    """Make the services table equal `desired`, with an event per added/updated/removed one."""
    records = {r.name: r for r in session.scalars(select(ServiceRecord))}
    for spec in desired.services.values():
        _upsert(session, records.get(spec.name), spec, now)
    for name in sorted(set(records) - set(desired.services)):
        session.delete(records[name])
        session.execute(delete(RuntimeState).where(RuntimeState.service == name))
        record_event(session, service=name, kind="removed", at=now,
                     message="service left the desired state")
    session.add(DesiredStateLoad(at=now, digest=desired.digest, ok=True,
                                 services=len(desired.services), prune=desired.prune,
                                 revision=revision.commit, dirty=revision.dirty))


def _upsert(session: Session, record: ServiceRecord | None, spec: ServiceSpec,
            now: datetime) -> None:
    runtime = session.get(RuntimeState, spec.name)
    if runtime is None:
        runtime = RuntimeState(service=spec.name, enabled=spec.enabled, spec_enabled=spec.enabled,
                               manually_stopped=False, request_version=0, failure_count=0,
                               restart_count=0,
                               error_count=0, health_failures=0, oom_killed=False)
        session.add(runtime)
    elif runtime.spec_enabled != spec.enabled:
        # An edit of `enabled:` in the reviewed file wins over an earlier API toggle.
        runtime.enabled = runtime.spec_enabled = spec.enabled
        runtime.disabled_reason = None if spec.enabled else "disabled in the desired state"
    if record is None:
        record = ServiceRecord(name=spec.name)
        session.add(record)
        record_event(session, service=spec.name, kind="added", at=now,
                     message=f"added from {spec.source_file}:{spec.source_line}")
    elif record.spec != _stored(spec):
        record_event(session, service=spec.name, kind="updated", at=now,
                     message=f"desired spec changed in {spec.source_file}")
        if runtime.pinned_spec is not None and record.spec_hash != spec.spec_hash:
            # An operator's rollback holds until the desired spec changes: now it has.
            runtime.pinned_spec = runtime.pinned_for_hash = None
    else:
        return
    record.category = spec.category
    record.display_name = spec.display_name
    record.spec = _stored(spec)
    record.spec_hash = spec.spec_hash
    record.source_file = spec.source_file
    record.source_line = spec.source_line
    record.updated_at = now


def _stored(spec: ServiceSpec) -> dict:
    """The spec as the JSON column will hand it back (tuples become lists)."""
    return json.loads(json.dumps(spec.to_dict()))


def record_load_failure(session: Session, digest: str, error: str, now: datetime,
                        revision: Revision = Revision()) -> None:
    """Record a rejected load; the services table is left as it was."""
    session.add(DesiredStateLoad(at=now, digest=digest, ok=False, error=error,
                                 revision=revision.commit, dirty=revision.dirty))
    record_event(session, service=None, kind="load-failed", at=now,
                 message=f"desired state at {revision.describe()} rejected, last good state "
                         f"kept: {error}")


def stored_desired_state(session: Session) -> DesiredState:
    """The last valid desired state, as the reconciler should enforce it."""
    specs = {r.name: ServiceSpec.from_dict(r.spec) for r in session.scalars(select(ServiceRecord))}
    good = last_load(session, ok=True)
    return DesiredState(services=specs, prune=bool(good and good.prune),
                        digest=good.digest if good else "")


def last_load(session: Session, ok: bool | None = None) -> DesiredStateLoad | None:
    query = select(DesiredStateLoad).order_by(DesiredStateLoad.id.desc()).limit(1)
    if ok is not None:
        query = query.where(DesiredStateLoad.ok == ok)
    return session.scalars(query).first()
