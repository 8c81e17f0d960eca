"""The server's log lines on stderr, plain or JSON (`--log-format`): its own records, uvicorn's, and the access log.

A record may carry `fields` (a dict, given as `extra={"fields": ...}`): the JSON format puts them beside the
message; the plain format has them in the message already.
"""

import logging
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

import msgspec

LOG_FORMATS = ("plain", "json")
ACCESS_LOGGER = "tradovate_sim.access"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's fields, and the
    exception's traceback when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.encoder.encode(line).decode()


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    plain = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    plain.converter = time.gmtime
    return plain


def configure(log_format: str, access_log: bool, stream: TextIO | None = None) -> None:
    """Send every log line (warnings and errors of the server and uvicorn; access lines when `access_log`) to
    `stream` (stderr) in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
