"""No secret value ever leaves: every API runs with recognizable secrets at DEBUG, then everything is grepped.

Grepped: every event record of every run (messages, metadata, errors) and the runs themselves (run
config, tags), the captured log records and stdout/stderr, every file the Dagster instance and dlt
wrote (event log database, compute logs, pipeline state and traces), and the exceptions of failed
runs. Searched for: each secret, its base64 forms (basic auth headers), and every access token the
simulator issued during the runs.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance, materialize
from dagster._serdes import serialize_value
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.loading import load_api_config
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import API_NAMES
from restsync_dagster_tests.support.faults_helpers import QUICK, with_handling
from restsync_dagster_tests.support.helpers import shipped
from restsync_dagster_tests.support.paths import CONFIGS

MARK = "LeakCanary"
SECRETS = {
    "shared_inbox": {"client_id": f"{MARK}-si-client-41b7", "client_secret": f"{MARK}-si-secret-90ce"},
    "service_desk": {"api_key": f"{MARK}-sd-key-3f0a"},
    "directory": {"client_id": f"{MARK}-dir-client-77d1", "client_secret": f"{MARK}-dir-secret-c4e2"},
    "messaging": {"access_token": f"{MARK}-msg-token-5b9f"},
    "ticket_desk": {
        "client_id": f"{MARK}-td-client-0a6e",
        "client_secret": f"{MARK}-td-secret-e81d",
        "refresh_token": f"{MARK}-td-refresh-2d5c",
    },
}


def encoded_forms(values: list[str]) -> list[str]:
    """base64 of each value and of `user:password` pairs, with and without padding."""
    forms = []
    pairs = [f"{SECRETS['service_desk']['api_key']}:X"]
    for api in ("shared_inbox", "directory", "ticket_desk"):
        pairs.append(f"{SECRETS[api]['client_id']}:{SECRETS[api]['client_secret']}")
    for text in values + pairs:
        encoded = base64.b64encode(text.encode()).decode()
        forms += [encoded, encoded.rstrip("="), base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")]
    return forms


def files_under(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path


@pytest.fixture
def leaky_sim(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(port=0, login_port=0, credentials=SECRETS) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
        yield sim


def test_no_secret_appears_in_events_logs_files_or_errors(
    leaky_sim: Simulator, workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("dlt", "urllib3", "requests", "restsync_dagster", "dagster"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    home = workdir / "dagster_home"
    home.mkdir()
    instance = DagsterInstance.local_temp(str(home))
    sim = leaky_sim
    # make the runs exercise retries, renewals after a 401, token endpoint retries and failures
    sim.inject_fault("service_desk", "status", "agents", count=2, status=503)
    sim.inject_fault("shared_inbox", "expire_token", "customers", after=3)
    sim.inject_fault("ticket_desk", "token_endpoint_error", count=1, status=502)
    sim.inject_fault("directory", "status", "groups", status=404)
    sim.inject_fault("messaging", "malformed_json", "accounts")

    # a control: a value that is no secret, logged the way dlt logs, must be found by the grep below
    control = f"{MARK}-control-not-a-secret"
    logging.getLogger("dlt").warning("control value %s", control)
    logging.getLogger("urllib3.connectionpool").debug("control value %s", control)
    run_ids, failures = [], []
    for api_name in API_NAMES:
        api = with_handling(shipped(api_name), **QUICK)
        result = materialize([build_api_assets(api)], resources={"dlt": DagsterDltResource()}, instance=instance, raise_on_error=False)
        run_ids.append(result.run_id)
    # and failing runs: a wrong API key (401 from the API), a wrong client secret (401 from the token endpoint)
    monkeypatch.setenv("SOURCES__SERVICE_DESK__API_KEY", f"{MARK}-wrong-key-1111")
    monkeypatch.setenv("SOURCES__DIRECTORY__CLIENT_SECRET", f"{MARK}-wrong-secret-2222")
    for api_name in ("service_desk", "directory"):
        try:
            result = materialize([build_api_assets(shipped(api_name))], resources={"dlt": DagsterDltResource()}, instance=instance)
        except Exception as exc:  # noqa: BLE001 - the exception text is what we grep
            failures.append(f"{type(exc).__name__}: {exc}\n{exc.__cause__!r}\n{exc.__context__!r}")
        else:
            run_ids.append(result.run_id)
    assert len(failures) == 2, "the wrong secrets were expected to fail their runs"

    issued = [token for token in sim.state.tokens._tokens]  # noqa: SLF001 - every access token the runs got
    assert issued, "no OAuth2 token was issued: the test would prove little"
    plain = [value for creds in SECRETS.values() for value in creds.values()]
    plain += [f"{MARK}-wrong-key-1111", f"{MARK}-wrong-secret-2222"]
    needles = plain + encoded_forms(plain) + issued

    haystacks: dict[str, str] = {}
    for run_id in instance.get_run_ids():
        haystacks[f"run {run_id}"] = serialize_value(instance.get_run_by_id(run_id))
        haystacks[f"events {run_id}"] = "\n".join(serialize_value(entry) for entry in instance.all_logs(run_id))
    haystacks["log records"] = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    captured = capfd.readouterr()
    haystacks["stdout"], haystacks["stderr"] = captured.out, captured.err
    haystacks["exceptions"] = "\n".join(failures)
    for folder in (home, workdir / "dlt", workdir / "data"):
        for path in files_under(folder):
            haystacks[str(path)] = path.read_bytes().decode("utf-8", errors="replace")

    assert len(instance.get_run_ids()) == len(API_NAMES) + 2
    assert sum(len(text) for text in haystacks.values()) > 100_000, "too little was captured to prove anything"
    everything = "\n".join(haystacks.values())
    assert "with params=" in everything and "headers=" in everything, "dlt did not log requests at DEBUG"
    assert control in haystacks["log records"], "the grep does not see the logs"
    leaks = sorted({(where, needle[:12]) for where, text in haystacks.items() for needle in needles if needle and needle in text})
    print(f"secrets searched: {len(needles)} forms; places searched: {len(haystacks)}; leaks: {len(leaks)}")
    assert leaks == [], leaks[:20]


def test_a_plain_text_secret_in_yaml_warns_pointing_to_secrets_toml(tmp_path: Path) -> None:
    from restsync_dagster.config.settings import warn_plaintext_secrets

    text = (CONFIGS / "ticket_desk.yaml").read_text()
    path = tmp_path / "ticket_desk.yaml"
    path.write_text(text.replace("${secrets.refresh_token}", "1000.abcdef123456"))
    api = load_api_config(path)
    with pytest.warns(UserWarning) as warned:
        assert warn_plaintext_secrets(api) == ["client.auth.refresh_token"]
    message = str(warned[0].message)
    assert ".dlt/secrets.toml" in message and "SOURCES__TICKET_DESK__" in message and "1000.abcdef123456" not in message


def test_a_secret_in_any_logger_is_redacted_including_child_loggers_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    from restsync_dagster.config.redaction import protect

    secret = f"{MARK}-query-key-6e2a"
    protect([secret])
    caplog.set_level(logging.DEBUG)
    # urllib3 logs full URLs from a child logger: an API key sent as a query parameter would show
    logging.getLogger("urllib3.connectionpool").debug('"GET /v1/items?api_key=%s HTTP/1.1" 200 12', secret)
    logging.getLogger("some.library").info("token %s", secret)
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logging.getLogger("dagster").exception("boom")
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert text.count("***") >= 3 and secret not in text and secret not in caplog.text


def test_a_secret_in_a_header_or_a_query_param_is_redacted_like_an_auth_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from restsync_dagster.config.settings import resolve_params

    path = tmp_path / "helpdesk.yaml"
    path.write_text(
        "client: {base_url: https://api.example.com}\n"
        "resources:\n"
        "  - name: tickets\n"
        "    endpoint: {path: /tickets, headers: {X-Key: '${secrets.header_key}'}, params: {token: '${secrets.param_token}'}}\n"
    )
    header_secret, param_secret = f"{MARK}-header-5b1c", f"{MARK}-param-9d3e"
    monkeypatch.setenv("SOURCES__HELPDESK__HEADER_KEY", header_secret)
    monkeypatch.setenv("SOURCES__HELPDESK__PARAM_TOKEN", param_secret)
    api = load_api_config(path)
    params, headers = resolve_params(api, api.resource("tickets"))
    assert (headers["X-Key"], params["token"]) == (header_secret, param_secret)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug('"GET /tickets?token=%s HTTP/1.1" 200 12', params["token"])
    logging.getLogger("restsync_dagster.http.session").debug("headers: {'X-Key': '%s'}", headers["X-Key"])
    assert header_secret not in caplog.text and param_secret not in caplog.text and caplog.text.count("***") == 2


@pytest.mark.parametrize(
    ("value", "problem"),
    [("tok-1234\n", "ends with a newline"), ("\ttok-1234", "starts with a tab"), ("tok\r\n1234", "contains a carriage return")],
)
def test_a_secret_with_a_control_character_fails_naming_the_variable_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    from restsync_dagster.config.errors import (
        InvalidLiteralSecretError,
        InvalidSettingError,
    )
    from restsync_dagster.config.settings import resolve_client

    path = tmp_path / "helpdesk.yaml"
    path.write_text("client: {base_url: https://api.example.com, auth: {type: bearer, token: '${secrets.token}'}}\n"
                    "resources: [{name: tickets, endpoint: {path: /tickets}}]\n")
    monkeypatch.setenv("SOURCES__HELPDESK__TOKEN", value)
    with pytest.raises(InvalidSettingError) as raised:
        resolve_client(load_api_config(path))
    message = str(raised.value)
    assert f"{path}" in message and "client.auth.token" in message and "SOURCES__HELPDESK__TOKEN" in message
    assert problem in message and "remove it" in message and "1234" not in message

    literal = tmp_path / "literal.yaml"  # the same value written into the YAML itself
    literal.write_text(
        "client: {base_url: https://api.example.com, auth: {type: bearer, token: " + json.dumps(value) + "}}\n"
        "resources: [{name: tickets, endpoint: {path: /tickets}}]\n"
    )
    with pytest.warns(UserWarning), pytest.raises(InvalidLiteralSecretError) as raised_literal:
        api = load_api_config(literal)
        from restsync_dagster.config.settings import warn_plaintext_secrets

        warn_plaintext_secrets(api)
        resolve_client(api)
    literal_message = str(raised_literal.value)
    assert f"{literal}" in literal_message and "client.auth.token" in literal_message and problem in literal_message
    assert "1234" not in literal_message
