"""Small helpers that know nothing of Steward: the background worker every thread owner
uses (`worker`).

May import: the standard library only. Everything may import it.
"""
