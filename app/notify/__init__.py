"""Outgoing webhooks when a service is disabled, turns unhealthy or recovers.

May import: operations (the read model), store, errors.
"""
