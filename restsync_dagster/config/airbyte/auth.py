"""Authenticators -> `client.auth`: OAuthAuthenticator (refresh-token or client-credentials grant),
BasicHttpAuthenticator, BearerAuthenticator, ApiKeyAuthenticator.

Credentials become `${secrets.x}` placeholders; one written literally in the manifest is never copied
into the config (replaced by a placeholder, noted). Any other authenticator is noted.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import has_jinja


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
            "token_url": context.literal_url(
                authenticator.get("token_refresh_endpoint"), "authenticator.token_refresh_endpoint", "TOKEN_URL"),
            "client_id": secret("client_id"),
            "client_secret": secret("client_secret"),
        }
        if auth["type"] == "oauth2_refresh_token":
            auth["refresh_token"] = secret("refresh_token")
        scope = " ".join(scopes) if scopes else body.get("scope")
        if scope and auth["type"] == "oauth2_client_credentials":
            auth["scope"] = context.placeholders(None, "authenticator.scopes", scope)
        elif scope:
            context.note(None, "authenticator.scopes (the refresh-token grant sends none)")
        for key in ("refresh_token_updater", "token_expiry_date", "token_expiry_date_format", "refresh_request_headers"):
            if authenticator.get(key):
                context.note(None, f"authenticator.{key}", authenticator.get(key))
        for key, usual in (("access_token_name", "access_token"), ("expires_in_name", "expires_in")):
            if authenticator.get(key, usual) != usual:
                context.note(None, f"authenticator.{key} '{authenticator[key]}' (restsync reads '{usual}')")
        extra = {k: v for k, v in body.items() if k != "scope"}
        if extra:
            context.note(None, f"authenticator.refresh_request_body {sorted(extra)} (restsync sends the standard grant fields only)")
        return auth
    if kind == "BasicHttpAuthenticator":
        return {"type": "http_basic", "username": secret("username"), "password": secret("password") or ""}
    if kind == "SelectiveAuthenticator":
        context.note(None, "SelectiveAuthenticator (chosen by config at run time): add client.auth by hand", authenticator)
        return None
    if kind == "BearerAuthenticator":
        return {"type": "bearer", "token": _token(context, authenticator)}
    if kind == "ApiKeyAuthenticator":
        option = authenticator.get("inject_into") or {}
        location = "query" if option.get("inject_into") == "request_parameter" else "header"
        if option.get("inject_into") not in (None, "request_parameter", "header"):
            context.note(None, f"authenticator.inject_into {option.get('inject_into')} (restsync sends the key as a header)")
        name = option.get("field_name") or authenticator.get("header") or "Authorization"
        return {"type": "api_key", "api_key": _token(context, authenticator), "name": name, "location": location}
    context.note(None, f"authenticator type '{kind}' has no restsync equivalent; add client.auth by hand", authenticator)
    return None


def _token(context: ImportContext, authenticator: dict[str, Any]) -> Any:
    """The key of an ApiKeyAuthenticator / BearerAuthenticator: its `api_token`; an `api_key` written
    instead (not the CDK's name) is read as it, with a line; neither: `${secrets.api_key}`, noted."""
    kind = authenticator.get("type")
    if authenticator.get("api_token") is not None:
        return secret_value(context, "api_token", authenticator.get("api_token"))
    if authenticator.get("api_key") is not None:
        context.approx(None, f"{kind}.api_key is read as its api_token (the CDK's name for the key)")
        return secret_value(context, "api_key", authenticator.get("api_key"))
    context.note(None, f"{kind} has no api_token; the config sends ${{secrets.api_key}} "
                       f"(set SOURCES__{context.name.upper()}__API_KEY)")
    return "${secrets.api_key}"


def secret_value(context: ImportContext, key: str, value: Any) -> Any:
    """A credential as a `${secrets.x}` placeholder named after the manifest's config key; a literal
    one is never copied into the config; a template restsync cannot evaluate is said so."""
    if value is None:
        return None
    value = context.placeholders(None, f"authenticator.{key}", value, secret=True)
    if not isinstance(value, str) or not value or (key == "password" and len(value) <= 1):
        return value
    if "${secrets." in value and not has_jinja(value):
        return value
    name = "api_key" if key == "api_token" else key
    if has_jinja(value):
        context.note(None, f"authenticator.{key} '{value}' is a template restsync cannot evaluate; replaced by "
                           f"${{secrets.{name}}} (set SOURCES__{context.name.upper()}__{name.upper()} to its value)")
    else:
        context.note(None, f"authenticator.{key} is written literally in the manifest; replaced by ${{secrets.{name}}} "
                           f"(set SOURCES__{context.name.upper()}__{name.upper()})")
    return "${secrets.%s}" % name
