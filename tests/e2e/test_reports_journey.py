"""Running a report from the Reports page and downloading its file from the run history."""
from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path
from typing import Any

from .pages import table_rows


def test_run_now_records_a_run_and_its_file_downloads_with_the_rows_it_reported(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/reports/")
    form = page.locator("form[action$='/run']:has(input[name=report][value=activity])")
    form.locator("select[name=period]").select_option("last-7-days")
    with page.expect_navigation():
        form.locator("button:text-is('Run now')").click()
    flash = page.locator(".alert-info").inner_text()  # REPORT_RUN_NOW_WAIT=0: it answered before the file was done
    run_id = re.search(r"run (\d+) is (queued|running) in the background", flash).group(1)
    row = page.locator(f"table.report-history tr[data-run='{run_id}']")
    row.and_(page.locator("[data-status=succeeded]")).wait_for()  # its row refreshed itself, no reload
    assert page.locator(".alert-info").count() == 1  # the same page: the flash is still there
    latest = table_rows(page, "table.report-history")[0]
    assert (latest["Run"], latest["Report"], latest["Status"]) == (run_id, "activity", "succeeded")
    rows_reported = int(latest["Rows"].replace(",", ""))
    assert rows_reported > 0  # the seeded history has a week of events
    with page.expect_download() as info:
        page.locator("table.report-history tbody tr").first.locator("a:text-is('Download')").click()
    download = info.value
    data = Path(download.path()).read_bytes()
    if download.suggested_filename.endswith(".gz"):
        data = gzip.decompress(data)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert len(rows) == rows_reported
    assert list(rows[0]) == ["at", "model", "id", "action", "actor_id", "actor_email", "label"]
    assert rows == sorted(rows, key=lambda r: r["at"], reverse=True)

