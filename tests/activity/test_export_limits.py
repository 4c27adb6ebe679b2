"""CSV exports written at once are capped (EXPORT_CONCURRENCY): one more is a 503 that says so, with Retry-After."""
from __future__ import annotations

from flask import Flask

from flask_activity.admin.export import export_slots
from tests.conftest import Client


def test_an_export_over_the_concurrency_cap_is_a_503_that_says_so(app: Flask, admin_client: Client) -> None:
    slots = export_slots(app)
    taken = 0
    while slots.acquire(blocking=False):  # every slot held, as by exports still being written
        taken += 1
    try:
        for path in ("/admin/activity/export.csv", "/admin/items/export/csv/"):
            response = admin_client.get(path)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "60"
            assert f"{taken} exports are being written right now" in response.get_data(as_text=True)
    finally:
        for _ in range(taken):
            slots.release()
    assert taken == app.config["EXPORT_CONCURRENCY"] == 4
    assert admin_client.get("/admin/activity/export.csv").status_code == 200
    assert admin_client.get("/admin/items/export/csv/").status_code == 200
    assert slots.acquire(blocking=False)  # each finished export gave its slot back
    slots.release()
