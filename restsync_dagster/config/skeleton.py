"""`restsync new API_NAME`: a commented config skeleton that validates as written.

The skeleton points at a placeholder base URL and names one resource, so `restsync validate`
passes at once and the user edits from a working file rather than from a blank page.
"""

from __future__ import annotations

import re
from pathlib import Path

from restsync_dagster.config.errors import RestsyncError

API_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

TEMPLATE = """\
# {name}: describe the API once; every resource below becomes a Dagster asset `{name}/<resource>`.
# Check it with `restsync validate configs/{name}.yaml`, see it with `restsync list`,
# load it with `restsync run {name}`.
#
# Secrets never go into this file: write ${{secrets.<name>}} and set SOURCES__{upper}__<NAME>
# (or <name> = "..." under [sources.{name}] in .dlt/secrets.toml).
description: What this API holds, in one line.
client:
  # SOURCES__{upper}__BASE_URL overrides it without editing this file.
  base_url: https://api.example.com/v1
  # Pick one auth (or leave it out for a public API):
  # auth: {{type: bearer, token: "${{secrets.token}}"}}
  # auth: {{type: http_basic, username: "${{secrets.api_key}}", password: X}}
  # auth: {{type: api_key, api_key: "${{secrets.api_key}}", name: X-Api-Key, location: header}}
  # auth:
  #   type: oauth2_client_credentials        # or oauth2_refresh_token (with refresh_token)
  #   token_url: https://login.example.com/oauth2/token
  #   client_id: ${{secrets.client_id}}
  #   client_secret: ${{secrets.client_secret}}
  #   scope: read
# When to refresh: the schedule runs every asset; the change sensor probes incremental resources.
schedule: {{cron: "0 * * * *", timezone: UTC}}
sensor: {{enabled: false, minimum_interval_seconds: 60}}
# Retries with exponential backoff; Retry-After is honoured. ignore_statuses skips a request.
error_handling:
  retry_statuses: [429, 500, 502, 503, 504]
  max_retries: 3
  backoff_factor: 2
# Shared by every resource (a resource's own keys win; its paginator replaces this one).
resource_defaults:
  primary_key: id
  write_disposition: merge           # merge | append | replace
  endpoint:
    data_selector: data              # where the list is in the body (JSONPath); leave out for a bare list
    params:
      per_page: 100
    # Paginators: json_link {{next_url_path: _links.next.href}} | header_link | cursor {{cursor_path, cursor_param}}
    #             page_number {{page_param, base_page}} | offset {{limit}} | single_page
    paginator:
      type: header_link
resources:
  - name: items
    description: The API's items.
    # owners: [team:data-platform]
    # tags: {{domain: support}}
    endpoint:
      path: /items
    # Fetch only what changed since the last run:
    # incremental:
    #   cursor_path: updated_at
    #   param: updated_since
    #   initial_value: "2024-01-01T00:00:00Z"
  # A child: one request per parent record; its rows carry _items_id.
  # - name: item_comments
  #   endpoint:
  #     path: /items/{{resources.items.id}}/comments
"""


def skeleton(name: str) -> str:
    """The config text for a new API named `name`."""
    if not API_NAME.match(name):
        raise RestsyncError(f"API name '{name}' must be lower case letters, digits and '_', starting with a letter")
    return TEMPLATE.format(name=name, upper=name.upper())


def write_skeleton(name: str, folder: Path) -> Path:
    """Write `<folder>/<name>.yaml`; never overwrite an existing config."""
    text = skeleton(name)
    path = folder / f"{name}.yaml"
    if path.exists():
        raise FileExistsError(f"{path} already exists; not overwriting it (pick another name or delete the file)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
