"""Who is asking and what they may do: named tokens with roles (`tokens`), the check
before every request and the page's signed sessions (`access`), and CSRF tokens for forms
and cookie-authenticated API calls (`csrf`).

May import: operations (the current Steward, for the audit trail), store, errors, extensions.
"""
