"""An access token from the simulator's token endpoint, for tests that call the simulated APIs directly."""

from __future__ import annotations

import requests

from restsync_dagster.simulator import Simulator


def token(sim: Simulator, api: str) -> str:
    """The grant each API's config uses: client credentials, a refresh token for ticket_desk, a scope for directory."""
    creds = sim.credentials[api]
    data = {"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    if api == "ticket_desk":
        data.update(grant_type="refresh_token", refresh_token=creds["refresh_token"])
    if api == "directory":
        data["scope"] = "api://x/.default"
    response = requests.post(str(sim.token_url(api)), data=data, timeout=5)
    response.raise_for_status()
    return str(response.json()["access_token"])
