"""Layer 3, extract: the dlt source of one API: listings, children, delta rounds, cursors, record hygiene.

Owns turning a config into dlt resources (`source`), top-level listings with our own cursor
(`listing`, `cursor_tracker`, `incremental_state`), child resources (`children`), Graph-style delta
(`delta`), one history window's source (`history_source`), records made safe for dlt (`record_hygiene`), and `restsync probe` (`probe`).
May import `config` and `http`.
"""
