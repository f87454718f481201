"""Schemas of the git endpoints: what a push webhook's delivery is answered."""
from __future__ import annotations

import marshmallow as ma

from app.extensions import Schema

#: A push to the followed branch, and a signed delivery about another one.
FETCHING_EXAMPLE = {"result": "fetching", "host": "github",
                    "detail": "push to main (0a1b2c3d4e5f) from github; fetching "
                              "https://git.example.com/ops/fleet.git now"}
IGNORED_EXAMPLE = {"result": "ignored", "host": "github",
                   "detail": "a push to refs/heads/feature; Steward follows refs/heads/main: "
                             "nothing to fetch"}


class WebhookResultSchema(Schema):
    result = ma.fields.String(required=True, metadata={
        "description": "fetching (a push to the followed branch: fetched now) or ignored"})
    host = ma.fields.String(required=True, metadata={
        "description": "Whose signature held: github, gitea or gitlab"})
    detail = ma.fields.String(required=True, metadata={"description": "What Steward does"})
