"""Structured logs: one JSON object a line, with the correlation id of the request being served.

Log records name ids, event types and usernames; never survivor data."""
import contextvars
import json
import logging
import re
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (cid := correlation_id.get()) is not None:
            entry["correlation_id"] = cid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class AccessLog(logging.Filter):
    """On the web server's access log (eventlet's, through nameko.web.server): a request line keeps its
    method, path and the NAMES of its query parameters. Their values may be survivor data or a token."""

    _LINE = re.compile(r'^(.*?\] ")(.*)(" \d{3} .*)$', re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        if line := self._LINE.match(record.getMessage()):
            record.msg, record.args = line.group(1) + names_only(line.group(2)) + line.group(3), ()
        return True


def names_only(request_line: str) -> str:
    """'GET /v1/cases?assigned_to=x&limit=2 HTTP/1.1' -> 'GET /v1/cases?assigned_to&limit HTTP/1.1'."""
    parts = request_line.split(" ")
    if len(parts) != 3:
        return "[not an HTTP request line]"
    method, target, version = parts
    path, _, query = target.partition("?")
    names = [pair.partition("=")[0] for pair in query.split("&") if pair]
    return f"{method} {path}{'?' + '&'.join(names) if names else ''} {version}"
