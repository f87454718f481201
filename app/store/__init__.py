"""The SQL store (SQLAlchemy; SQLite or PostgreSQL): models, migrations, and one module
per kind of record (runtime, events, rollouts, applies, pauses, ...), plus event retention.

May import: engine data types, desired_state, domain, telemetry, errors. Nothing above.
"""
