"""Logging set-up for the CLI: one line per event, key facts first, and never a secret.

Every line passes through a mask: passwords inside URLs (`redis://:PASSWORD@host`, or a
`?password=` query) and the secrets the program was configured with are replaced by `***`,
wherever they appear in a message or a traceback. Code may then log a URL or an exception as
it is, without first asking whether it holds a credential.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

MASK = "***"
# scheme://user:PASSWORD@ : the password stops at `@`, `/` or white space, so a host:port
# followed by a path is never taken for one.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+(?=@)")
# ?password=... or &password=... in a URL's query (redis-py's unix:// URLs carry it there).
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s]+", re.IGNORECASE)


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _QUERY_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without URL passwords and without any of `secrets`."""
    # Longest first, so that a secret containing another is masked whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_url_passwords(text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every formatted line (traceback included) goes through `redact`."""

    def __init__(self, fmt: str, datefmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt, datefmt)
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, masked."""
        return redact(super().format(record), self.secrets)


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr with UTC timestamps, masking URL passwords and `secrets`."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = RedactingFormatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s",
                                   "%Y-%m-%dT%H:%M:%S", secrets)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aioice and aiortc log every candidate pair at INFO.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
