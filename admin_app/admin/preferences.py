"""/admin/settings/: the logged-in user's own display settings (the time zone times are shown in)."""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

from flask_activity.timefmt import COMMON_ZONES, app_zone, display_zone, parse_zone_choice, zone_names
from flask_activity.types import utcnow

from ..accounts import set_timezone
from ..auth import safe_next
from .access import SecureViewMixin


class DisplaySettingsView(SecureViewMixin, BaseView):
    """Every logged-in user, viewers too, reads and sets their own display zone.

    The form names no user: a POST changes the poster's own row, so nobody can set another user's zone.
    """

    viewers_may_post = True  # a display preference of the poster, not data

    def is_visible(self) -> bool:
        return False  # reached from the zone the navbar shows on every page, not from the data menu

    @expose("/", methods=("GET", "POST"))
    def display(self) -> Any:
        if request.method == "POST":
            return self._save()
        return self._form()

    def _form(self, error: str | None = None, typed: str | None = None) -> Any:
        """The settings form; with ``error``, again as posted with the reason beside its field, as a 400."""
        own = current_user.timezone
        now = utcnow()
        mine = [own] if own in zone_names() else []  # a name tzdata no longer has is shown, not offered
        common = dict.fromkeys([*mine, *COMMON_ZONES])  # their own first: the selected option is easy to find
        return self.render(
            "admin/settings.html",
            zone=display_zone(),
            own=own,
            app_default=app_zone().key,
            common=[(name, utc_offset(name, now)) for name in common],
            groups=zone_groups(),
            now=now,
            next=safe_next(request.values.get("next")),
            error=error,
            typed=typed,
        ), 400 if error else 200

    def _save(self) -> Any:
        choice = request.form.get("timezone")
        if choice is None:
            return self._form("Choose a time zone: the form sent none. Nothing was saved.")
        try:
            zone = parse_zone_choice(choice)
        except ValueError as exc:
            return self._form(f"Nothing was saved: {exc}.", typed=choice)
        set_timezone(int(current_user.get_id()), zone)
        flash(f"Times are now shown in {zone or app_zone().key}" + ("" if zone else " (the app default)") + ".",
              "success")
        return redirect(safe_next(request.form.get("next") or url_for(".display")))


def utc_offset(name: str, now: datetime) -> str:
    """'UTC+05:30': the zone's offset at ``now``, to tell zones apart in the list."""
    text = now.astimezone(ZoneInfo(name)).strftime("%z")
    return f"UTC{text[:3]}:{text[3:]}"


@functools.cache
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every choosable zone grouped by its region (the part before the first '/'); names with none are 'Other'."""
    groups: dict[str, list[str]] = {}
    for name in zone_names():
        groups.setdefault(name.split("/", 1)[0] if "/" in name else "Other", []).append(name)
    order = sorted(groups, key=lambda region: (region == "Other", region))
    return tuple((region, tuple(groups[region])) for region in order)
