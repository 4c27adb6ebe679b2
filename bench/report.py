"""The suite's report: issue 5's targets, the tables printed per run, the growth table and the targets summary."""
from __future__ import annotations

from typing import Any

from bench.measure import log

# Issue 5's targets: (figure key, comparison, value, text).
TARGET_FEED_QUERY_MS = 3.0
TARGET_FEED_JSON_MS = 10.0
TARGET_FEED_GROWTH = 1.5
TARGET_DEEP_RATIO = 1.5
TARGET_FILTERED_MS = 50.0
TARGET_PAGE_MS = 200.0
TARGET_CSV_FLOOR_RATIO = 0.5
TARGET_CSV_RSS_MB = 100.0
TARGETS = {"feed_query_ms": TARGET_FEED_QUERY_MS, "feed_json_ms": TARGET_FEED_JSON_MS,
           "feed_growth": TARGET_FEED_GROWTH, "deep_ratio": TARGET_DEEP_RATIO,
           "filtered_ms": TARGET_FILTERED_MS, "page_ms": TARGET_PAGE_MS,
           "csv_floor_ratio": TARGET_CSV_FLOOR_RATIO, "csv_rss_mb": TARGET_CSV_RSS_MB}


def check(value: float | None, limit: float, smaller: bool = True) -> str:
    if value is None:
        return "n/a"
    return "met" if (value <= limit if smaller else value >= limit) else "MISSED"


def rows_for(run: dict[str, Any]) -> list[tuple[str, ...]]:
    """(figure, median, p95, n, peer / ratio, target: status) lines for one database and size."""
    lines: list[tuple[str, ...]] = []

    def t(x: dict[str, Any]) -> tuple[str, str, str]:
        return f"{x['median_ms']:.2f} ms", f"{x['p95_ms']:.2f} ms", str(x["n"])

    f = run["feed"]
    naive = f.get("naive_pandas")
    nv = (f"naive pandas {naive['median_ms'] / 1000:.2f} s = "
          f"{naive['median_ms'] / f['query_layer']['median_ms']:,.0f}x") if naive and "median_ms" in naive \
        else "naive: skipped"
    lines.append(("feed p1, fetch_page", *t(f["query_layer"]), nv,
                  f"< {TARGET_FEED_QUERY_MS:g} ms: {check(f['query_layer']['median_ms'], TARGET_FEED_QUERY_MS)}"))
    lines.append(("feed p1, feed.json in-process", *t(f["feed_json_inprocess"]),
                  f"{f['feed_json_inprocess']['median_ms'] / f['query_layer']['median_ms']:.2f}x fetch_page",
                  f"< {TARGET_FEED_JSON_MS:g} ms: {check(f['feed_json_inprocess']['median_ms'], TARGET_FEED_JSON_MS)}"))
    if "feed_json_server" in f:
        lines.append(("feed p1, feed.json via server", *t(f["feed_json_server"]),
                      f"{f['feed_json_server']['median_ms'] / f['query_layer']['median_ms']:.2f}x fetch_page", ""))
    p = run["paging"]
    lines.append((f"page {p['depth']}, keyset", *t(p["deep_keyset"]), f"{p['keyset_over_page1']:.2f}x page 1",
                  f"<= {TARGET_DEEP_RATIO:g}x p1: {check(p['keyset_over_page1'], TARGET_DEEP_RATIO)}"))
    lines.append((f"page {p['depth']}, OFFSET {(p['depth'] - 1) * 50}", *t(p["deep_offset"]),
                  f"{p['offset_over_keyset']:,.1f}x keyset",
                  "same rows" if p["offset_same_rows_as_keyset"] else "ROWS DIFFER"))
    for name, x in run["filtered"].items():
        for via, key in (("fetch_page", "query_layer"), ("feed.json", "feed_json_inprocess")):
            lines.append((f"filter {name}, {via}", *t(x[key]), f"{x['rows']} rows",
                          f"< {TARGET_FILTERED_MS:g} ms: {check(x[key]['median_ms'], TARGET_FILTERED_MS)}"))
    for name, x in run["pages"].items():
        lines.append((f"page {name}", *t(x), "", f"< {TARGET_PAGE_MS:g} ms: {check(x['median_ms'], TARGET_PAGE_MS)}"))
    return lines


def csv_lines(run: dict[str, Any]) -> list[tuple[str, ...]]:
    c = run["csv"]
    floor_name = c["floor"]
    lines: list[tuple[str, ...]] = [("python + app created, idle", "", "", "", f"{c['app_baseline_rss_mb']:.1f} MB",
              "baseline of every Python child below")]
    for key in ("export_endpoint", "report_run", floor_name, "pandas_oneshot", "flask_admin_stock"):
        x = c.get(key)
        if x is None:
            continue
        if "skipped" in x:
            lines.append((key, "", "", "", "", f"skipped: {x['skipped']}"))
            continue
        ratio = f"{x['over_floor']:.2f}x {floor_name}" if "over_floor" in x else "(floor)"
        if x.get("rows_match_floor") is False:
            ratio += f" (ROW COUNT DIFFERS from {floor_name})"
        target = ""
        if key in ("export_endpoint", "report_run"):
            floor_status = check(x.get("over_floor"), TARGET_CSV_FLOOR_RATIO, False)
            target = (f">= {TARGET_CSV_FLOOR_RATIO:g}x floor: {floor_status}"
                      f"; RSS < {TARGET_CSV_RSS_MB:g} MB: {check(x['peak_rss_mb'], TARGET_CSV_RSS_MB)}")
        lines.append((key, f"{x['rows']:,}", f"{x['seconds']:.2f} s", f"{x['rows_per_s']:,}",
                      f"{x['peak_rss_mb']:.1f} MB", f"{ratio}  {target}".strip()))
    return lines


def load_lines(run: dict[str, Any]) -> list[tuple[str, ...]]:
    ld = run["load"]
    lines: list[tuple[str, ...]] = []
    for phase in ("idle", "with_writer"):
        for name, x in ld[phase].items():
            lines.append((f"{name} {'(writer)' if phase == 'with_writer' else ''}".strip(),
                          f"{x['requests_per_s']:,.1f}" if x["requests_per_s"] is not None else "-",
                          f"{x['p50_ms']:.1f} ms" if x["p50_ms"] is not None else "-",
                          f"{x['p99_ms']:.1f} ms" if x["p99_ms"] is not None else "-",
                          str(x["non_2xx"]), str(x["socket_errors"]),
                          f"0 errors: {check(x['errors'], 0)}"))
    return lines


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    log("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    log("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        log("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def print_run(run: dict[str, Any]) -> None:
    log()
    log(f"== {run['db']}, {run['items']:,} items, {run['events']:,} events "
        f"(seed {'cached' if run['seed'].get('cached') else 'made now'}: {run['seed'].get('seed_seconds')} s) ==")
    print_table(("figure", "median", "p95", "n", "peer / ratio", "target (issue 5)"), rows_for(run))
    if "csv" in run:
        log()
        print_table(("CSV, whole history", "rows", "seconds", "rows/s", "peak RSS", "vs floor / target"),
                    csv_lines(run))
    if "load" in run:
        ld = run["load"]
        log()
        log(f"  load: {ld['server']}; wrk {ld['wrk']}, {run['load']['idle']['dashboard']['seconds']} s each")
        print_table(("endpoint", "req/s", "p50", "p99", "non-2xx", "socket err", "target"), load_lines(run))
        if ld["server_log"]["tracebacks"]:
            log(f"  server log: {ld['server_log']['tracebacks']} tracebacks, first errors: "
                f"{ld['server_log']['first_errors']}")
        w = ld["writer"]
        locked = ld["locked_errors"]
        log(f"  writer: {w.get('transactions', 0):,} transactions ({w.get('updates', 0):,} item updates) in "
            f"{w.get('seconds')} s, 'database is locked': {w.get('locked', 0)} in the writer, "
            f"{ld['server_log_during_writer']['database_is_locked']} in the server log, other writer errors "
            f"{w.get('other_errors', 0)}; 0 locked: {check(locked, 0)}")
    for err in run.get("errors", []):
        log(f"  ERROR in {err}")


def figure_medians(run: dict[str, Any]) -> dict[str, float]:
    """Every timing of a run as name -> median ms (or rows/s, peak MB) for the growth table."""
    out: dict[str, float] = {}
    f = run.get("feed", {})
    for k, v in f.items():
        if isinstance(v, dict) and "median_ms" in v:
            out[f"feed p1, {k}"] = v["median_ms"]
    for k in ("deep_keyset", "deep_offset"):
        if k in run.get("paging", {}):
            out[f"page {run['paging']['depth']}, {k.split('_')[1]}"] = run["paging"][k]["median_ms"]
    for name, x in run.get("filtered", {}).items():
        for k in ("query_layer", "feed_json_inprocess"):
            out[f"filter {name}, {k}"] = x[k]["median_ms"]
    for name, x in run.get("pages", {}).items():
        out[f"page {name}"] = x["median_ms"]
    for key, x in run.get("csv", {}).items():
        if isinstance(x, dict) and "rows_per_s" in x:
            out[f"csv {key} rows/s"] = x["rows_per_s"]
            out[f"csv {key} peak RSS MB"] = x["peak_rss_mb"]
    for phase in ("idle", "with_writer"):
        for name, x in run.get("load", {}).get(phase, {}).items():
            if x.get("requests_per_s"):
                out[f"load {name}{' (writer)' if phase == 'with_writer' else ''} req/s"] = x["requests_per_s"]
                out[f"load {name}{' (writer)' if phase == 'with_writer' else ''} p99 ms"] = x["p99_ms"]
    return out


def growth(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for db in sorted({r["db"] for r in runs}):
        mine = sorted((r for r in runs if r["db"] == db and "feed" in r), key=lambda r: r["items"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        a, b = figure_medians(small), figure_medians(large)
        for name in a:
            if name in b and a[name]:
                row = {"db": db, "figure": name, "small_items": small["items"], "large_items": large["items"],
                       "small": a[name], "large": b[name], "ratio": round(b[name] / a[name], 2)}
                if name in ("feed p1, query_layer", "feed p1, feed_json_inprocess"):
                    row["target"] = f"<= {TARGET_FEED_GROWTH:g}x: {check(row['ratio'], TARGET_FEED_GROWTH)}"
                table.append(row)
    return table


def targets_summary(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 5 with the figure measured for it and met/missed."""
    out = []

    def add(name: str, value: Any, limit: float, smaller: bool = True) -> None:
        out.append({"target": name, "value": value, "limit": limit, "status": check(value, limit, smaller)})

    if "feed" in run:
        add("feed p1 fetch_page median ms", run["feed"]["query_layer"]["median_ms"], TARGET_FEED_QUERY_MS)
        add("feed p1 feed.json in-process median ms", run["feed"]["feed_json_inprocess"]["median_ms"],
            TARGET_FEED_JSON_MS)
        add("page 200 keyset / page 1", run["paging"]["keyset_over_page1"], TARGET_DEEP_RATIO)
        for name, x in run["filtered"].items():
            add(f"filter {name} fetch_page median ms", x["query_layer"]["median_ms"], TARGET_FILTERED_MS)
            add(f"filter {name} feed.json median ms", x["feed_json_inprocess"]["median_ms"], TARGET_FILTERED_MS)
        for name, x in run["pages"].items():
            add(f"page {name} median ms", x["median_ms"], TARGET_PAGE_MS)
    if "csv" in run:
        for key in ("export_endpoint", "report_run"):
            x = run["csv"][key]
            add(f"csv {key} rows/s over {run['csv']['floor']}", x.get("over_floor"), TARGET_CSV_FLOOR_RATIO, False)
            add(f"csv {key} peak RSS MB", x["peak_rss_mb"], TARGET_CSV_RSS_MB)
    if "load" in run:
        for phase in ("idle", "with_writer"):
            for name, x in run["load"][phase].items():
                add(f"load {name} {phase} errors", x["errors"], 0)
        add("load 'database is locked' errors with writer", run["load"]["locked_errors"], 0)
    return out
