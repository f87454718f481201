"""Which of several replicas acts: the lease (`lease`) and the start-up locks of
`steward serve` (`serve_locks`).

May import: store, errors.
"""
