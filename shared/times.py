"""Times as every response writes them (api.md): RFC 3339 in UTC, ending in `Z`. One helper, used by
every service's views, so no answer says `+00:00` where another says `Z`."""
import re
from datetime import UTC, datetime

# A time as events keep it in their data (Python's isoformat: an offset, not Z); dates stay dates.
_RECORDED_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)$")


def iso(moment: datetime | str | None) -> str | None:
    """A time as the contract writes it: RFC 3339 in UTC, with Z (None stays None)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = parse_time(moment)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (Z or an offset; none: UTC)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def shown(value: str) -> str:
    """A string of recorded data as a response shows it: a time (with its offset) in UTC with Z, any
    other string as it is."""
    return iso(value) or value if _RECORDED_TIME.match(value) else value
