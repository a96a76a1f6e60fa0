"""Runtime authenticators built from a resolved auth config.

dlt's OAuth2ClientCredentials renews a token only when its own clock says so; the server may
expire it earlier, and the refresh-token grant is not built in at all. `RenewingOAuth2` adds
both grants, renewal a margin before expiry, and `invalidate` (after a 401) that lets exactly one
thread fetch the new token while the others wait for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional
from urllib.parse import urlsplit

from dlt.common.configuration.specs.base_configuration import configspec
from dlt.common.pendulum import pendulum
from dlt.sources.helpers.rest_client.auth import (
    APIKeyAuth,
    BearerTokenAuth,
    HttpBasicAuth,
    OAuth2ClientCredentials,
)
import requests
from requests import PreparedRequest, Session
from requests.auth import AuthBase

from restsync_dagster.errors import RestsyncError
from restsync_dagster.redaction import protect
from restsync_dagster.settings import ResolvedClient

TOKEN_ATTEMPTS = 4


class TokenEndpointError(RestsyncError):
    """The token endpoint refused or failed; the message carries no secret."""


@configspec
class RenewingOAuth2(OAuth2ClientCredentials):
    """OAuth2 client-credentials or refresh-token grant, renewed before expiry and after a 401."""

    api_name: str = "api"
    refresh_margin_seconds: int = 30
    # where the user sets the credentials, for error messages (e.g. SOURCES__X__CLIENT_SECRET)
    restsync_variables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self._lock = threading.Lock()
        self.renewals = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> "RenewingOAuth2":
        # dlt deep-copies configs to validate them; one live token holder must serve every copy.
        return self

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return request

    def current_token(self) -> str:
        with self._lock:
            if self.access_token is None or self.is_token_expired():
                self.obtain_token()
            return str(self.access_token)

    def invalidate(self, rejected_header: Optional[str]) -> bool:
        """Drop the token a 401 rejected, unless another thread already replaced it.

        True when this call dropped it: several requests in flight with one expired token (child
        threads, read-ahead) all get a 401, and only the first one renews.
        """
        with self._lock:
            if rejected_header is None or rejected_header == f"Bearer {self.access_token}":
                dropped = self.access_token is not None
                self.access_token = None
                return dropped
            return False

    def close(self) -> None:
        """Release the token endpoint's connections when the run is over."""
        self.session.close()

    def obtain_token(self) -> None:
        response = self._post_token_request()
        if response.status_code >= 400:
            error = _error_code(response)
            raise TokenEndpointError(
                f"API '{self.api_name}': token endpoint {_safe_url(self.access_token_url)} answered "
                f"{response.status_code}{f' ({error})' if error else ''}; check the client id, client "
                f"secret{', refresh token' if 'refresh_token' in self.access_token_request_data else ''} and token URL"
                + (f" ({', '.join(self.restsync_variables)})" if self.restsync_variables else "")
                + "."
            )
        payload = response.json()
        if not payload.get("access_token"):
            raise TokenEndpointError(
                f"API '{self.api_name}': token endpoint {_safe_url(self.access_token_url)} returned no access_token"
            )
        self.access_token = str(payload["access_token"])
        protect([self.access_token])
        lifetime = self.parse_expiration_in_seconds(payload)
        # renew a margin before the server's expiry; a short-lived token gets a quarter of its life as margin
        margin = min(float(self.refresh_margin_seconds), lifetime / 4)
        self.token_expiry = pendulum.now().add(seconds=lifetime - margin)
        self.renewals += 1


    def _post_token_request(self) -> Any:
        """POST to the token endpoint, retrying its 5xx answers and dropped connections."""
        for attempt in range(TOKEN_ATTEMPTS):
            try:
                response = self.session.post(self.access_token_url, timeout=30, **self.build_access_token_request())
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == TOKEN_ATTEMPTS - 1:
                    raise TokenEndpointError(
                        f"API '{self.api_name}': token endpoint {_safe_url(self.access_token_url)} unreachable "
                        f"after {TOKEN_ATTEMPTS} attempts ({type(exc).__name__})"
                    ) from None
            else:
                if response.status_code < 500 or attempt == TOKEN_ATTEMPTS - 1:
                    return response
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _error_code(response: Any) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


def _safe_url(url: str) -> str:
    """Scheme, host and path only: no userinfo, no query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def build_auth(api_name: str, client: ResolvedClient) -> Optional[AuthBase]:
    """The requests authenticator of a resolved client (secrets filled in); None without auth.

    `client.credential_variables` names where the credentials are set; every authenticator carries
    it as `restsync_variables` so a 401 can say which variable to fix.
    """
    auth, variables = client.auth, client.credential_variables
    if auth is None:
        return None
    kind = auth["type"]
    static: Optional[AuthBase] = None
    if kind == "bearer":
        static = BearerTokenAuth(token=auth["token"])
    elif kind == "http_basic":
        static = HttpBasicAuth(username=auth["username"], password=auth.get("password", ""))
    elif kind == "api_key":
        static = APIKeyAuth(name=auth["name"], api_key=auth["api_key"], location=auth["location"])
    if static is not None:
        static.restsync_variables = variables  # type: ignore[attr-defined]
        return static
    request_data: dict[str, Any] = {}
    if kind == "oauth2_refresh_token":
        request_data = {"grant_type": "refresh_token", "refresh_token": auth["refresh_token"]}
    elif auth.get("scope"):
        request_data = {"scope": auth["scope"]}
    return RenewingOAuth2(
        access_token_url=auth["token_url"],
        client_id=auth["client_id"],
        client_secret=auth["client_secret"],
        access_token_request_data=request_data,
        api_name=api_name,
        restsync_variables=variables,
        # a plain session: dlt's default raises on 4xx with the token URL; we word the error ourselves
        session=Session(),
    )
