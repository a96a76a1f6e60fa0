"""Bounds on every response: a whole-request deadline and a maximum body size.

requests' `timeout` bounds each socket read, not the request: a server that trickles one byte a
second (headers or body) holds a worker forever, and `response.content` reads an endless chunked
body or a gzip bomb into memory until the process dies. Here:

- a `Guard` per request carries its deadline; a single watchdog thread shuts down the socket of
  every connection the request is using when the deadline passes, whatever phase it is in
  (connect, headers, body), so the blocked read returns at once;
- `read_body` reads the body in chunks with urllib3's bounded decoder (never more than one chunk
  decoded at a time) and stops as soon as the bytes received or the bytes decoded pass the limit.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import requests
import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

from restsync_dagster.config.errors import RestsyncError

CHUNK = 256 * 1024
MB = 1024 * 1024


class DeadlineExceeded(requests.Timeout, RestsyncError):
    """The whole request (send to body fully read) took longer than its deadline; retried like a timeout."""


class BodyTooLarge(RestsyncError):
    """The body passed the size limit, as received or decoded; never retried."""


class BodyDecodeError(RestsyncError):
    """The body could not be decoded as its Content-Encoding says."""


@dataclass(frozen=True)
class Limits:
    """How long a request may take in all and how large its body may be; `setting` names where to raise them."""

    deadline: float
    max_body_bytes: int
    timeout: float  # per socket read, as requests means it
    setting: str = "error_handling"


@dataclass(eq=False)
class Guard:
    """One request's deadline and the connections it is using."""

    deadline: float  # time.monotonic()
    expired: bool = False
    done: bool = False
    _connections: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            if not self.expired:
                return
        _shut(connection)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _shut(connection: Any) -> None:
    """Wake a read blocked on this connection: shut the socket down (at the fd, below any TLS layer)."""
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One thread for the whole process: expires guards whose deadline passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def arm(self, guard: Guard) -> None:
        with self._cond:
            if len(self._heap) > 1024 and len(self._heap) > 4 * sum(1 for *_, g in self._heap if not g.done):
                self._heap = [entry for entry in self._heap if not entry[2].done]  # finished requests
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="restsync-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, guard = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0 and not guard.done:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            guard.expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextmanager
def guarded(deadline_seconds: float) -> Iterator[Guard]:
    """The guard of the request sent inside this block (on this thread)."""
    guard = Guard(deadline=time.monotonic() + deadline_seconds)
    previous = getattr(_current, "guard", None)
    _current.guard = guard
    _watchdog.arm(guard)
    try:
        yield guard
    finally:
        with guard._lock:
            guard.done = True
            guard._connections.clear()  # the watchdog may hold the guard until its deadline: not the connections
        _current.guard = previous


class _Watched:
    """Connection mixin: registers itself with the request's guard before each request."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        guard = getattr(_current, "guard", None)
        if guard is not None:
            guard.watch(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose connections the request deadline can cut."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def read_body(response: requests.Response, limits: Limits, guard: Guard, label: str) -> bytes:
    """The whole decoded body, within the guard's deadline and the size limit; set on the response."""
    raw = response.raw
    chunks: list[bytes] = []
    decoded = 0
    try:
        while True:
            if guard.expired or guard.remaining() <= 0:
                raise deadline_exceeded(limits, label)
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            decoded += len(chunk)
            received = raw.tell()
            if decoded > limits.max_body_bytes or received > limits.max_body_bytes:
                what = "as decoded" if decoded > limits.max_body_bytes else "as received"
                raise BodyTooLarge(
                    f"{label}: the answer's body passed {limits.setting}.max_body_mb "
                    f"({limits.max_body_bytes / MB:g} MB) {what}; reading stopped there. If the API really "
                    f"sends pages this large, raise {limits.setting}.max_body_mb, or ask for smaller pages"
                )
            chunks.append(chunk)
    except (DeadlineExceeded, BodyTooLarge):
        response.close()
        raise
    except (ProtocolError, ReadTimeoutError, SSLError, OSError) as exc:
        response.close()
        if guard.expired:
            raise deadline_exceeded(limits, label) from None
        if isinstance(exc, ReadTimeoutError):
            raise requests.ReadTimeout(f"{label}: read timed out") from None
        raise requests.ConnectionError(f"{label}: connection broken while reading the body") from None
    except DecodeError:
        response.close()
        encoding = response.headers.get("Content-Encoding", "")
        raise BodyDecodeError(
            f"{label}: the body could not be decoded as its Content-Encoding ({encoding}) says; nothing of it was loaded"
        ) from None
    except BaseException:
        response.close()
        raise
    if guard.expired:  # the watchdog cut a body that had no length: what arrived is not all of it
        response.close()
        raise deadline_exceeded(limits, label)
    body = b"".join(chunks)
    response._content = body  # requests' own cache of the body: .content, .text, .json() read it
    response._content_consumed = True
    raw.release_conn()
    return body


def deadline_exceeded(limits: Limits, label: str) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{label}: no complete answer within {limits.setting}.deadline ({limits.deadline:g} s, from sending "
        f"the request to its body fully read)"
    )
