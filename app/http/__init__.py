"""The HTTP edge, before and after every route: the Host and body guard, the refusal
rate limit, security headers, and serving with waitress.

May import: auth, extensions, errors.
"""
