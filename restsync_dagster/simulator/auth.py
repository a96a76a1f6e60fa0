"""Credentials the simulator accepts and the access tokens it issues (and expires)."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Optional

DEFAULT_CREDENTIALS: dict[str, dict[str, str]] = {
    "shared_inbox": {"client_id": "sim-shared-inbox-client", "client_secret": "sim-shared-inbox-secret"},
    "service_desk": {"api_key": "sim-service-desk-key"},
    "directory": {"client_id": "sim-directory-client", "client_secret": "sim-directory-secret"},
    "messaging": {"access_token": "sim-messaging-token"},
    "ticket_desk": {"client_id": "sim-ticket-desk-client", "client_secret": "sim-ticket-desk-secret", "refresh_token": "sim-ticket-desk-refresh"},
}


class TokenIssuer:
    """Issues expiring bearer tokens per API; `expire_all` makes every issued token invalid."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, api: str) -> str:
        token = f"{api}-{secrets.token_urlsafe(16)}"
        with self._lock:
            self._tokens[token] = (api, time.monotonic() + self.ttl_seconds)
            self.issued += 1
        return token

    def valid(self, api: str, token: str) -> bool:
        with self._lock:
            entry = self._tokens.get(token)
        return entry is not None and entry[0] == api and entry[1] > time.monotonic()

    def expire_all(self, api: str) -> None:
        with self._lock:
            for token, (owner, _) in list(self._tokens.items()):
                if owner == api:
                    self._tokens[token] = (owner, 0.0)


def bearer(header: Optional[str]) -> Optional[str]:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "zoho-oauthtoken") else None


def basic_user(header: Optional[str]) -> Optional[str]:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip()).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None
