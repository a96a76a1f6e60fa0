"""A hostile server: redirects off the API's host, bodies as real servers send them, bodies that
never end, trickle or explode when decoded, token endpoints that answer errors with 200.

Two real servers on 127.0.0.1: the API, and an "other host" on another port whose request log
must stay empty wherever credentials could leak. The engine runs for real (parse_api_config ->
dagster materialize -> DuckDB), or ApiSession directly for the low-level bounds.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.config.model import ApiConfig, ErrorHandling
from restsync_dagster.config.settings import ResolvedClient
from restsync_dagster.http.auth import TokenEndpointError, build_auth
from restsync_dagster.http.request_policy import UnsafeUrlError
from restsync_dagster.http.session import ApiResponseError, ApiSession
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.helpers import run_assets, table_rows
from restsync_dagster_tests.support.paths import PROJECT_ROOT

TOKEN, API_KEY, CLIENT_SECRET, REFRESH = "tok-SECRET-1", "key-SECRET-2", "cs-SECRET-3", "rt-SECRET-4"
SECRETS = (TOKEN, API_KEY, CLIENT_SECRET, REFRESH)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Route = Callable[["Handler", Seen], None]


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.log: list[Seen] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def raw_log(self) -> str:
        """Everything this server received, as text: to grep for secrets."""
        return repr(self.log)


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length))
        self.server.log.append(seen)
        route = self.server.routes.get(parts.path)
        if route is None:
            reply(self, 404, b'{"error": "not found"}')
        else:
            route(self, seen)

    do_GET = do_POST = _any

    def log_message(self, *args: Any) -> None:
        pass


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", content_type: Optional[str] = "application/json", **headers: str) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def page(*names: str) -> bytes:
    return json.dumps({"data": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}).encode()


def answer(body: bytes = page("a", "b"), content_type: Optional[str] = "application/json", status: int = 200, **headers: str) -> Route:
    return lambda h, _: reply(h, status, body, content_type, **headers)


def redirect(status: int, location: Callable[[], str]) -> Route:
    return lambda h, _: reply(h, status, b"", None, Location=location())


def serving() -> Iterator[Server]:
    server = Server()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api() -> Iterator[Server]:
    yield from serving()


@pytest.fixture
def other() -> Iterator[Server]:
    """The "other host": another port is another origin; what it receives is what leaked."""
    yield from serving()


def config(base_url: str, paths: dict[str, str], auth: Optional[dict[str, Any]] = None, **client: Any) -> ApiConfig:
    raw: dict[str, Any] = {
        "name": "hostile",
        "client": {"base_url": base_url, "read_ahead_pages": 0, **client, **({"auth": auth} if auth else {})},
        "error_handling": {"max_retries": 0, "backoff_factor": 0},
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "replace",
            "endpoint": {"data_selector": "data", "paginator": {"type": "single_page"}},
        },
        "resources": [{"name": name, "endpoint": {"path": path}} for name, path in paths.items()],
    }
    return parse_api_config(raw, source_file="hostile.yaml")


AUTHS: dict[str, dict[str, Any]] = {
    "bearer": {"type": "bearer", "token": "${secrets.token}"},
    "http_basic": {"type": "http_basic", "username": "${secrets.token}", "password": "${secrets.api_key}"},
    "api_key_header": {"type": "api_key", "name": "X-Api-Key", "api_key": "${secrets.api_key}"},
    "api_key_query": {"type": "api_key", "name": "key", "api_key": "${secrets.api_key}", "location": "query"},
}


@pytest.fixture
def secrets_env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCES__HOSTILE__TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES__HOSTILE__API_KEY", API_KEY)
    return workdir


def carries_secret(seen: Seen) -> bool:
    """Any secret anywhere in what the server received: URL, headers, body, a basic-auth pair."""
    import base64

    text = repr(seen)
    authorization = seen.headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        text += base64.b64decode(authorization[6:]).decode(errors="replace")
    return any(secret in text for secret in SECRETS)


# --- where a request may go -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_off_the_allowed_hosts_is_refused_and_the_other_host_sees_nothing(
    secrets_env: Path, api: Server, other: Server, status: int
) -> None:
    api.routes["/v1/items"] = redirect(status, lambda: f"{other.url}/steal?x=1")
    result = run_assets(config(api.url, {"items": "/v1/items"}, AUTHS["bearer"]), raise_on_error=False)
    text = failure_text(result)
    assert f"API 'hostile', resource 'items': GET /v1/items: was redirected to {other.url}, which is not an allowed host" in text
    assert "client.allowed_hosts" in text and TOKEN not in text
    assert other.log == []


@pytest.mark.parametrize("auth", sorted(AUTHS))
def test_a_redirect_to_an_allowed_host_is_followed_without_any_credential(
    secrets_env: Path, api: Server, other: Server, auth: str
) -> None:
    # the usual redirect keeps the query it was asked with: with an api key in it, the key too
    api.routes["/v1/items"] = lambda h, s: reply(
        h, 307, b"", None, Location=f"{other.url}/cdn/items?sig=abc" + "".join(f"&{k}={v[0]}" for k, v in s.query.items())
    )
    other.routes["/cdn/items"] = answer(page("from-cdn"))
    host = other.url.split("//")[1]
    assert run_assets(config(api.url, {"items": "/v1/items"}, AUTHS[auth], allowed_hosts=[host])).success
    assert table_rows("hostile", "items", "id, name") == [(1, "from-cdn")]
    assert carries_secret(api.log[0]) and len(other.log) == 1
    assert not carries_secret(other.log[0]), other.log[0]
    assert other.log[0].query == {"sig": ["abc"]}


def test_a_same_origin_redirect_is_followed_and_signed(secrets_env: Path, api: Server) -> None:
    api.routes["/v1/old"] = redirect(301, lambda: "/v1/items")
    api.routes["/v1/items"] = answer(page("moved"))
    assert run_assets(config(api.url, {"items": "/v1/old"}, AUTHS["api_key_query"])).success
    assert table_rows("hostile", "items", "name") == [("moved",)]
    assert [(s.path, s.query) for s in api.log] == [("/v1/old", {"key": [API_KEY]}), ("/v1/items", {"key": [API_KEY]})]


def test_a_redirect_loop_and_endless_redirects_name_api_resource_and_path(secrets_env: Path, api: Server) -> None:
    api.routes["/v1/loop"] = redirect(302, lambda: "/v1/loop")
    hops = iter(range(1000))
    for n in range(1000):
        api.routes[f"/v1/chain/{n}"] = redirect(302, lambda: f"/v1/chain/{next(hops) + 1}")
    text = failure_text(run_assets(config(api.url, {"loop": "/v1/loop", "chain": "/v1/chain/0"}), raise_on_error=False))
    assert "API 'hostile', resource 'loop': GET /v1/loop: redirect loop (/v1/loop again" in text
    assert "API 'hostile', resource 'chain': GET /v1/chain/0: more than 10 redirects" in text
    assert "not valid JSON" not in text
    assert len([s for s in api.log if s.path.startswith("/v1/chain")]) == 11


def test_the_api_key_in_the_query_is_sent_once_on_every_retry(secrets_env: Path, api: Server) -> None:
    answers = iter([503, 503, 200])
    api.routes["/v1/items"] = lambda h, _: reply(h, next(answers), page("x"))
    cfg = config(api.url, {"items": "/v1/items"}, AUTHS["api_key_query"])
    cfg = cfg.model_copy(update={"error_handling": cfg.error_handling.model_copy(update={"max_retries": 3})})
    assert run_assets(cfg).success
    assert [s.query for s in api.log] == [{"key": [API_KEY]}] * 3


# --- bodies as real servers send them --------------------------------------------------------------

NAME = "Zoë Ångström"
BODY = json.dumps({"data": [{"id": 1, "name": NAME}]}, ensure_ascii=False)
BODIES: dict[str, Route] = {
    "gzip": answer(gzip.compress(BODY.encode()), Content_Encoding="gzip"),
    "deflate": answer(zlib.compress(BODY.encode()), Content_Encoding="deflate"),
    "latin1_declared_over_utf8": answer(BODY.encode(), "application/json; charset=ISO-8859-1"),
    "latin1_really": answer(BODY.encode("latin-1"), "application/json; charset=iso-8859-1"),
    "bom_under_utf8": answer(b"\xef\xbb\xbf" + BODY.encode(), "application/json; charset=utf-8"),
    "utf16_with_bom": answer(BODY.encode("utf-16"), "application/json"),
    "json_as_html": answer(BODY.encode(), "text/html; charset=utf-8"),
    "json_as_text": answer(BODY.encode(), "text/plain"),
    "no_content_type": answer(BODY.encode(), None),
    "whitespace_around": answer(b"\r\n  " + BODY.encode() + b"\n\n", "application/json"),
}


def test_bodies_as_real_servers_send_them_are_all_loaded(workdir: Path, api: Server) -> None:
    for name, route in BODIES.items():
        api.routes[f"/v1/{name}"] = route
    assert run_assets(config(api.url, {name: f"/v1/{name}" for name in BODIES})).success
    for name in BODIES:
        assert table_rows("hostile", name, "id, name") == [(1, NAME)], name


@pytest.mark.parametrize("status, body", [(204, b""), (205, b""), (200, b""), (200, b" \r\n\t"), (202, b"")])
def test_an_empty_success_body_parses_as_none_and_is_marked(api: Server, status: int, body: bytes) -> None:
    api.routes["/v1/items"] = answer(body, status=status)
    with ApiSession("hostile", "items", api.url, None, ErrorHandling()) as session:
        response = session.get(f"{api.url}/v1/items")
    assert response.json() is None and response.restsync_empty is True


def test_an_html_page_with_200_says_it_is_an_html_page(api: Server) -> None:
    api.routes["/v1/items"] = answer(b"<!DOCTYPE html><html><body>Please sign in</body></html>", "text/html")
    api.routes["/v1/maint"] = answer(b"\n<html><h1>Down for maintenance</h1></html>", "application/json")
    with ApiSession("hostile", "items", api.url, None, ErrorHandling()) as session:
        for path in ("/v1/items", "/v1/maint"):
            with pytest.raises(ApiResponseError) as caught:
                session.get(f"{api.url}{path}?key={API_KEY}")
            message = str(caught.value)
            assert f"API 'hostile', resource 'items': GET {path} answered 200 with a body that is not valid JSON: an HTML page" in message
            assert "login or maintenance page" in message and API_KEY not in message


# --- token endpoints -------------------------------------------------------------------------------


def token_auth(token_url: str, handling: Optional[ErrorHandling] = None) -> Any:
    client = ResolvedClient(
        base_url="http://127.0.0.1:9", headers={},
        auth={"type": "oauth2_refresh_token", "token_url": token_url, "client_id": "cid", "client_secret": CLIENT_SECRET, "refresh_token": REFRESH},
        credential_variables=("SOURCES__HOSTILE__CLIENT_SECRET",),
    )
    return build_auth("hostile", client, handling)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_token_request_is_never_redirected_to_another_host(api: Server, other: Server, status: int) -> None:
    api.routes["/oauth/token"] = redirect(status, lambda: f"{other.url}/oauth/token")
    other.routes["/oauth/token"] = answer(json.dumps({"access_token": "stolen"}).encode())
    with pytest.raises(UnsafeUrlError) as caught:
        token_auth(f"{api.url}/oauth/token?tenant=1").current_token()
    message = str(caught.value)
    assert f"API 'hostile': token endpoint {api.url}/oauth/token: was redirected to {other.url}" in message
    assert "SOURCES__HOSTILE__TOKEN_URL" in message and not any(s in message for s in SECRETS)
    assert other.log == [] and CLIENT_SECRET in api.raw_log()


def test_a_token_request_follows_a_same_host_307_with_its_body(api: Server) -> None:
    api.routes["/old/token"] = redirect(307, lambda: "/oauth/token")
    api.routes["/oauth/token"] = answer(json.dumps({"access_token": "fresh", "expires_in": "3600"}).encode())
    assert token_auth(f"{api.url}/old/token").current_token() == "fresh"
    assert [s.method for s in api.log] == ["POST", "POST"] and REFRESH.encode() in api.log[1].body


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        (b"<html><body>Sign in to continue</body></html>", "text/html", "answered 200 with an HTML page (a login page?), not a token"),
        (b'[{"access_token": "x"}]', "application/json", "answered 200 with a JSON list, not a token object"),
        (b'{"error": "invalid_code"}', "application/json;charset=UTF-8", "answered 200 with an error (invalid_code); check the client id"),
        (b"", "application/json", "answered 200 with an empty body, not a token"),
        (b"access_token=abc&expires_in=3600", "application/x-www-form-urlencoded", "answered 200 with a body that is not JSON"),
        (b'{"token_type": "bearer"}', "application/json", "returned no access_token"),
    ],
)
def test_a_token_endpoint_answering_200_without_a_token_fails_naming_the_endpoint(
    api: Server, body: bytes, content_type: str, expected: str
) -> None:
    api.routes["/oauth/token"] = answer(body, content_type=content_type)
    with pytest.raises(TokenEndpointError) as caught:
        token_auth(f"{api.url}/oauth/token?client_secret={CLIENT_SECRET}").current_token()
    message = str(caught.value)
    assert message.startswith(f"API 'hostile': token endpoint {api.url}/oauth/token ") and expected in message, message
    assert not any(s in message for s in SECRETS)


def test_a_token_error_body_that_is_a_list_or_html_gives_the_status(api: Server) -> None:
    api.routes["/oauth/token"] = answer(b'["nope"]', status=400)
    with pytest.raises(TokenEndpointError, match=r"token endpoint .*/oauth/token answered 400; check the client id"):
        token_auth(f"{api.url}/oauth/token").current_token()


# --- bounds: deadline and body size ----------------------------------------------------------------


def trickle(headers_first: bool) -> Route:
    """One byte every 0.2 s: each socket read succeeds, so requests' timeout never fires."""

    def route(handler: BaseHTTPRequestHandler, _: Seen) -> None:
        body = page("slow") + b" " * 200
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        data = head + body if not headers_first else body
        if headers_first:
            handler.wfile.write(head)
        try:
            for byte in data:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    return route


@pytest.mark.parametrize("phase", ["body", "headers"])
def test_a_trickling_answer_fails_at_the_deadline_and_is_retried_like_a_timeout(api: Server, phase: str) -> None:
    api.routes["/v1/items"] = trickle(headers_first=phase == "body")
    handling = ErrorHandling(deadline=1.0, timeout=5, max_retries=1, backoff_factor=0)
    started = time.monotonic()
    with ApiSession("hostile", "items", api.url, None, handling) as session:
        with pytest.raises(Exception) as caught:
            session.get(f"{api.url}/v1/items")
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "API 'hostile', resource 'items': GET /v1/items: no complete answer within error_handling.deadline (1 s" in message
    assert "after 2 attempt(s)" in message and "raise error_handling.deadline" in message
    assert elapsed < 3.5 and len(api.log) == 2


def test_a_trickling_token_endpoint_fails_at_the_deadline(api: Server) -> None:
    api.routes["/oauth/token"] = trickle(headers_first=True)
    started = time.monotonic()
    with pytest.raises(TokenEndpointError, match=r"API 'hostile': token endpoint .*/oauth/token: no complete answer within error_handling.deadline"):
        token_auth(f"{api.url}/oauth/token", ErrorHandling(deadline=0.5)).current_token()
    assert time.monotonic() - started < 8  # 4 attempts, backoff 0.5 + 1 + 2 between them


BOMB_MB = 1024  # decoded size of the bomb; its gzip is about 1 MB


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """About 1 MB of gzip (1,024 members of 1 MB of zeros each) that decodes to 1 GB."""
    return gzip.compress(b"\0" * (1024 * 1024), 9) * BOMB_MB


def endless(handler: BaseHTTPRequestHandler, _: Seen) -> None:
    """A chunked body that never ends."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b'{"id": 1, "name": "' + b"x" * 65000 + b'"},'
    try:
        handler.wfile.write(b"%x\r\n[\r\n" % 1)
        while True:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass


CAPPED = """
import resource, sys
cap = 1536 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from restsync_dagster.config.model import ErrorHandling
from restsync_dagster.http.session import ApiSession
session = ApiSession("hostile", "items", sys.argv[1], None, ErrorHandling(max_retries=0, max_body_mb=float(sys.argv[3])))
try:
    session.get(sys.argv[1] + sys.argv[2])
    print("LOADED")
except BaseException as exc:
    print(type(exc).__name__, exc)
# VmHWM, not ru_maxrss: Linux keeps the forking parent's high-water mark in ru_maxrss across exec
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print("MAXRSS_MB", peak_kb // 1024)
"""


def run_capped(url: str, path: str, max_body_mb: float = 64) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, url, path, str(max_body_mb)],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("MAXRSS_MB"), done.stdout + done.stderr
    return "\n".join(lines[:-1]), int(lines[-1].split()[1])


@pytest.mark.parametrize("encoding", ["gzip", "gzip_twice"])
def test_a_gzip_bomb_stops_at_the_body_limit_in_bounded_memory(api: Server, bomb: bytes, encoding: str) -> None:
    body, header = (bomb, "gzip") if encoding == "gzip" else (gzip.compress(bomb), "gzip, gzip")
    api.routes["/v1/items"] = answer(body, Content_Encoding=header)
    output, peak_mb = run_capped(api.url, "/v1/items")
    assert output.startswith("BodyTooLarge API 'hostile', resource 'items': GET /v1/items: the answer's body passed "
                             "error_handling.max_body_mb (64 MB) as decoded"), output
    assert "raise error_handling.max_body_mb" in output
    print(f"{encoding} bomb of {len(body) / 1e6:.1f} MB ({BOMB_MB} MB decoded): peak RSS {peak_mb} MB")
    assert peak_mb < 350  # about 70 MB of imports, the 64 MB body, the decoder's window


def test_an_endless_chunked_body_stops_at_the_body_limit_in_bounded_memory(api: Server) -> None:
    api.routes["/v1/items"] = endless
    output, peak_mb = run_capped(api.url, "/v1/items", max_body_mb=64)
    assert output.startswith("BodyTooLarge API 'hostile', resource 'items': GET /v1/items: the answer's body passed "
                             "error_handling.max_body_mb (64 MB)"), output
    print(f"endless chunked body: peak RSS {peak_mb} MB")
    assert peak_mb < 350  # about 70 MB of imports, the 64 MB body, the decoder's window


def test_a_body_over_the_limit_fails_the_asset_naming_the_setting(workdir: Path, api: Server) -> None:
    api.routes["/v1/big"] = answer(page(*["y" * 1000] * 3000))  # ~3 MB
    api.routes["/v1/small"] = answer(page("fine"))
    cfg = config(api.url, {"big": "/v1/big", "small": "/v1/small"})
    cfg = cfg.model_copy(update={"error_handling": cfg.error_handling.model_copy(update={"max_body_mb": 1})})
    result = run_assets(cfg, raise_on_error=False)
    text = failure_text(result)
    assert "API 'hostile', resource 'big': GET /v1/big: the answer's body passed error_handling.max_body_mb (1 MB)" in text
    assert [s.path for s in api.log].count("/v1/big") == 1  # never retried: it would be as large again
