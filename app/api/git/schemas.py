"""Schemas of the git endpoints: what a push webhook's delivery is answered."""
from __future__ import annotations

import marshmallow as ma

from app.extensions import Schema


class WebhookResultSchema(Schema):
    result = ma.fields.String(required=True, metadata={
        "description": "fetching (a push to the followed branch: fetched now) or ignored"})
    host = ma.fields.String(required=True, metadata={
        "description": "Whose signature held: github, gitea or gitlab"})
    detail = ma.fields.String(required=True, metadata={"description": "What Steward does"})
