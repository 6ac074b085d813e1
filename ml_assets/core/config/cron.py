"""Cron strings checked without importing Dagster: what Dagster's schedules accept (5 fields or an @alias)."""

from __future__ import annotations

import re

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
ITEM = re.compile(r"^(?P<range>\*|\?|[^/]+?)(?:/(?P<step>\d+))?$")
NTH_WEEKDAY = re.compile(r"^(?P<day>[0-7]|[a-z]{3})#[1-5]$")


def cron_problem(text: str) -> str | None:
    """Why `text` is not a cron string Dagster can schedule (None when it is)."""
    if text.strip().lower() in ALIASES:
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5 (minute hour day-of-month month day-of-week), e.g. '0 6 * * *'"
    values = []
    for position, (field, (name, low, high)) in enumerate(zip(fields, FIELDS)):
        if position == 4 and NTH_WEEKDAY.match(field.lower()) and _value(field.split("#")[0], 4) is not None:
            values.append(set())
            continue
        problem, expanded = _field_values(field, position, low, high)
        if problem:
            return f"{name} {problem}"
        values.append(expanded)
    if values[3] == {2} and len(values[2]) == 1 and values[2] <= {30, 31} and "l" not in fields[2].lower():
        return "February has no 30th or 31st day"
    return None


def _field_values(field: str, position: int, low: int, high: int) -> tuple[str | None, set[int]]:
    """(problem, values) of one field: comma-separated *, N, N-M (wrapping past the end), each with /step."""
    values: set[int] = set()
    for item in field.split(","):
        match = ITEM.match(item)
        if not match or (match.group("step") is not None and int(match.group("step")) == 0):
            return f"{item!r} is not *, a number, a range N-M or one of them with /step", values
        span = match.group("range")
        if span == "?" and position not in (2, 4):
            return "'?' is allowed only in day-of-month and day-of-week", values
        if span in ("*", "?"):
            first, last = low, high
        else:
            bounds = span.split("-")
            parsed = [_value(bound, position) for bound in bounds]
            if len(bounds) > 2 or None in parsed:
                return f"{item!r} is not a number, a range N-M{_names_hint(position)}", values
            if bounds[0].lower() == "l" and (len(bounds) > 1 or match.group("step")):
                return f"{item!r}: L (last day) stands alone or ends a range", values
            first, last = parsed[0], parsed[-1]
            if not (low <= first <= high and low <= last <= high):
                return f"{item!r} is outside {low}-{high}", values
        step = int(match.group("step") or 1)
        span_values = range(first, last + 1) if first <= last else [*range(first, high + 1), *range(low, last + 1)]
        values.update(list(span_values)[::step])
    return None, values


def _names_hint(position: int) -> str:
    """The names a field also accepts, for error messages."""
    return {2: " or L (last day)", 3: f" or a month name ({', '.join(MONTHS)})",
            4: f" or a weekday name ({', '.join(WEEKDAYS)})"}.get(position, "")


def _value(text: str, position: int) -> int | None:
    """A number, L (last day of the month), or the position of a month/weekday name (jan = 1, sun = 0)."""
    lowered = text.lower()
    if lowered.isdigit():
        return int(lowered)
    if position == 2 and lowered == "l":
        return 31
    names = {3: MONTHS, 4: WEEKDAYS}.get(position, ())
    if lowered in names:
        return names.index(lowered) + (1 if position == 3 else 0)
    return None
