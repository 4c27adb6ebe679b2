"""Two admins racing each other through real HTTP on a real server (gunicorn, 2 workers x 4 threads), on SQLite
and PostgreSQL: 30 pairs per case, each pair's two requests released together.

The feed's promise is that it tells the truth: a deleted row is never edited afterwards, a deletion stays credited
to whoever deleted, and a save based on an old copy is refused with a message, never lost silently. Before the
audit mixin carried a version (flask_activity.admin.guarded), edits landed on deleted rows in 16 of 30 races on
SQLite and 22 of 30 on PostgreSQL, 26 of 30 deleters were overwritten, and 30 of 30 stale saves were lost silently.
"""
from __future__ import annotations

import http.client
import os
import re
import threading
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, select

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.config import TestConfig
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity.admin.guarded import OPENED
from flask_activity.testing import LiveServer
from tests.conftest import PASSWORD, fresh_database

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PAIRS = 30
ADMINS = ("racer-a@example.com", "racer-b@example.com")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_OPENED = re.compile(rf'name="{OPENED}"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="{OPENED}"')
_FLASH = re.compile(r'class="alert[^"]*"[^>]*>(.*?)</div>', re.S)


class Admin:
    """One logged-in admin's browser: a cookie jar of one cookie and http.client."""

    def __init__(self, server: LiveServer, email: str) -> None:
        self.server, self.email, self.cookie = server, email, ""
        page = self.get("/login")
        status, _ = self.post("/login", {"email": email, "password": PASSWORD, "csrf_token": csrf(page)})
        assert status == 302, f"{email} could not log in"

    def _send(self, method: str, path: str, body: str | None = None) -> tuple[int, http.client.HTTPMessage, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, answer, data = self.server.request(method, path, body, headers)
        for cookie in answer.get_all("Set-Cookie") or []:
            self.cookie = cookie.split(";")[0]
        return status, answer, data.decode()

    def get(self, path: str) -> str:
        status, _, page = self._send("GET", path)
        assert status == 200, (status, path)
        return page

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, str]:
        status, answer, page = self._send("POST", path, urlencode(data))
        return status, page if status != 302 else answer["Location"]

    def flashed(self) -> str:
        """The messages the next page shows (after a redirect)."""
        return " ".join(unescape(m) for m in _FLASH.findall(self.get("/admin/items/")))


def csrf(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def opened_form(admin: Admin, item_id: int) -> dict[str, Any]:
    """The edit form of an item as the admin's browser got it: its token and the version it was opened at."""
    page = admin.get(f"/admin/items/edit/?id={item_id}")
    found = _OPENED.search(page)
    assert found, "the edit form carries no opened version"
    return {"csrf_token": csrf(page), OPENED: found.group(1) or found.group(2)}


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once (each in its thread, released by one barrier); their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture(scope="module", params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def race(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server of each kind with two logged-in admins and 90 items to race on (one server per module and kind)."""
    tmp_path = tmp_path_factory.mktemp("race")
    with fresh_database(request.param, tmp_path_factory) as url:
        app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "race-key",
                          "INSTANCE_DIR": str(tmp_path), "PASSWORD_METHOD": TestConfig.PASSWORD_METHOD})
        with app.app_context():
            ids = [create_user(email, PASSWORD, "admin").id for email in ADMINS]
            bucketlist = Bucketlist(title="races", owner_id=ids[0])
            db.session.add(bucketlist)
            db.session.flush()
            items = [Item(bucketlist_id=bucketlist.id, title=f"race {i}") for i in range(3 * PAIRS)]
            db.session.add_all(items)
            db.session.commit()
            item_ids, bucketlist_id = [i.id for i in items], bucketlist.id
            db.session.remove()
            db.engine.dispose()
        env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED", "FLASK_DEBUG")}
        env.update(DATABASE_URL=url, SECRET_KEY="race-key", INSTANCE_DIR=str(tmp_path), PYTHONPATH=str(ROOT),
                   RATELIMIT_STORAGE_URI="memory://")
        with LiveServer(env, tmp_path / "server.log", workers=2, threads=4, cwd=ROOT) as server:
            a, b = (Admin(server, email) for email in ADMINS)
            engine = create_engine(url)
            yield {"a": a, "b": b, "ids": dict(zip(ADMINS, ids, strict=True)), "items": item_ids,
                   "bucketlist": bucketlist_id, "engine": engine}
            engine.dispose()


def rows(race: dict[str, Any], ids: list[int]) -> dict[int, Any]:
    with race["engine"].connect() as conn:
        return {r.id: r for r in conn.execute(select(Item.__table__).where(Item.id.in_(ids)))}


def test_an_edit_racing_a_delete_never_lands_on_the_deleted_row_nor_takes_the_deletion(race):
    a, b, ids = race["a"], race["b"], race["items"][:PAIRS]
    a_id, b_id = (race["ids"][admin.email] for admin in (a, b))
    b_told = {}
    for item_id in ids:
        form = opened_form(a, item_id)
        delete = {"id": str(item_id), "csrf_token": csrf(b.get("/admin/items/"))}
        together(lambda item_id=item_id, form=form: a.post(
                     f"/admin/items/edit/?id={item_id}",
                     {**form, "title": f"edited {item_id}", "bucketlist": str(race["bucketlist"])}),
                 lambda delete=delete: b.post("/admin/items/delete/", delete))
        b_told[item_id] = b.flashed()
    found = rows(race, ids)
    deleted = [r for r in found.values() if r.deleted_at is not None]
    edited_after_deletion = [r.id for r in deleted if r.updated_at > r.deleted_at or r.version > 3]
    misattributed = [r.id for r in deleted if r.updated_by_id != b_id or r.updated_at != r.deleted_at]
    assert edited_after_deletion == [] and misattributed == []
    # Where A's save came between B's read and B's delete, the delete was refused, and B was told by whom.
    kept = [r for r in found.values() if r.deleted_at is None]
    assert all(r.title == f"edited {r.id}" and r.updated_by_id == a_id and r.version == 2 for r in kept)
    assert all(f"was changed by {a.email}" in b_told[r.id] and "nothing was deleted" in b_told[r.id] for r in kept)
    assert deleted, "no delete won a race: the races did not race"


def test_two_admins_saving_one_item_never_lose_an_update_without_a_message(race):
    a, b, ids = race["a"], race["b"], race["items"][PAIRS:2 * PAIRS]
    outcomes = []
    for item_id in ids:
        forms = [opened_form(admin, item_id) for admin in (a, b)]
        results = together(*[lambda admin=admin, form=form, item_id=item_id: admin.post(
            f"/admin/items/edit/?id={item_id}", {**form, "title": f"by {admin.email} {item_id}",
                                                 "bucketlist": str(race["bucketlist"])})
            for admin, form in zip((a, b), forms, strict=True)])
        outcomes.append((item_id, results))
    found = rows(race, ids)
    lost_silently = []
    for item_id, results in outcomes:
        saved = [admin for admin, (status, _) in zip((a, b), results, strict=True) if status == 302]
        told = [admin for admin, (status, page) in zip((a, b), results, strict=True)
                if status == 200 and "since you opened it" in unescape(page)]
        assert len(saved) == 1 and len(told) == 1, (item_id, [r[0] for r in results])
        if found[item_id].title != f"by {saved[0].email} {item_id}" or found[item_id].version != 2:
            lost_silently.append(item_id)
    assert lost_silently == []


def test_two_admins_deleting_one_item_record_one_deletion_and_the_second_is_told_by_whom(race):
    a, b, ids = race["a"], race["b"], race["items"][2 * PAIRS:]
    told = 0
    for item_id in ids:
        tokens = [csrf(admin.get("/admin/items/")) for admin in (a, b)]
        together(*[lambda admin=admin, token=token, item_id=item_id: admin.post(
            "/admin/items/delete/", {"id": str(item_id), "csrf_token": token})
            for admin, token in zip((a, b), tokens, strict=True)])
        messages = [admin.flashed() for admin in (a, b)]
        told += sum("was deleted by" in m for m in messages)
    found = rows(race, ids)
    by = {race["ids"][email] for email in ADMINS}
    assert all(r.deleted_at is not None and r.updated_at == r.deleted_at and r.updated_by_id in by
               and r.version == 2 for r in found.values())  # one deletion each, credited to its deleter
    assert told == PAIRS  # and each pair's other admin was told who deleted it and when
