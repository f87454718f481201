"""The `steward` command (`commands`) and its `secret` group (`secret`).

Every heavy import happens inside the command that needs it, so `steward --help` and a
no-change `steward apply` through a server load neither Flask, SQLAlchemy nor docker.
May import anything below it; nothing imports it but `app.__main__`.
"""
