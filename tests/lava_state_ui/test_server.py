"""lava_state_ui.server: the JSON endpoints, the read-only guard, the Host check and the
security headers, through Flask's test client on a real realm; the server itself over
real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from consumer_sdk import StateClient
from lava_state.model import SECRET_MASK
from lava_state_local import LocalAws
from lava_state_ui import CSP, ChangeFeed, UiServer, allowed_hosts, create_app
from publisher import StatePublisher
from tests.conftest import wait_until
from tests.lava_state_ui.conftest import get

BASE = "http://127.0.0.1:8765"
XSS_ID = "<img src=x onerror=alert(1)>"


@pytest.fixture
def web(client: StateClient) -> FlaskClient:
    """The view's app (its feed not started: no live changes) as a test client on port 8765."""
    app = create_app(client, ChangeFeed(client), hosts=allowed_hosts("127.0.0.1", 8765))
    return app.test_client()


def body(response: Any) -> Any:
    return json.loads(response.get_data(as_text=True))


def test_items_lists_live_items_sorted_with_metadata_never_values(
    web: FlaskClient, publisher: StatePublisher
) -> None:
    publisher.put("jobs/b", {"rows": 2}, publisher="loader")
    publisher.put("jobs/a", "plain", type="raw")
    publisher.put("other", 1)
    publisher.put("jobs/a", "again", type="raw")

    response = web.get("/api/items", base_url=BASE)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    rows = body(response)["items"]
    assert [row["state_id"] for row in rows] == ["jobs/a", "jobs/b", "other"]
    first = rows[0]
    assert first["type"] == "raw"
    assert first["version"] == 2
    assert first["publisher"] == "tests"
    assert isinstance(first["ttl"], int)
    assert first["timestamp"]
    assert rows[1]["publisher"] == "loader"
    assert all("value" not in row for row in rows)
    assert "again" not in response.get_data(as_text=True)


def test_items_filters_by_prefix(web: FlaskClient, publisher: StatePublisher) -> None:
    publisher.put("jobs/a", 1)
    publisher.put("jobsx", 1)
    publisher.put("other", 1)

    rows = body(web.get("/api/items?prefix=jobs/", base_url=BASE))["items"]

    assert [row["state_id"] for row in rows] == ["jobs/a"]


def test_an_expired_item_is_not_listed(web: FlaskClient, publisher: StatePublisher) -> None:
    publisher.put("short", 1, ttl=1)
    publisher.put("long", 1)

    def listed() -> list[str]:
        return [row["state_id"] for row in body(web.get("/api/items", base_url=BASE))["items"]]

    assert wait_until(lambda: listed() == ["long"], timeout=10)


def test_item_shows_json_pretty_printed_and_raw_text_as_is(
    web: FlaskClient, publisher: StatePublisher
) -> None:
    publisher.put("config", {"b": [1, 2], "a": "x"})
    publisher.put("note", "line one\nline two", type="raw")

    config = body(web.get("/api/item?id=config", base_url=BASE))
    note = body(web.get("/api/item?id=note", base_url=BASE))

    assert config["found"] is True
    assert json.loads(config["value"]) == {"b": [1, 2], "a": "x"}
    assert "\n  " in config["value"]  # indented
    assert config["masked"] is False
    assert config["row"]["version"] == 1
    assert note["value"] == "line one\nline two"


def test_a_secure_value_is_masked_and_never_sent(
    web: FlaskClient, publisher: StatePublisher
) -> None:
    publisher.put("db-password", "hunter2-secret", type="secure")

    response = web.get("/api/item?id=db-password", base_url=BASE)

    shown = body(response)
    assert shown["value"] == SECRET_MASK
    assert shown["masked"] is True
    assert shown["row"]["type"] == "secure"
    assert "hunter2" not in response.get_data(as_text=True)
    # No parameter reveals it.
    for query in ("&reveal=1", "&decrypt=true", "&reveal=true"):
        again = web.get(f"/api/item?id=db-password{query}", base_url=BASE)
        assert "hunter2" not in again.get_data(as_text=True)


def test_an_id_with_markup_is_sent_as_json_text(
    web: FlaskClient, publisher: StatePublisher
) -> None:
    publisher.put(XSS_ID, "<script>alert(1)</script>", type="raw")

    rows = body(web.get("/api/items", base_url=BASE))["items"]
    shown = body(web.get("/api/item", query_string={"id": XSS_ID}, base_url=BASE))

    assert rows[0]["state_id"] == XSS_ID
    assert shown["value"] == "<script>alert(1)</script>"


def test_an_absent_item_is_404_and_a_missing_id_400(web: FlaskClient) -> None:
    absent = web.get("/api/item?id=nothing-here", base_url=BASE)
    missing = web.get("/api/item", base_url=BASE)

    assert absent.status_code == 404
    assert body(absent)["found"] is False
    assert missing.status_code == 400
    assert "id" in body(missing)["error"]


def test_status_names_the_realm_and_says_read_only(web: FlaskClient, realm: str) -> None:
    status = body(web.get("/api/status", base_url=BASE))

    assert status["realm"] == realm
    assert status["read_only"] is True
    assert status["live"] is False  # this feed was never started


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_other_method_is_refused_and_changes_nothing(
    web: FlaskClient, publisher: StatePublisher, client: StateClient, method: str
) -> None:
    publisher.put("kept", {"v": 1})

    for path in ("/", "/api/item?id=kept", "/api/items", "/api/events"):
        response = web.open(path, method=method, base_url=BASE, json={"value": 2})
        assert response.status_code == 405, path
        assert response.headers["Allow"] == "GET, HEAD"

    item = client.get("kept")
    assert item is not None
    assert item.value == {"v": 1}
    assert item.version == 1


def test_no_route_accepts_a_method_that_writes(web: FlaskClient) -> None:
    assert web.application.url_map is not None
    methods = {method for rule in web.application.url_map.iter_rules() for method in rule.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8765",  # a rebinding site's name resolved to 127.0.0.1
        "evil.example",
        "127.0.0.1:9999",
        "localhost",
        "127.0.0.1.evil.example:8765",
    ],
)
def test_a_foreign_host_header_is_refused(web: FlaskClient, host: str) -> None:
    response = web.get("/api/items", headers={"Host": host})

    assert response.status_code == 421
    assert response.headers["Content-Security-Policy"] == CSP
    assert "items" not in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LOCALHOST:8765"])
def test_the_servers_own_host_names_are_served(web: FlaskClient, host: str) -> None:
    assert web.get("/api/status", headers={"Host": host}).status_code == 200


def test_allowed_hosts_are_the_loopback_names_and_the_given_host() -> None:
    assert allowed_hosts("127.0.0.1", 8765) == {
        "127.0.0.1:8765",
        "localhost:8765",
        "[::1]:8765",
    }
    # On port 80 browsers send the name alone.
    assert allowed_hosts("ui.internal", 80) == {
        "127.0.0.1:80",
        "localhost:80",
        "[::1]:80",
        "ui.internal:80",
        "127.0.0.1",
        "localhost",
        "[::1]",
        "ui.internal",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/static/app.js"),
        ("GET", "/static/style.css"),
        ("GET", "/api/items"),
        ("GET", "/api/status"),
        ("GET", "/api/item?id=absent"),
        ("GET", "/api/item"),
        ("GET", "/no/such/page"),
        ("GET", "/static/../server.py"),
        ("POST", "/api/items"),
    ],
)
def test_every_response_carries_the_strict_csp(web: FlaskClient, method: str, path: str) -> None:
    response = web.open(path, method=method, base_url=BASE)

    csp = response.headers["Content-Security-Policy"]
    assert csp == CSP
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_page_has_no_inline_script_or_style(web: FlaskClient) -> None:
    page = web.get("/", base_url=BASE).get_data(as_text=True)
    script = web.get("/static/app.js", base_url=BASE).get_data(as_text=True)

    assert '<script src="/static/app.js"' in page
    assert "<script>" not in page
    assert "style=" not in page
    assert " on" not in page.replace(" one", "")  # no onclick= and such
    assert "innerHTML" not in script.replace("never innerHTML", "")
    assert "insertAdjacentHTML" not in script
    assert "eval(" not in script


def test_static_files_outside_the_folder_are_not_served(web: FlaskClient) -> None:
    for path in ("/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/feed.py"):
        assert web.get(path, base_url=BASE).status_code == 404


def test_the_server_serves_the_page_and_refuses_a_foreign_host(ui: UiServer) -> None:
    status, headers, page = get(ui.url, "/")
    refused, _, _ = get(ui.url, "/api/items", host=f"attacker.example:{ui.port}")
    by_name, _, _ = get(ui.url, "/api/status", host=f"localhost:{ui.port}")

    assert status == 200
    assert headers["Content-Security-Policy"] == CSP
    assert b"lava-state" in page
    assert refused == 421
    assert by_name == 200


def test_a_busy_port_is_an_oserror(local_aws: LocalAws, ui: UiServer, client: StateClient) -> None:
    with pytest.raises(OSError) as raised, UiServer(client, port=ui.port):
        pass
    assert raised.value.errno is not None
