"""The `client.auth` models: the authenticators a config may name by `type`.

Only what the user writes and pydantic checks; `http.auth` builds the authenticator from them.
Kept apart from `model` so a new auth type is one class here and one member of `AuthConfig`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from restsync_dagster.config.strict_model import StrictModel

class BearerAuth(StrictModel):
    type: Literal["bearer"]
    token: str


class HttpBasicAuth(StrictModel):
    type: Literal["http_basic"]
    username: str
    password: str = ""


class ApiKeyAuth(StrictModel):
    type: Literal["api_key"]
    api_key: str
    name: str = "Authorization"
    location: Literal["header", "query"] = "header"


class OAuth2ClientCredentialsAuth(StrictModel):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str
    scope: Optional[str] = None


class OAuth2RefreshTokenAuth(StrictModel):
    type: Literal["oauth2_refresh_token"]
    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str


AuthConfig = Annotated[
    Union[BearerAuth, HttpBasicAuth, ApiKeyAuth, OAuth2ClientCredentialsAuth, OAuth2RefreshTokenAuth],
    Field(discriminator="type"),
]
