"""The HTTP side: routing to the five APIs, auth, token endpoints, faults, latency, rate limits, log.

The state and the fault bookkeeping it shares are in state.py; what is left here (a little over 400
lines) is one request's way through auth, faults, the vendor's flavour and the listing, kept in one
place so a request can be followed top to bottom.

`disable_nagle_algorithm` matters: http.server writes headers and body separately, and with Nagle
on, delayed ACKs add ~40 ms to every request, hiding every real performance effect.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import sys
import time
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from restsync_dagster.simulator.apis import (
    STYLES,
    Listing,
    _encode,
    odata_top,
    window_of,
)
from restsync_dagster.simulator.auth import basic_user, bearer
from restsync_dagster.simulator.catalog import APIS
from restsync_dagster.simulator.data import EARLIEST
from restsync_dagster.simulator.delta import (
    DeltaError,
    delta_listing,
    graph_error,
)
from restsync_dagster.simulator.state import (
    BODY_FAULTS,
    CAP_FAULTS,
    FAULT_KINDS,
    PAGE_FAULTS,
    PERSISTENT_FAULTS,
    PRE_FAULTS,
    SCHEMA_FAULTS,
    SEARCH_ROUTES,
    TOKEN_FAULTS,
    WINDOW_FAULTS,
    SimulatorState,
    capped,
    check_fault,
    window_hits,
)

TOKEN_PATHS = {"shared_inbox": "/v2/oauth2/token", "ticket_desk": "/oauth/v2/token"}
Route = tuple[str, Optional[str], str]  # (resource, parent id, kind: "list", "delta" or "search")
LOGIN_TOKEN_PATH = "/oauth2/token"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "restsync-simulator"
    state: SimulatorState  # set on the subclass per server
    login_host = False
    _entry: Optional[dict[str, Any]] = None  # the request-log entry of the API request being answered
    _gzip = False  # the API being answered compresses its bodies (a flavour), when the client accepts it

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request stderr
        return

    # --- plumbing -------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: Optional[dict[str, str]] = None, raw: Optional[bytes] = None, content_type: str = "application/json") -> None:
        data = raw if raw is not None else json.dumps(body, separators=(",", ":")).encode()
        headers = dict(headers or {})
        if self._gzip and data and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        entry = self._entry
        if entry is not None and entry.get("status") is None:
            # logged before the answer leaves: a client that reads the log after its response sees it
            entry["status"] = status
            self.state.log(entry)
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout fault): nothing to answer

    def _query(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if "json" in (self.headers.get("Content-Type") or ""):
            return {k: str(v) for k, v in (json.loads(raw or "{}")).items()}
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    def _host(self) -> str:
        return self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"

    # --- control plane ----------------------------------------------------------------------------
    def _control(self, method: str, path: str) -> None:
        state = self.state
        if path == "/_sim/health":
            return self._send(200, {"ok": True})
        if path == "/_sim/requests":
            if method == "DELETE":
                with state.log_lock:
                    state.request_log.clear()
                return self._send(200, {"cleared": True})
            with state.log_lock:
                return self._send(200, list(state.request_log))
        if path == "/_sim/mutate" and method == "POST":
            body = self._form()
            result = state.store.mutate(body["api"], body["resource"], int(body.get("updates", 0)), int(body.get("inserts", 0)), int(body.get("deletes", 0)))
            return self._send(200, result)
        if path == "/_sim/faults":
            if method == "DELETE":
                with state.fault_lock:
                    state.faults.clear()
                return self._send(200, {"cleared": True})
            if method == "POST":
                body = self._form()
                params = {k: v for k, v in body.items() if k not in {"api", "kind", "resource", "count"}}
                if body.get("kind") not in FAULT_KINDS:
                    return self._send(400, {"error": "unknown_fault_kind", "known": sorted(FAULT_KINDS)})
                default = -1 if body["kind"] in PERSISTENT_FAULTS else 1
                try:
                    check_fault(body["kind"], params)
                except ValueError as exc:
                    return self._send(400, {"error": "bad_fault", "detail": str(exc)})
                fid = state.add_fault(body["api"], body["kind"], body.get("resource"), int(body.get("count", default)), params)
                return self._send(200, {"id": fid})
        return self._send(404, {"error": "not_found", "path": path})

    # --- verbs ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path, query = self._query()
        if path.startswith("/_sim/"):
            return self._control(method, path)
        if self.login_host:
            if method == "POST" and path == LOGIN_TOKEN_PATH:
                return self._token("directory", require_scope=True)
            return self._send(404, {"error": "not_found", "path": path})
        api, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        if api not in APIS:
            return self._send(404, {"error": "not_found", "path": path})
        if method == "POST" and TOKEN_PATHS.get(api) == rest:
            return self._token(api, require_scope=False)
        if method != "GET":
            return self._send(405, {"error": "method_not_allowed"})
        self._api_get(api, rest, query)

    # --- token endpoints ---------------------------------------------------------------------------------
    def _token(self, api: str, require_scope: bool) -> None:
        state = self.state
        form = self._form()  # read the body first: left unread, it would corrupt the next request on this connection
        fault = state.take_fault(api, None, TOKEN_FAULTS)
        if fault:
            return self._send(int(fault.params.get("status", 500)), {"error": "server_error"})
        expected = state.credentials[api]
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        user = basic_user(self.headers.get("Authorization"))
        if user is not None and client_id is None:
            client_id, _, client_secret = base64.b64decode(self.headers["Authorization"][6:]).decode().partition(":")
        if client_id != expected["client_id"] or client_secret != expected["client_secret"]:
            return self._send(401 if api != "ticket_desk" else 400, {"error": "invalid_client" if api != "ticket_desk" else "invalid_code"})
        grant = form.get("grant_type")
        if api == "ticket_desk":
            if grant != "refresh_token" or form.get("refresh_token") != expected["refresh_token"]:
                return self._send(400, {"error": "invalid_code"})
        elif grant != "client_credentials":
            return self._send(400, {"error": "unsupported_grant_type"})
        if require_scope and not (form.get("scope") or "").endswith("/.default"):
            return self._send(400, {"error": "invalid_scope"})
        token = state.tokens.issue(api)
        return self._send(200, {"access_token": token, "token_type": "Bearer" if api == "ticket_desk" else "bearer", "expires_in": state.tokens.ttl_seconds})

    def _authorized(self, api: str) -> bool:
        state = self.state
        header = self.headers.get("Authorization")
        if api == "service_desk":
            return basic_user(header) == state.credentials[api]["api_key"]
        if api == "messaging":
            return bearer(header) == state.credentials[api]["access_token"]
        token = bearer(header)
        return token is not None and state.tokens.valid(api, token)

    # --- API requests -----------------------------------------------------------------------------------
    def _api_get(self, api: str, rest: str, query: dict[str, str]) -> None:
        state = self.state
        route = next(((name, m.groupdict().get("parent"), kind) for pattern, name, kind in state.routes[api] if (m := pattern.match(rest))), None)
        resource = route[0] if route else None
        entry: dict[str, Any] = {"api": api, "resource": resource, "method": "GET", "path": f"/{api}{rest}", "query": query, "ts": time.time()}
        self._entry = entry
        self._gzip = state.flavours[api].gzip
        try:
            status = self._serve(api, rest, query, route, entry)
        finally:
            self._entry = None
            self._gzip = False
        if entry.get("status") is None:
            entry["status"] = status
            state.log(entry)

    def _serve(self, api: str, rest: str, query: dict[str, str], route: Optional[Route], entry: dict[str, Any]) -> int:
        state = self.state
        if state.latency:
            time.sleep(state.latency)
        resource = route[0] if route else None
        if not state.limiter.allow(api):
            self._send(429, {"error": "rate_limited"}, {"Retry-After": "1"})
            return 429
        fault = state.take_fault(api, resource, PRE_FAULTS)
        if fault:
            entry["fault"] = fault.kind
            if fault.kind == "expire_token":
                state.tokens.expire_all(api)
            elif fault.kind == "slow":
                time.sleep(float(fault.params.get("seconds", 2)))
            elif fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return 0
            elif fault.kind == "status":
                code = int(fault.params.get("status", 500))
                headers = {}
                retry_after = fault.params.get("retry_after")
                if retry_after == "date":  # an HTTP date `retry_after_seconds` (default 2) from now
                    headers["Retry-After"] = formatdate(time.time() + float(fault.params.get("retry_after_seconds", 2)), usegmt=True)
                elif retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                self._send(code, {"error": "injected", "status": code}, headers)
                return code
        if not self._authorized(api):
            self._send(401, {"error": "invalid_token" if api not in ("service_desk", "messaging") else "unauthorized"})
            return 401
        if route is None:
            self._send(404, {"error": "not_found", "path": f"/{api}{rest}"})
            return 404
        name, parent_id, kind = route
        delta = kind == "delta"
        # the name the styles and flavours read the query under: the resource, or its search endpoint
        asked = SEARCH_ROUTES[(api, name)] if kind == "search" else name
        parent_id = unquote(parent_id) if parent_id is not None else None
        flavour = state.flavours[api]
        refusal = flavour.refusal(asked, query, self.headers)  # what this vendor answers with an error
        if refusal is not None:
            self._send(*refusal)
            return refusal[0]
        query = flavour.read_query(asked, query, delta, self.headers)  # what this vendor makes of it (links carry that too)
        try:
            window = window_of(api, asked, query) if parent_id is None and not delta else (None, None)
        except ValueError as exc:
            self._send(400, {"error": "bad_request", "detail": str(exc)})
            return 400
        window_fault = state.take_fault(api, name, WINDOW_FAULTS, match=lambda f: window_hits(f, *window)) if window != (None, None) else None
        if window_fault:
            entry["fault"] = window_fault.kind
            seconds = window_fault.params.get("seconds")
            if seconds is not None:  # hangs (a client's timeout, or a kill, meets it mid-window)
                time.sleep(float(seconds))
            if seconds is None or window_fault.params.get("status") is not None:
                code = int(window_fault.params.get("status", 500))
                self._send(code, {"error": "injected", "status": code, "window": [_iso_or_none(m) for m in window]})
                return code
        cap_fault = state.take_fault(api, name, CAP_FAULTS)
        if cap_fault:
            entry["fault"] = cap_fault.kind
            query = capped(query, int(cap_fault.params.get("cap", 10)), "$top" if api == "directory" else "limit")
        if name == "contacts" and api == "messaging" and not query.get("email"):
            self._send(400, {"error": "missing_parameter", "parameter": "email"})
            return 400
        try:
            listing = self._listing(api, name, parent_id, query, rest, delta, asked, window)
        except DeltaError as exc:
            self._send(400, graph_error(exc))
            return 400
        except ValueError as exc:
            self._send(400, {"error": "bad_request", "detail": str(exc)})
            return 400
        if listing is None:
            self._send(404, {"error": "not_found", "path": f"/{api}{rest}"})
            return 404
        self._apply_page_faults(api, name, listing, query, entry)
        self._apply_schema_faults(api, name, listing)
        if flavour.empty_status and not listing.items and not listing.has_more:
            self._send(flavour.empty_status, None, raw=b"")
            return flavour.empty_status
        spec = state.store.resource(api, name).spec
        listing.items = [flavour.record(spec, record) for record in listing.items]
        body, headers = flavour.body(listing, *STYLES[api].body(listing))
        if kind == "search" and isinstance(body, dict):
            body = {**body, "count": listing.total}  # Zoho's search answers carry the matches' count
        body_fault = state.take_fault(api, name, BODY_FAULTS)
        if body_fault:
            entry["fault"] = body_fault.kind
            raw = json.dumps(body).encode()
            if body_fault.kind == "malformed_json":
                self._send(200, None, headers, raw=b"{'data': [" + raw[:40] + b" oops")
            elif body_fault.kind == "truncated_json":
                self._send(200, None, headers, raw=raw[: max(1, len(raw) // 2)])
            else:
                page = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
                self._send(200, None, headers, raw=page, content_type="text/html")
            return 200
        self._send(200, body, headers)
        return 200

    def _listing(
        self, api: str, name: str, parent_id: Optional[str], query: dict[str, str], rest: str, delta: bool = False,
        asked: Optional[str] = None, window: tuple[Optional[datetime], Optional[datetime]] = (None, None),
    ) -> Optional[Listing]:
        store = self.state.store
        style = STYLES[api]
        base_url = f"http://{self._host()}/{api}{rest}"
        if delta:
            return delta_listing(store.resource(api, name), query, base_url, odata_top(query))
        if parent_id is not None:
            rows = store.children(api, name, parent_id)
            if rows is None:
                return None
            page = style.page(query)
            return Listing(rows[page.offset : page.offset + page.limit], page.offset, page.limit, len(rows), base_url, query, name)
        data = store.resource(api, name)
        since, until = window
        descending = style.descending(query)
        if asked != name and "offset" not in query and str(query.get("from", "")).isdigit():
            query = {**query, "offset": str(max(0, int(query["from"]) - 1))}  # a search pages from 1, as Zoho's does
        if name == "contacts" and api == "messaging":
            email = query["email"].lower()
            rows = [r for r in store.records(api, name) if str(r.get("email", "")).lower() == email]
            return Listing(rows, 0, max(len(rows), 1), len(rows), base_url, query, name)
        if name in style.single_page:
            rows = store.records(api, name)
            return Listing(rows, 0, max(len(rows), 1), len(rows), base_url, query, name)
        if since is None and descending is not None:
            since = EARLIEST
        view = data.view(since=since, descending=bool(descending), until=until)
        page = style.page(query)
        flavour = self.state.flavours[api]
        if flavour.hiding(name, query):  # a vendor's listing that leaves records out: pages and totals count only the shown
            shown = [r for r in (data.record(n) for n in view.slice(0, len(view)))
                     if r is not None and not flavour.hidden(name, flavour.record(data.spec, r), query)]
            return Listing(shown[page.offset : page.offset + page.limit], page.offset, page.limit, len(shown), base_url, query, name)
        numbers = view.slice(page.offset, page.limit)
        rows = [r for r in (data.record(n) for n in numbers) if r is not None]
        return Listing(rows, page.offset, page.limit, len(view), base_url, query, name)

    def _apply_page_faults(self, api: str, name: str, listing: Listing, query: dict[str, str], entry: dict[str, Any]) -> None:
        fault = self.state.take_fault(api, name, PAGE_FAULTS)
        if not fault:
            return
        entry["fault"] = fault.kind
        same_page = f"{listing.base_url}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
        if api == "messaging":
            same_page = query.get("next") or _encode(listing.offset)
        if fault.kind == "empty_page":  # the listing ends here, early: no records, no next page
            listing.items = []
            listing.no_next = True
        elif fault.kind == "duplicate_record" and listing.offset > 0:
            # the last record of the previous page is served again on top of this page (a record
            # that moved while the client paged); nothing is dropped
            previous = self._listing_rows_before(api, name, listing)
            if previous:
                listing.items = [previous, *listing.items]
        elif fault.kind == "next_other_host":
            # the page's own next link, on another host (`host`, default evil.example:80)
            listing.base_url = _with_netloc(listing.base_url, str(fault.params.get("host", "evil.example:80")))
        elif fault.kind == "next_userinfo":
            # the page's own next link with userinfo in front of the host: https://api@elsewhere style
            netloc = f"{fault.params.get('userinfo', 'api')}@{fault.params.get('host') or urlsplit(listing.base_url).netloc}"
            listing.base_url = _with_netloc(listing.base_url, netloc)
        elif fault.kind == "next_loop":
            listing.next_url = same_page
        elif fault.kind == "empty_page_with_next":
            # no records, yet a next page is announced (advancing, so only an empty-page guard stops it)
            listing.items = []
            listing.force_next = True
        elif fault.kind == "hostile_id" and listing.items:
            listing.items[0] = {**listing.items[0], "id": fault.params.get("value", "../admin")}

    def _listing_rows_before(self, api: str, name: str, listing: Listing) -> Optional[dict[str, Any]]:
        data = self.state.store.resource(api, name)
        if data.spec.parent is not None:
            return None
        numbers = data.view().slice(listing.offset - 1, 1)
        return data.record(numbers[0]) if numbers else None

    def _apply_schema_faults(self, api: str, name: str, listing: Listing) -> None:
        with self.state.fault_lock:
            faults = [f for f in self.state.faults if f.api == api and f.kind in SCHEMA_FAULTS and f.resource in (None, name) and f.remaining != 0]
        if faults:  # change copies: the store's own records must not drift for later requests
            listing.items = [dict(record) for record in listing.items]
        for fault in faults:
            column = fault.params.get("field", "extra_field")
            for record in listing.items:
                if "@removed" in record:  # a delta round's removed entry: only an id, no fields to drift
                    continue
                if fault.kind == "schema_add_field":
                    record[column] = fault.params.get("value", "new")
                elif fault.kind == "schema_remove_field":
                    record.pop(column, None)
                elif fault.kind == "schema_change_type" and column in record:
                    record[column] = f"as text: {record[column]}" if fault.params.get("to", "string") == "string" else {"value": record[column]}


def _iso_or_none(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment is not None else None


def _with_netloc(url: str, netloc: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-request (killed, or gave up) is not the simulator's error: no traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def make_server(state: SimulatorState, host: str, port: int, login_host: bool) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state, "login_host": login_host})
    return QuietServer((host, port), handler)
