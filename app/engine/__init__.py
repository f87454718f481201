"""The container engines behind one interface (`base`): Docker (`docker_engine`,
`options`) and Swarm (`swarm_engine`, `swarm_options`, `swarm_tasks`), plus image builds and
the stats sampler. The only code that talks to Docker.

May import: desired_state, domain, telemetry, errors. Never store, reconcile or anything above.
"""
