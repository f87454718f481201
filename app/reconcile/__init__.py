"""Reconciling: observe the engine, plan (pure: `plan`, `swarm_plan`, `rollout`,
`policy`, `diff`), execute the steps (`executor`), and record; plus the scheduler, the event
watcher and the image check that start passes.

May import: health, leadership, engine, store, desired_state, domain, telemetry, errors.
The planner modules import no I/O (no docker, no SQLAlchemy, no store).
"""
