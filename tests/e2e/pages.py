"""Reading the app's pages the way a person does: table rows by their headers, not by markup details."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

FEED_HEADERS = ("Time", "Model", "ID", "Action", "By", "Record")


def table_rows(page: Any, table: str = "table.feed-table") -> list[dict[str, str]]:
    """Rows of a table as {header text: cell text}; the header row must name every column."""
    return page.eval_on_selector(table, """t => {
        const heads = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
        return [...t.querySelectorAll('tbody tr')].filter(tr => tr.cells.length === heads.length)
            .map(tr => Object.fromEntries([...tr.cells].map((td, i) => [heads[i], td.innerText.trim()])));
    }""")


def feed_rows(page: Any) -> list[dict[str, str]]:
    """The feed table's events; the time column's header carries the zone, so it is keyed as 'Time'."""
    rows = table_rows(page)
    return [{("Time" if k.startswith("Time") else k): v for k, v in row.items()} for row in rows]


def event_keys(rows: list[dict[str, str]]) -> list[tuple[str, int, str]]:
    return [(r["Model"], int(r["ID"]), r["Action"]) for r in rows]


def feed_json(page: Any, **args: Any) -> dict[str, Any]:
    """GET feed.json with the page's own cookies (what the feed's JSON link returns)."""
    response = page.request.get("/admin/activity/feed.json?" + urlencode(args, doseq=True))
    assert response.status == 200, response.text()
    return response.json()


#: The pages name a model as the navbar does; JSON, CSV and URLs keep the feed's names.
SHOWN = {"item": "Items", "bucketlist": "Bucketlists", "user": "Users"}


def json_keys(events: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """Events of feed.json keyed as the page shows them (the model by its navbar name)."""
    return [(SHOWN[e["model"]], e["id"], e["action"]) for e in events]
