"""The web session's reads on PostgreSQL: a GET reads in autocommit (no BEGIN, no ROLLBACK), a POST and a
streamed read in a transaction."""
from __future__ import annotations

import time

import pytest
from flask import Flask
from sqlalchemy import select, text

from admin_app.extensions import db
from admin_app.models import User
from tests.conftest import Client


def same_transaction() -> str:
    """'yes' when two reads a few ms apart ran in one transaction (now() is the transaction's start)."""
    first = db.session.scalar(text("SELECT now()"))
    time.sleep(0.01)
    return "yes" if db.session.scalar(text("SELECT now()")) == first else "no"


def streamed_in_a_transaction() -> str:
    """A yield_per read: a server-side cursor on PostgreSQL, which needs a transaction."""
    return str(len(list(db.session.scalars(select(User.id).execution_options(yield_per=10)))))


@pytest.fixture
def routes(app: Flask, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite sends no BEGIN for reads: there is nothing to save")
    app.add_url_rule("/test/tx", "test_tx", same_transaction, methods=["GET", "POST"])
    app.add_url_rule("/test/streamed", "test_streamed", streamed_in_a_transaction)
    app.config["WTF_CSRF_ENABLED"] = False


def test_a_get_reads_in_autocommit_and_a_post_in_a_transaction(client: Client, routes: None) -> None:
    assert client.get("/test/tx").get_data(as_text=True) == "no"
    assert client.post("/test/tx").get_data(as_text=True) == "yes"


def test_a_streamed_read_in_a_get_gets_a_transaction(client: Client, routes: None, admin_user: User) -> None:
    answer = client.get("/test/streamed")
    assert answer.status_code == 200 and int(answer.get_data(as_text=True)) >= 1  # not "DECLARE CURSOR can only ..."
