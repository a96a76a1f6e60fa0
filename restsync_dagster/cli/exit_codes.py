"""The exit codes of every `restsync` command, which scripts can trust.

0 success, 1 a run or check failed, 2 bad usage or a broken config. Their own module because every
command module and the entry point (`commands`) return them.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
