"""A built source lets go of every connection it opened, the token endpoint's included."""

from __future__ import annotations

from restsync_dagster.extract.plan import resolve_plan
from restsync_dagster.extract.source import build_source
from restsync_dagster.http.auth import RenewingOAuth2
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import shipped


def test_closing_a_built_source_releases_the_token_endpoint_connection(sim_env: Simulator) -> None:
    built = build_source(resolve_plan(shipped("ticket_desk")), {"organizations"})
    assert isinstance(built.auth, RenewingOAuth2)
    assert built.auth.current_token()  # a real POST to the simulator's token endpoint
    pools = built.auth.session.get_adapter(built.auth.access_token_url).poolmanager.pools
    assert len(pools) == 1  # the keep-alive connection to the token endpoint
    built.close()
    assert len(pools) == 0
