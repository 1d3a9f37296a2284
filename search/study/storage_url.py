"""A storage URL that keeps its password to itself.

``str()``, ``repr()`` and f-strings of a :class:`StorageURL` show ``***`` in
place of the password, so an error message, a log line, a report or an export
cannot leak it by accident; only :meth:`StorageURL.secret` gives the real URL,
for the code that opens the connection. Spawned workers get the URL through
the environment variable ``SEARCH_STORAGE``, never on their command line
(which ``ps`` shows to every user of the machine).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["StorageURL", "redact", "STORAGE_ENV"]

STORAGE_ENV = "SEARCH_STORAGE"
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def redact(text: str) -> str:
    """Hide the password of every database URL inside ``text``."""
    return _PASSWORD.sub(r"\1***@", text)


class StorageURL:
    """An Optuna storage URL (``sqlite:///f.db``, ``postgresql://u:pw@h/db``) or journal path."""

    __slots__ = ("_url",)

    def __init__(self, url: str | StorageURL) -> None:
        self._url = url.secret() if isinstance(url, StorageURL) else str(url)

    def secret(self) -> str:
        """The URL with its password: only for opening the storage."""
        return self._url

    def __str__(self) -> str:
        return redact(self._url)

    def __repr__(self) -> str:
        return f"StorageURL({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def startswith(self, prefix: str | tuple[str, ...]) -> bool:
        return self._url.startswith(prefix)

    def endswith(self, suffix: str | tuple[str, ...]) -> bool:
        return self._url.endswith(suffix)

    @property
    def sqlite_file(self) -> Path | None:
        return Path(self._url[len("sqlite:///"):]) if self._url.startswith("sqlite:///") else None

    @property
    def journal_file(self) -> Path | None:
        return Path(self._url) if self._url.endswith((".log", ".journal")) else None
