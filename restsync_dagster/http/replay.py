"""Answers already fetched in a run, replayed when a phase is extracted again without a failed resource.

dlt extracts the resources of a phase together and stops them all when one fails; the runner
then extracts the phase again without the culprit (a failed resource must load nothing). Without
this, every other resource of the phase was fetched from the API a second time (84 repeated
requests in one full run of service_desk). Here the successful GET answers of a phase's first
attempt are kept (bodies spooled to a temporary folder, so memory stays flat) and a later attempt
of the same run is answered from them: the same URLs, the same pages, no second request. They
live only as long as the run.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import requests
from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class _Kept:
    path: Path
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    url: str
    encoding: Optional[str]


class ResponseReplay:
    """Successful GET answers of one run, by URL; `recording` off: neither kept nor replayed."""

    def __init__(self) -> None:
        self.recording = False
        self._folder: Optional[tempfile.TemporaryDirectory[str]] = None
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(request: requests.PreparedRequest) -> Optional[str]:
        if request.method != "GET" or request.body or not request.url:
            return None
        return request.url

    def answer(self, request: requests.PreparedRequest) -> Optional[requests.Response]:
        """The kept answer to this request, as a fresh response object, or None."""
        key = self._key(request)
        if key is None:
            return None
        with self._lock:
            kept = self._kept.get(key)
        if kept is None:
            return None
        response = requests.Response()
        response.status_code, response.reason, response.url, response.encoding = kept.status, kept.reason, kept.url, kept.encoding
        response.headers = CaseInsensitiveDict(dict(kept.headers))
        response._content = kept.path.read_bytes()  # noqa: SLF001 - requests' own slot for a read body
        response.request = request
        response.replayed = True  # type: ignore[attr-defined]
        return response

    def keep(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Keep a 2xx answer whose body has been read (the session's bounded read)."""
        key = self._key(request)
        if not self.recording or key is None or not 200 <= response.status_code < 300:
            return
        with self._lock:
            if self._folder is None:
                self._folder = tempfile.TemporaryDirectory(prefix="restsync-replay-")
            path = Path(self._folder.name) / f"{len(self._kept)}.body"
            path.write_bytes(response.content)
            headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in ("content-encoding", "transfer-encoding", "content-length"))
            self._kept[key] = _Kept(path, response.status_code, response.reason or "", headers, response.url or key, response.encoding)

    def close(self) -> None:
        with self._lock:
            self._kept.clear()
            if self._folder is not None:
                self._folder.cleanup()
                self._folder = None
