"""restsync_dagster: REST APIs described in YAML, loaded by dlt, orchestrated as Dagster assets."""

__version__ = "0.1.0"
