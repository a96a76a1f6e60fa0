"""Layer 6, cli: the `restsync` command and its live progress line (`progress`).

The parser and entry point are `commands` (`restsync = restsync_dagster.cli.commands:main`); each
command is a module of its own: `inspect_configs` (validate, list), `run`, `backfill`, `probe`, `authoring`
(new, import-airbyte), `demo` (simulate, demo); shared by them: `config_files` (the configs a
command reads) and `exit_codes`. May import every layer below.
"""
