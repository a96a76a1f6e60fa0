"""Runs inside benchmarks/.venvs/pyairbyte: the Airbyte low-code manifest read by PyAirbyte into
its DuckDB cache (Airbyte's own Python path from a declarative source to DuckDB).

    python airbyte_run.py MANIFEST BASE_URL API_KEY DUCKDB_FILE  -> prints the record count
"""

from __future__ import annotations

import sys
from pathlib import Path

import airbyte as ab
from airbyte.caches import DuckDBCache


def main() -> None:
    manifest, base_url, api_key, db_path = sys.argv[1:5]
    source = ab.get_source(
        "source-service-desk-bench",
        config={"base_url": base_url, "api_key": api_key},
        source_manifest=Path(manifest),
    )
    source.select_streams(["tickets"])
    cache = DuckDBCache(db_path=db_path, schema_name="service_desk")
    result = source.read(cache=cache, force_full_refresh=True)
    print(result.processed_records if hasattr(result, "processed_records") else len(result["tickets"]))


if __name__ == "__main__":
    main()
