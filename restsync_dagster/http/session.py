"""The HTTP session every resource uses: retries, token renewal, host allowlist, statistics.

dlt's retrying session resends a request exactly as first signed (a stale token after a long
Retry-After wait) and follows next links to any host with the credentials attached. This session
re-signs every attempt with the current credentials, renews an OAuth2 token once on a 401, refuses
URLs and redirects outside the API's hosts (request_policy.py), bounds every answer in time and
size (bounded_body.py), parses bodies as real servers send them (json_body.py), and fails with a
message naming API, resource, path and status.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import requests
from requests.hooks import default_hooks, dispatch_hook

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import ErrorHandling
from restsync_dagster.http.auth import RenewingOAuth2, credential_params
from restsync_dagster.http.bounded_body import MB, DeadlineExceeded, Limits
from restsync_dagster.http.json_body import NotJsonError, decode_json, is_empty
from restsync_dagster.http.ratelimit import RequestBudget
from restsync_dagster.http.readahead import ReadAhead
from restsync_dagster.http.replay import ResponseReplay
from restsync_dagster.http.request_policy import (
    GuardedSession,
    RequestPolicy,
    UnsafeUrlError,
    host_key,
)

__all__ = ["ApiRequestError", "ApiResponseError", "ApiSession", "RequestStats", "UnsafeUrlError", "host_key"]

log = logging.getLogger("restsync_dagster.http.session")
# called once per page answered, from any session of the process (the CLI's progress line)
page_listeners: list[Callable[[], None]] = []


class ApiRequestError(requests.HTTPError, RestsyncError):
    """A request failed for good; says which API, resource, path and status, never a secret."""


class ApiResponseError(RestsyncError):
    """A success status with a body that is not JSON (an HTML error page, a truncated body)."""


@dataclass
class RequestStats:
    """Counts one resource's HTTP work, for asset metadata."""

    requests: int = 0
    pages: int = 0  # successful answers, each one page of records
    pages_read_ahead: int = 0  # of those, fetched ahead of the paginator (readahead.py)
    retries: int = 0
    ignored: int = 0
    token_renewals: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "pages": self.pages,
            "pages_read_ahead": self.pages_read_ahead,
            "retries": self.retries,
            "ignored": self.ignored,
            "token_renewals": self.token_renewals,
        }


class ApiSession(GuardedSession):
    """A requests session bound to one API resource: its auth, error handling and allowed hosts."""

    def __init__(
        self,
        api_name: str,
        resource_name: str,
        base_url: str,
        auth: Optional[requests.auth.AuthBase],
        handling: ErrorHandling,
        allowed_hosts: tuple[str, ...] = (),
        pool_size: int = 16,
        budget: Optional[RequestBudget] = None,
        read_ahead_pages: int = 0,
        replay: Optional[ResponseReplay] = None,
    ) -> None:
        super().__init__(
            RequestPolicy.for_api(base_url, allowed_hosts, credential_params(auth)),
            Limits(deadline=handling.deadline, max_body_bytes=int(handling.max_body_mb * MB), timeout=handling.timeout),
            pool_size=pool_size,
        )
        self.read_ahead = ReadAhead(read_ahead_pages, thread_name=f"{api_name}.{resource_name}.read-ahead")
        self.budget = budget  # the API's shared request budget (client.rate_limit), or None
        self.api_name = api_name
        self.resource_name = resource_name
        self.auth = auth
        self.handling = handling
        self.stats = RequestStats()
        self.replay = replay  # the run's answers of an earlier attempt of this phase (replay.py)
        self.headers["User-Agent"] = "restsync-dagster (dlt)"

    def __deepcopy__(self, memo: dict[int, Any]) -> "ApiSession":
        # dlt deep-copies the source config to validate it; the copy must not open new pools.
        return self

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.policy.check(request.url or "", f"{self.api_name}.{self.resource_name}")
        hooks = request.hooks
        request.hooks = default_hooks()
        kwargs.setdefault("timeout", self.handling.timeout)
        response = self.read_ahead.fetch(request, lambda prepared: self._replayed_or_sent(prepared, kwargs))
        request.hooks = hooks
        if response.status_code in self.handling.ignore_statuses:
            self.stats.add(ignored=1)
            log.warning(
                "%s.%s: %s %s answered %s, ignored as configured",
                self.api_name, self.resource_name, request.method, _path(request.url), response.status_code,
            )
        elif response.status_code >= 400:
            raise self._failure(request, response)
        elif response.status_code >= 300:
            raise ApiRequestError(
                f"{self._where(request)} answered {response.status_code} without a Location to follow; "
                "check client.base_url and the endpoint path",
                response=response,
            )
        else:
            self._parse_once(request, response)
            if self.replay is not None and not getattr(response, "replayed", False):
                self.replay.keep(request, response)
            self.stats.add(pages=1, pages_read_ahead=int(getattr(response, "read_ahead", False)))
            for listener in page_listeners:
                listener()
        return dispatch_hook("response", hooks, response, **kwargs)

    def close(self) -> None:
        self.read_ahead.close()
        super().close()

    def _parse_once(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Fail clearly on a body that is not JSON, and parse each body once.

        dlt would raise a bare JSONDecodeError deep in its extractor; here the error names the API,
        resource and path. The parsed body replaces `response.json` on this one response object, so
        the paginator and the data selector do not decode it again. An empty body (204, 205, or a
        2xx with nothing or only whitespace) parses as None and marks the response `restsync_empty`.
        """
        content = response.content
        kind = response.headers.get("Content-Type")
        try:
            payload = decode_json(content, kind)
        except NotJsonError as exc:
            facts = f"{kind or 'no content type'}, {len(content)} bytes"
            raise ApiResponseError(
                f"{self._where(request)} answered {response.status_code} with a body that is not valid JSON"
                + (
                    f": an HTML page ({facts}), perhaps a login or maintenance page; check client.base_url and the credentials"
                    if exc.kind == "html"
                    else f" ({facts})"
                )
                + "; nothing of this response was loaded"
            ) from None
        response.restsync_empty = is_empty(content)  # type: ignore[attr-defined]
        response.json = lambda **_: payload  # type: ignore[method-assign]

    def _replayed_or_sent(self, request: requests.PreparedRequest, kwargs: dict[str, Any]) -> requests.Response:
        replayed = self.replay.answer(request) if self.replay is not None else None
        return replayed if replayed is not None else self._send_with_retries(request, kwargs)

    def _send_with_retries(self, request: requests.PreparedRequest, kwargs: dict[str, Any]) -> requests.Response:
        attempt = 0
        renewed = False
        while True:
            self.stats.add(requests=1)
            if self.budget is not None:
                self.budget.acquire()
            try:
                response = super().send(request, **kwargs)
            except DeadlineExceeded as exc:
                if attempt >= self.handling.max_retries:
                    raise ApiRequestError(
                        f"{exc} after {attempt + 1} attempt(s); if the API is really this slow, raise error_handling.deadline"
                    ) from None
                self._sleep(self._backoff(attempt))
                attempt += 1
                self.stats.add(retries=1)
                self._resign(request)
                continue
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.handling.max_retries:
                    raise ApiRequestError(
                        f"{self._where(request)}: host {_origin(request.url)} did not answer after {attempt + 1} "
                        f"attempt(s) ({_network_reason(exc)}); check client.base_url "
                        f"(or SOURCES__{self.api_name.upper()}__BASE_URL) and that the API is reachable"
                    ) from None
                self._sleep(self._backoff(attempt))
                attempt += 1
                self._resign(request)
                continue
            if response.status_code == 401 and isinstance(self.auth, RenewingOAuth2) and not renewed:
                response.close()
                if self.auth.invalidate(request.headers.get("Authorization")):
                    self.stats.add(token_renewals=1)
                renewed = True
                self._resign(request)
                continue
            if response.status_code in self.handling.retry_statuses and attempt < self.handling.max_retries:
                wait = self._retry_after(response)
                if wait is not None and wait > self.handling.max_retry_wait:
                    raise ApiRequestError(
                        f"{self._where(request)} answered {response.status_code} with Retry-After of {wait:.0f}s, "
                        f"longer than error_handling.max_retry_wait ({self.handling.max_retry_wait:.0f}s)",
                        response=response,
                    )
                response.close()
                self._sleep(wait if wait is not None else self._backoff(attempt))
                attempt += 1
                self.stats.add(retries=1)
                self._resign(request)
                continue
            response.attempts = attempt + 1  # type: ignore[attr-defined]
            return response

    def _resign(self, request: requests.PreparedRequest) -> None:
        """Sign again with the current credentials: a token may have been renewed meanwhile."""
        if self.auth is not None:
            request.headers.pop("Authorization", None)
            self.auth(request)

    def _backoff(self, attempt: int) -> float:
        base = self.handling.backoff_factor * (2**attempt)
        return min(base + random.uniform(0, base / 4), self.handling.max_retry_wait)

    @staticmethod
    def _retry_after(response: requests.Response) -> Optional[float]:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())

    @staticmethod
    def _sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def describe(self, request: requests.PreparedRequest) -> str:
        return self._where(request)

    def _redirected(self, hops: int) -> None:
        """A followed redirect is one more request: counted, and paced by the API's budget."""
        self.stats.add(requests=1)
        if self.budget is not None:
            self.budget.acquire()

    def _where(self, request: requests.PreparedRequest) -> str:
        return f"API '{self.api_name}', resource '{self.resource_name}': {request.method} {_path(request.url)}"

    def _failure(self, request: requests.PreparedRequest, response: requests.Response) -> ApiRequestError:
        attempts = getattr(response, "attempts", 1)
        variables = getattr(self.auth, "restsync_variables", None)
        hint = {
            401: "the API refused the credentials; check "
            + (", ".join(variables) if variables else f"the SOURCES__{self.api_name.upper()}__... secrets"),
            403: "the credentials lack permission; add 403 to error_handling.ignore_statuses to skip such requests",
            404: "the path does not exist; check endpoint.path",
        }.get(response.status_code, "")
        return ApiRequestError(
            f"{self._where(request)} answered {response.status_code} {response.reason or ''}".rstrip()
            + (f" after {attempts} attempt(s)" if attempts > 1 else "")
            + (f"; {hint}" if hint else ""),
            response=response,
        )


def _origin(url: Optional[str]) -> str:
    """scheme://host[:port], without userinfo."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _network_reason(exc: Exception) -> str:
    """A short, secret-free reason: the exception type and, for refused connections, that word."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset", "RemoteDisconnected"):
        if marker in text:
            return f"{type(exc).__name__}: {marker}"
    return type(exc).__name__


def _path(url: Optional[str]) -> str:
    """Only the path: query strings can carry tokens or api keys."""
    return urlsplit(url or "").path or "/"
