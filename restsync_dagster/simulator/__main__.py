"""`python -m restsync_dagster.simulator`: run the five simulated APIs until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence
from urllib.parse import parse_qsl

from restsync_dagster.simulator import (
    DEFAULT_HISTORY_DAYS,
    DEFAULT_LOGIN_PORT,
    DEFAULT_PORT,
    Simulator,
)
from restsync_dagster.simulator.catalog import APIS
from restsync_dagster.simulator.flavours import flavour_names, flavours_for


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="restsync simulate", description="The local simulator of the five APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--login-port", type=int, default=DEFAULT_LOGIN_PORT)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--rate-limit", type=float, default=0, help="requests per second per API (0: none)")
    parser.add_argument("--count", action="append", default=[], metavar="API.RESOURCE=N")
    parser.add_argument(
        "--history-days", type=float, default=DEFAULT_HISTORY_DAYS, metavar="DAYS",
        help=f"how far back records' created/updated timestamps reach, ending 2025-12-31 (default {DEFAULT_HISTORY_DAYS}; "
        "e.g. 1095 for three years of history to backfill)",
    )
    parser.add_argument("--pad-bytes", type=int, default=0, help="add a filler field of N characters to every record")
    parser.add_argument("--mutate-every", type=float, default=0, metavar="SECONDS")
    parser.add_argument("--mutate-fraction", type=float, default=0.01)
    parser.add_argument(
        "--fault", action="append", default=[], metavar="API:KIND[:RESOURCE[:COUNT]][?K=V&...]",
        help="inject a fault, e.g. 'service_desk:status:agents:3?status=503&retry_after=2' (COUNT -1: until stopped); "
        "see docs/faults.md",
    )
    parser.add_argument(
        "--flavor", "--flavour", action="append", default=[], metavar="API:NAME", dest="flavor",
        help="answer as another real vendor would, e.g. 'ticket_desk:zoho' (repeatable; one per API). Flavours: "
        + "; ".join(f"{api}: {', '.join(flavour_names(api))}" for api in APIS),
    )
    return parser.parse_args(argv)


def parse_flavors(specs: Sequence[str]) -> dict[str, str]:
    """`API:NAME` items -> {api: name}; a malformed or repeated API is refused."""
    chosen: dict[str, str] = {}
    for spec in specs:
        api, _, name = spec.partition(":")
        if not api or not name or api in chosen:
            raise SystemExit(f"--flavor {spec!r}: expected API:NAME, one per API")
        chosen[api] = name
    return chosen


def parse_fault(spec: str) -> tuple[str, str, Optional[str], Optional[int], dict[str, str]]:
    """`API:KIND[:RESOURCE[:COUNT]][?K=V&...]` -> (api, kind, resource, count, params)."""
    head, _, query = spec.partition("?")
    parts = head.split(":")
    if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
        raise SystemExit(f"--fault {spec!r}: expected API:KIND[:RESOURCE[:COUNT]][?K=V&...]")
    resource = parts[2] if len(parts) > 2 and parts[2] else None
    count = int(parts[3]) if len(parts) > 3 and parts[3] else None
    return parts[0], parts[1], resource, count, dict(parse_qsl(query))


def main(argv: Optional[Sequence[str]] = None, stop: Optional[threading.Event] = None) -> int:
    args = parse_args(argv)
    counts = {}
    for item in args.count:
        key, _, value = item.partition("=")
        counts[key] = int(value)
    try:
        flavors = parse_flavors(args.flavor)
        flavours_for(flavors, APIS)  # refused before any port is bound
    except ValueError as exc:
        raise SystemExit(f"--flavor: {exc}") from None
    sim = Simulator(
        port=args.port, login_port=args.login_port, seed=args.seed, scale=args.scale, latency_ms=args.latency_ms,
        counts=counts, token_ttl_seconds=args.token_ttl, rate_limit_per_second=args.rate_limit or None, host=args.host,
        pad_bytes=args.pad_bytes, flavors=flavors, history_days=args.history_days,
    ).start()
    for spec in args.fault:
        api, kind, resource, count, params = parse_fault(spec)
        try:
            sim.inject_fault(api, kind, resource=resource, count=count, **params)
        except ValueError as exc:
            sim.stop()
            raise SystemExit(f"--fault {spec!r}: {exc}") from None
    if args.mutate_every:
        sim.start_mutator(args.mutate_every, args.mutate_fraction)
    print(f"simulator listening on http://{args.host}:{sim.port} (login host :{sim.login_port})", flush=True)
    for api, name in sorted(flavors.items()):
        print(f"flavour {api}: {name} ({sim.flavours[api].summary})", flush=True)
    for key, value in sorted(sim.env().items()):
        print(f"export {key}={value}", flush=True)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
