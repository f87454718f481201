"""The status page: a server-rendered dashboard (Jinja2), usable without JavaScript and
live with it (server-sent events from `/api/system/stream`)."""
