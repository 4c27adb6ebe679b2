"""What one request may ask for: caps on the query string, search words and list filters (a 400 that says the cap),
a body over MAX_CONTENT_LENGTH refused (413), and unknown parameters never copied into a page's links."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from admin_app import ConfigError
from admin_app.config import from_environment
from tests.conftest import Client

#: The model lists and the activity feed, as a page, JSON and CSV.
PATHS = ("/admin/items/", "/admin/items/export/csv/", "/admin/activity/", "/admin/activity/feed.json",
         "/admin/activity/export.csv")


def message(response) -> str:
    return response.get_json()["error"] if response.is_json else response.get_data(as_text=True)


@pytest.mark.parametrize("path", PATHS)
def test_a_query_string_over_its_cap_is_a_400_saying_the_cap(viewer_client: Client, path: str) -> None:
    response = viewer_client.get(f"{path}?{urlencode({'since': 'x' * 8200})}")
    assert response.status_code == 400
    assert "the limit is 8,192" in message(response)


@pytest.mark.parametrize("path", ["/admin/items/", "/admin/items/export/csv/", "/admin/users/"])
def test_a_search_over_its_word_cap_is_a_400_saying_the_cap(viewer_client: Client, path: str) -> None:
    words = " ".join(f"w{i}" for i in range(21))
    response = viewer_client.get(f"{path}?{urlencode({'search': words})}")
    assert response.status_code == 400
    assert "21 words; the limit is 20" in message(response)
    assert viewer_client.get(f"{path}?{urlencode({'search': words.rsplit(' ', 1)[0]})}").status_code == 200


def test_a_list_over_its_filter_cap_is_a_400_saying_the_cap(viewer_client: Client) -> None:
    too_many = urlencode([(f"flt{i}_0", "x") for i in range(21)])
    response = viewer_client.get(f"/admin/items/?{too_many}")
    assert response.status_code == 400
    assert "21 filters; the limit is 20" in message(response)
    assert viewer_client.get(f"/admin/items/?{urlencode([(f'flt{i}_0', 'x') for i in range(20)])}").status_code == 200


def test_a_body_over_max_content_length_is_a_413_saying_the_limit(client: Client) -> None:
    response = client.post("/login", data={"email": "a@example.com", "password": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert "larger than 1,048,576 bytes" in response.get_data(as_text=True)
    # Werkzeug limits one multipart field to MAX_FORM_MEMORY_SIZE (500,000 bytes): a body under 1 MB, a field over.
    body = (b'--b\r\nContent-Disposition: form-data; name="password"\r\n\r\n' + b"x" * 600_000 + b"\r\n--b--\r\n")
    field = client.post("/login", data=body, content_type="multipart/form-data; boundary=b")
    assert field.status_code == 413
    assert "a field over 500,000 bytes" in field.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/items/", "/admin/users/", "/admin/", "/admin/activity/"])
def test_unknown_parameters_are_not_copied_into_the_links_of_a_page(admin_client: Client, path: str) -> None:
    junk = urlencode([(f"junk{i}", "x") for i in range(600)])  # ~7 KB, under the query string's cap
    plain = admin_client.get(path)
    padded = admin_client.get(f"{path}?{junk}")
    assert plain.status_code == padded.status_code == 200
    # The page once grew by the whole query string per link (25,000 parameters: 23.5 MB). Only the display
    # settings link keeps the address to come back to (percent-encoded once more), bounded by the 8 KB cap.
    grown = len(padded.get_data()) - len(plain.get_data())
    print(f"\n{path}: {len(junk):,}-byte query of 600 unknown parameters: page {len(plain.get_data()):,} -> "
          f"{len(padded.get_data()):,} bytes (+{grown:,}), copies: {padded.get_data(as_text=True).count('junk599')}")
    assert padded.get_data(as_text=True).count("junk599") <= 1
    assert grown < 2 * len(junk)


def test_the_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("WEB_STATEMENT_TIMEOUT", "2.5")
    monkeypatch.setenv("EXPORT_SEND_TIMEOUT", "30")
    monkeypatch.setenv("DATABASE_PING_IDLE", "0")
    settings = from_environment()
    assert (settings["MAX_CONTENT_LENGTH"], settings["WEB_STATEMENT_TIMEOUT"], settings["EXPORT_SEND_TIMEOUT"],
            settings["DATABASE_PING_IDLE"]) == (2048, 2.5, 30, 0.0)


@pytest.mark.parametrize(("name", "value"), [("MAX_CONTENT_LENGTH", "1MB"), ("MAX_SEARCH_WORDS", "0"),
                                             ("WEB_STATEMENT_TIMEOUT", "-1"), ("WEB_STATEMENT_TIMEOUT", "nan"),
                                             ("DATABASE_PING_IDLE", "soon"), ("EXPORT_CONCURRENCY", "")])
def test_a_limit_that_is_not_a_number_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, name: str,
                                                              value: str) -> None:
    monkeypatch.setenv(name, value)
    if value == "":  # unset, as every empty variable
        assert name not in from_environment()
        return
    with pytest.raises(ConfigError, match=f"^{name} must be a"):
        from_environment()
