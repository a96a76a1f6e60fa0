"""Layer 4, load: where rows land and what a load did: destination, dlt tuning, outcome, trace.

Owns the dlt pipeline and destination per API (`destination`), dlt/DuckDB settings (`tuning`), the
per-table outcome of a run (`outcome`), the scrubbed dlt trace (`dlt_trace`) and the qualified table
names the UI shows (`table_identity`). May import `config`, `http` and `extract`.
"""
