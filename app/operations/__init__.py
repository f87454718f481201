"""The use cases the API, the page and the CLI share: operator actions on a service
(`service_actions`), the read model of the contract (`read_model`), the plan preview
(`plan_preview`), apply (`apply`), history (`history`) and Swarm replicas (`replicas`).

May import: reconcile, health, leadership, engine data types, store, desired_state, domain.
Never api, web or Flask request handling.
"""
