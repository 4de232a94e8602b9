"""Keep credentials out of what xlcorpus prints and logs.

Storage options (``--storage-option KEY=VALUE``) and credential variables of the environment
are never written into lineage, cards or messages by xlcorpus itself; as a second line of
defence, error messages and log records pass through :func:`redact`, which replaces any of
their values by ``***`` (an error text of deltalake or of an object store could quote one).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

# storage option keys whose values are not secrets (shown as they are)
PUBLIC_KEYS = {"aws_region", "region", "aws_endpoint_url", "endpoint_url", "endpoint", "aws_allow_http",
               "allow_http", "aws_conditional_put", "conditional_put", "aws_s3_allow_unsafe_rename",
               "aws_default_region", "aws_virtual_hosted_style_request", "timeout"}
SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSWORD|ACCOUNT_KEY|SAS|CREDENTIAL|PRIVATE|ACCESS_KEY")
MIN_LENGTH = 4  # shorter values would redact ordinary words
_SECRETS: set[str] = set()


def remember(options: Mapping[str, str]) -> None:
    """Treat the values of ``options`` (but the public ones) as secrets."""
    _SECRETS.update(v for k, v in options.items() if k.lower() not in PUBLIC_KEYS and len(v) >= MIN_LENGTH)


def secrets() -> set[str]:
    """The secret values known now: remembered options and credential variables of the environment."""
    env = {v for k, v in os.environ.items() if SECRET_ENV.search(k) and len(v) >= MIN_LENGTH}
    return _SECRETS | env


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for value in sorted(secrets(), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


class RedactFilter(logging.Filter):
    """A logging filter that redacts each record's message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:  # a traceback (-vv) is formatted once, redacted
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install() -> None:
    """Redact every record that reaches the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
