"""Layer 6, cli: the `restsync` command (`commands`) and its live progress line (`progress`).

May import every layer below.
"""
