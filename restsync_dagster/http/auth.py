"""Runtime authenticators built from a resolved auth config.

dlt's OAuth2ClientCredentials renews a token only when its own clock says so; the server may
expire it earlier, and the refresh-token grant is not built in at all. `RenewingOAuth2` adds
both grants, renewal a margin before expiry, and `invalidate` (after a 401) that lets exactly one
thread fetch the new token while the others wait for it. Token requests go through the same
request policy and bounds as API requests (request_policy.py): only to the token URL's host,
never re-POSTed elsewhere by a redirect, within a deadline and a body size. A token endpoint that
answers 200 with an HTML page, a JSON list or `{"error": ...}` (Zoho) fails with a short error.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from dlt.common.configuration.specs.base_configuration import configspec
from dlt.common.pendulum import pendulum
from dlt.sources.helpers.rest_client.auth import (
    APIKeyAuth,
    BearerTokenAuth,
    HttpBasicAuth,
    OAuth2ClientCredentials,
)
from requests import PreparedRequest
from requests.auth import AuthBase

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import ErrorHandling
from restsync_dagster.config.redaction import protect
from restsync_dagster.config.settings import ResolvedClient
from restsync_dagster.http.bounded_body import MB, DeadlineExceeded, Limits
from restsync_dagster.http.json_body import NotJsonError, decode_json
from restsync_dagster.http.request_policy import GuardedSession, RequestPolicy, safe_url

TOKEN_ATTEMPTS = 4


class TokenEndpointError(RestsyncError):
    """The token endpoint refused or failed; the message carries no secret."""


class ApiKeyAuth(APIKeyAuth):
    """dlt's APIKeyAuth, idempotent: signing a request again (a retry) replaces the key, never adds
    a second `?key=K&key=K`."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.location in ("query", "param"):
            parts = urlsplit(request.url or "")
            kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != self.name]
            request.url = urlunsplit(parts._replace(query=urlencode(kept)))
        return super().__call__(request)


def credential_params(auth: Optional[AuthBase]) -> tuple[str, ...]:
    """The query parameters an authenticator puts a credential in (stripped on a cross-origin redirect)."""
    if isinstance(auth, APIKeyAuth) and auth.location in ("query", "param"):
        return (auth.name,)
    return ()


class TokenSession(GuardedSession):
    """The token endpoint's session: its own host only, bounded, errors naming the endpoint."""

    def __init__(self, api_name: str, token_url: str, handling: ErrorHandling) -> None:
        super().__init__(
            RequestPolicy.for_token(token_url, f"SOURCES__{api_name.upper()}__TOKEN_URL"),
            Limits(deadline=handling.deadline, max_body_bytes=int(handling.max_body_mb * MB), timeout=min(30.0, handling.timeout)),
        )
        self.api_name = api_name

    def describe(self, request: PreparedRequest) -> str:
        return f"API '{self.api_name}': token endpoint {safe_url(request.url)}"


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
                f"{self._where()} answered {response.status_code}{f' ({error})' if error else ''}; {self._check_hint()}"
            )
        payload = self._token_payload(response)
        self.access_token = str(payload["access_token"])
        protect([self.access_token])
        lifetime = self.parse_expiration_in_seconds(payload)
        # renew a margin before the server's expiry; a short-lived token gets a quarter of its life as margin
        margin = min(float(self.refresh_margin_seconds), lifetime / 4)
        self.token_expiry = pendulum.now().add(seconds=lifetime - margin)
        self.renewals += 1

    def parse_expiration_in_seconds(self, response_json: Any) -> int:
        """`expires_in` as the server sent it (a number or numeric text); anything else: the default."""
        try:
            seconds = float(response_json.get("expires_in", self.default_token_expiration))
        except (TypeError, ValueError):
            return int(self.default_token_expiration)
        return int(seconds) if seconds >= 1 else int(self.default_token_expiration)

    def _token_payload(self, response: Any) -> dict[str, Any]:
        """The token response as an object with an access_token, or a short error naming the endpoint."""
        status = response.status_code
        try:
            payload = decode_json(response.content, response.headers.get("Content-Type"))
        except NotJsonError as exc:
            what = "an HTML page (a login page?)" if exc.kind == "html" else "a body that is not JSON"
            raise TokenEndpointError(f"{self._where()} answered {status} with {what}, not a token; {self._url_hint()}") from None
        if payload is None:
            raise TokenEndpointError(f"{self._where()} answered {status} with an empty body, not a token; {self._url_hint()}")
        if not isinstance(payload, dict):
            raise TokenEndpointError(
                f"{self._where()} answered {status} with a JSON {type(payload).__name__}, not a token object; {self._url_hint()}"
            )
        if payload.get("error"):  # Zoho answers errors as 200 {"error": "invalid_code"}
            error = _short_code(payload["error"])
            raise TokenEndpointError(
                f"{self._where()} answered {status} with an error{f' ({error})' if error else ''}; {self._check_hint()}"
            )
        token = payload.get("access_token")
        if not isinstance(token, (str, int)) or isinstance(token, bool) or not str(token):
            raise TokenEndpointError(f"{self._where()} returned no access_token")
        return payload

    def _where(self) -> str:
        return f"API '{self.api_name}': token endpoint {safe_url(self.access_token_url)}"

    def _check_hint(self) -> str:
        refresh = ", refresh token" if "refresh_token" in self.access_token_request_data else ""
        variables = f" ({', '.join(self.restsync_variables)})" if self.restsync_variables else ""
        return f"check the client id, client secret{refresh} and token URL{variables}."

    def _url_hint(self) -> str:
        return f"check the token URL (SOURCES__{self.api_name.upper()}__TOKEN_URL)."

    def _post_token_request(self) -> Any:
        """POST to the token endpoint, retrying its 5xx answers and dropped connections."""
        for attempt in range(TOKEN_ATTEMPTS):
            try:
                response = self.session.post(self.access_token_url, **self.build_access_token_request())
            except DeadlineExceeded as exc:
                if attempt == TOKEN_ATTEMPTS - 1:
                    raise TokenEndpointError(f"{exc} in {TOKEN_ATTEMPTS} attempts") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == TOKEN_ATTEMPTS - 1:
                    raise TokenEndpointError(
                        f"{self._where()} unreachable after {TOKEN_ATTEMPTS} attempts ({type(exc).__name__})"
                    ) from None
            else:
                if response.status_code < 500 or attempt == TOKEN_ATTEMPTS - 1:
                    return response
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _error_code(response: Any) -> str:
    """The `error` of an OAuth2 error body, if the body is one; never the body itself."""
    try:
        payload = decode_json(response.content, response.headers.get("Content-Type"))
    except NotJsonError:
        return ""
    return _short_code(payload.get("error")) if isinstance(payload, dict) else ""


def _short_code(value: Any) -> str:
    """An error code such as `invalid_grant`; free text (which could echo a secret) is left out."""
    text = str(value) if isinstance(value, (str, int)) else ""
    return text if re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", text) else ""


def build_auth(api_name: str, client: ResolvedClient, handling: Optional[ErrorHandling] = None) -> Optional[AuthBase]:
    """The requests authenticator of a resolved client (secrets filled in); None without auth.

    `client.credential_variables` names where the credentials are set; every authenticator carries
    it as `restsync_variables` so a 401 can say which variable to fix. `handling` bounds the token
    requests (deadline, body size); the defaults of `error_handling` without it.
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
        static = ApiKeyAuth(name=auth["name"], api_key=auth["api_key"], location=auth["location"])
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
        # dlt's default session raises on 4xx with the token URL and follows any redirect; this one
        # keeps the token request on the token URL's host, bounded, and we word the errors ourselves
        session=TokenSession(api_name, auth["token_url"], handling or ErrorHandling()),
    )
