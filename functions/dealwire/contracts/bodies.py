"""The base of every HTTP API body: camelCase on the wire, frozen; a request refuses unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    """An answer's body."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Request(BaseModel):
    """A request's body: a misspelt field is a 400 naming it, not a default silently taken."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")
