"""The plain data and pure rules every layer shares: a plan's actions (`actions`), the
runtime facts the planner reads (`views`), an apply's recap (`recap`), what a probe result
means for health (`health`), and the clock (`clock`).

May import: desired_state (the spec's types), errors. Nothing that does I/O.
"""
