"""Where a request may go and what it carries: one place for API requests and token requests.

requests follows redirects to any host; it strips the Authorization header on a host change but
keeps an api key in a custom header or the query, and re-POSTs a body (client_secret,
refresh_token) on a 307/308 to wherever it points. dlt adds next links to any host. Here:

- a URL is sent only to an allowed host (the API's base_url host and client.allowed_hosts; for a
  token request, the token URL's own host), over the allowed scheme, without userinfo;
- redirects are followed here, not by requests, at most `max_redirects` of them and never in a
  loop; each target is checked like a next link;
- a redirect to another origin carries no credential at all: only harmless headers, no body, no
  api key in the query; a same-origin redirect is signed again;
- `GuardedSession.send` reads each body within the request's deadline and size limit
  (bounded_body.py), redirects included, before anyone sees the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.http.bounded_body import (
    GuardedAdapter,
    Limits,
    deadline_exceeded,
    guarded,
    read_body,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# what a request may carry to another origin: nothing that could be a credential
SAFE_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Accept-Language")


class UnsafeUrlError(RestsyncError):
    """A URL (a next link, a redirect) points outside the allowed hosts or carries credentials."""


class RedirectError(RestsyncError):
    """Too many redirects, a redirect loop, or a redirect that would carry a body elsewhere."""


def host_key(url: str) -> str:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return f"{(parts.hostname or '').lower()}:{parts.port or default_port}"


def origin(url: Optional[str]) -> str:
    """scheme://host:port, the unit credentials belong to."""
    return f"{urlsplit(url or '').scheme}://{host_key(url or '')}"


def safe_url(url: Optional[str]) -> str:
    """scheme://host[:port]/path: no userinfo, no query (it can carry an api key)."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass(frozen=True)
class RequestPolicy:
    """The hosts and scheme a session may reach, and what to tell the user when a URL is refused."""

    hosts: frozenset[str]
    schemes: frozenset[str]
    refused_hint: str  # what to do when a URL is refused
    credential_params: tuple[str, ...] = ()  # query parameters that carry a credential (api key)
    max_redirects: int = 10

    @classmethod
    def for_api(cls, base_url: str, allowed_hosts: tuple[str, ...], credential_params: tuple[str, ...] = ()) -> "RequestPolicy":
        hosts = {host_key(base_url)} | {host_key(h if "://" in h else f"https://{h}") for h in allowed_hosts}
        return cls(
            hosts=frozenset(hosts),
            schemes=frozenset({urlsplit(base_url).scheme}),
            refused_hint="if the API really serves pages from there, add it to client.allowed_hosts",
            credential_params=credential_params,
        )

    @classmethod
    def for_token(cls, token_url: str, variable: str) -> "RequestPolicy":
        return cls(
            hosts=frozenset({host_key(token_url)}),
            schemes=frozenset({urlsplit(token_url).scheme}),
            refused_hint=(
                "a token request (client secret, refresh token) goes only to the token URL's own host; "
                f"set the token URL to where the endpoint really is ({variable})"
            ),
        )

    def check(self, url: str, label: str, redirected: bool = False) -> None:
        """Refuse a URL with userinfo, or off the allowed hosts and scheme."""
        parts = urlsplit(url)
        via = "was redirected to a URL" if redirected else "refused a URL"
        if parts.username is not None or parts.password is not None:
            raise UnsafeUrlError(
                f"{label}: {via} carrying userinfo (host {parts.hostname}); refused: a link must not smuggle credentials"
            )
        if parts.scheme not in self.schemes or host_key(url) not in self.hosts:
            target = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
            lead = (
                f"was redirected to {target}, which is not an allowed host; not followed, credentials never go there"
                if redirected
                else f"refused to send credentials to {target}, which is not an allowed host"
            )
            raise UnsafeUrlError(f"{label}: {lead}; {self.refused_hint}")

    def redirect(
        self, current: requests.PreparedRequest, response: requests.Response, location: str,
        hops: int, seen: set[str], label: str, sign: Optional[Callable[[requests.PreparedRequest], Any]],
    ) -> requests.PreparedRequest:
        """The request to send for this redirect, or an error saying why it is not followed."""
        target = _absolute(current.url or "", location)
        if hops > self.max_redirects:
            raise RedirectError(
                f"{label}: more than {self.max_redirects} redirects (the last to {urlsplit(target).path or '/'}); "
                "check client.base_url and the endpoint path"
            )
        if target in seen:
            raise RedirectError(
                f"{label}: redirect loop ({urlsplit(target).path or '/'} again after {hops} redirect(s)); "
                "check client.base_url and the endpoint path"
            )
        seen.add(target)
        self.check(target, label, redirected=True)
        following = current.copy()
        following.url = target
        _rebuild_method(following, response.status_code)
        if origin(target) != origin(current.url):
            if following.body:
                raise RedirectError(
                    f"{label}: answered {response.status_code} to another origin ({origin(target)}) asking to "
                    "send the request body again there; refused, the body may carry credentials"
                )
            following.headers = CaseInsensitiveDict({k: v for k, v in current.headers.items() if k in SAFE_HEADERS})
            following.url = self.without_credentials(target)
        elif sign is not None:
            sign(following)
        return following

    def without_credentials(self, url: str) -> str:
        """The URL without the query parameters that carry a credential."""
        if not self.credential_params:
            return url
        parts = urlsplit(url)
        params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in self.credential_params]
        return urlunsplit(parts._replace(query=urlencode(params)))


def _absolute(base: str, location: str) -> str:
    if location.startswith("//"):
        location = f"{urlsplit(base).scheme}:{location}"
    return requote_uri(urljoin(base, location)).split("#", 1)[0]


def _rebuild_method(request: requests.PreparedRequest, status: int) -> None:
    """RFC 9110 as browsers do it: 303 becomes GET, and 301/302 turn a POST into a GET; 307/308 keep both."""
    method = request.method or "GET"
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        request.method = "GET"
        request.body = None
        for header in ("Content-Length", "Content-Type", "Transfer-Encoding"):
            request.headers.pop(header, None)


class GuardedSession(requests.Session):
    """A requests session that sends only where its policy allows and reads bounded bodies."""

    def __init__(self, policy: RequestPolicy, limits: Limits, pool_size: int = 4) -> None:
        super().__init__()
        self.policy = policy
        self.limits = limits
        self.trust_env = False  # no ~/.netrc credentials or proxies sneaking in
        adapter = GuardedAdapter(pool_connections=4, pool_maxsize=pool_size)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def describe(self, request: requests.PreparedRequest) -> str:
        """How errors name this request: never with its query."""
        return f"{request.method} {safe_url(request.url)}"

    def get_redirect_target(self, resp: requests.Response) -> Optional[str]:
        # requests would otherwise read a redirect's whole body (unbounded) to prepare `response.next`
        return None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        label = self.describe(request)
        self.policy.check(request.url or "", label)
        options = {k: kwargs[k] for k in ("verify", "cert", "proxies") if k in kwargs}
        timeout = kwargs.get("timeout") or self.limits.timeout
        seen = {request.url or ""}
        current, hops = request, 0
        with guarded(self.limits.deadline) as guard:
            try:
                while True:
                    response = super().send(current, allow_redirects=False, stream=True, timeout=timeout, **options)
                    location = response.headers.get("Location")
                    if response.status_code not in REDIRECT_STATUSES or not location:
                        break
                    read_body(response, self.limits, guard, label)  # drained, so the connection is reused
                    hops += 1
                    self._redirected(hops)
                    current = self.policy.redirect(current, response, location, hops, seen, label, self.auth)
            except requests.RequestException:
                if guard.expired:
                    raise deadline_exceeded(self.limits, label) from None
                raise
            read_body(response, self.limits, guard, label)
        return response

    def _redirected(self, hops: int) -> None:
        """Called before each redirect is followed (ApiSession counts it as a request)."""
