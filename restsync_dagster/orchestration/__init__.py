"""Layer 5, orchestration: the Dagster-facing part: assets, one run of an API, schedules, sensors, checks.

Owns the dagster-dlt multi-asset per API (`assets`), the partitioned history assets of backfilled resources (`history`), a run in phases by depth (`runner`), schedules
and sensors (`automation`), asset checks (`checks`), concurrency pools (`pools`), the placeholder of a
config that does not load (`broken`) and the short failure paragraph (`failure`). May import every
layer below; `restsync_dagster.definitions` (what workspace.yaml loads) builds on it.
"""
