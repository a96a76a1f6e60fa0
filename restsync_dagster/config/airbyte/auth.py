"""Authenticators -> `client.auth`: OAuthAuthenticator (refresh-token or client-credentials grant),
BasicHttpAuthenticator, BearerAuthenticator, ApiKeyAuthenticator.

Credentials become `${secrets.x}` placeholders; one written literally in the manifest is never copied
into the config (replaced by a placeholder, noted). Any other authenticator is noted.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import placeholders


def map_auth(context: ImportContext, authenticator: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The `client.auth` of an authenticator, or None (noted) when restsync has no equivalent."""
    kind = authenticator.get("type")
    def secret(key: str) -> Any:
        return secret_value(context, key, authenticator.get(key))

    if kind == "OAuthAuthenticator":
        grant = authenticator.get("grant_type", "refresh_token")
        scopes = authenticator.get("scopes") or []
        body = authenticator.get("refresh_request_body") or {}
        auth: dict[str, Any] = {
            "type": "oauth2_client_credentials" if grant == "client_credentials" else "oauth2_refresh_token",
            "token_url": context.literal_url(authenticator.get("token_refresh_endpoint")),
            "client_id": secret("client_id"),
            "client_secret": secret("client_secret"),
        }
        if auth["type"] == "oauth2_refresh_token":
            auth["refresh_token"] = secret("refresh_token")
        scope = " ".join(scopes) if scopes else body.get("scope")
        if scope and auth["type"] == "oauth2_client_credentials":
            auth["scope"] = placeholders(scope, secret=False)
        elif scope:
            context.note(None, "authenticator.scopes (the refresh-token grant sends none)")
        for key in ("refresh_token_updater", "token_expiry_date", "access_token_name", "expires_in_name"):
            if key in authenticator:
                context.note(None, f"authenticator.{key}")
        return auth
    if kind == "BasicHttpAuthenticator":
        return {"type": "http_basic", "username": secret("username"), "password": secret("password") or ""}
    if kind == "BearerAuthenticator":
        return {"type": "bearer", "token": secret("api_token")}
    if kind == "ApiKeyAuthenticator":
        option = authenticator.get("inject_into") or {}
        location = "query" if option.get("inject_into") == "request_parameter" else "header"
        name = option.get("field_name") or authenticator.get("header") or "Authorization"
        return {"type": "api_key", "api_key": secret("api_token"), "name": name, "location": location}
    context.note(None, f"authenticator type '{kind}' has no restsync equivalent; add client.auth by hand")
    return None


def secret_value(context: ImportContext, key: str, value: Any) -> Any:
    """A credential as a `${secrets.x}` placeholder; a literal one is never copied into the config."""
    value = placeholders(value, secret=True)
    if not isinstance(value, str) or not value or "${secrets." in value or (key == "password" and len(value) <= 1):
        return value
    name = "api_key" if key == "api_token" else key
    context.note(None, f"authenticator.{key} is written literally in the manifest; replaced by ${{secrets.{name}}} "
                    f"(set SOURCES__{context.name.upper()}__{name.upper()})")
    return "${secrets.%s}" % name
