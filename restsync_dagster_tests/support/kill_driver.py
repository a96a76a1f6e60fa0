"""Run an API's assets in a child process that dies, without any cleanup, at a chosen point.

`python -m restsync_dagster_tests.support.kill_driver POINT API RESOURCE...`; POINT is `extract` (the
test kills this process with SIGKILL while it fetches), `normalize` (dies once normalized files
are written, before the package is committed) or `load` (dies after every load job ran, before
the load is marked complete). `os._exit` skips every `finally` and atexit hook, as a kill does.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def die_after(owner: Any, name: str) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        os._exit(137)

    setattr(owner, name, wrapper)


def die_before(owner: Any, name: str) -> None:
    setattr(owner, name, lambda *args, **kwargs: os._exit(137))


def main(argv: list[str]) -> int:
    point, api_name, *resources = argv
    if point == "normalize":
        from dlt.normalize.normalize import Normalize

        die_after(Normalize, "spool_files")
    elif point == "load":
        from dlt.load.load import Load

        die_before(Load, "complete_package")
    from restsync_dagster_tests.support.helpers import run_assets, shipped

    return 0 if run_assets(shipped(api_name), resources or None, raise_on_error=False).success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
