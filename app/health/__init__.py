"""Health checks Steward runs itself (http, tcp, command): the probes and the monitor
that schedules them and records verdicts.

May import: store, engine, desired_state, domain, telemetry, errors.
"""
