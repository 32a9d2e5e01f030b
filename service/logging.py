"""structlog setup: JSON lines on stderr (or a console renderer for humans).

Libraries that log through the standard library (grpc, redis) are rendered the same way, so
every line of the server's output is one JSON object, tracebacks included (in an "exception"
field). gRPC reports a reply that could not be sent because the client had already gone
(``ExecuteBatchError``) as an ERROR with a traceback; for a server that is a client's race,
not a fault, so it is logged at debug level without the traceback.
"""

from __future__ import annotations

import logging
import sys

import structlog

_DEPARTED = "ExecuteBatchError"


class _DepartedClient(logging.Filter):
    """Turns gRPC's "reply to a departed client" errors into one debug line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and _DEPARTED in str(record.msg):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg = "reply not delivered: the client had gone (%s)"
            record.args = (_DEPARTED,)
            record.exc_info = None
            record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Standard-library loggers (grpc, redis) go to stderr at the same level, rendered alike.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(_DepartedClient())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # grpc's own debug output is noise for operators; keep it at INFO or above.
    logging.getLogger("grpc").setLevel(max(numeric, logging.INFO))
