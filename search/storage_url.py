"""A storage URL that keeps its password to itself.

``str()``, ``repr()`` and f-strings of a :class:`StorageURL` show ``***`` in
place of the password, so an error message, a log line, a report or an export
cannot leak it by accident; only :meth:`StorageURL.secret` gives the real URL,
for the code that opens the connection. Spawned workers get the URL through
the environment variable ``SEARCH_STORAGE``, never on their command line
(which ``ps`` shows to every user of the machine).

A URL is parsed as SQLAlchemy parses it (what Optuna's RDB storage opens), so
the password hidden is the one the driver gets, whatever the URL looks like: a
user name with ``@``, an empty user, a percent-encoded password, ``?password=``
in the query. A URL that cannot be parsed, or whose ``@`` make the split
between password and host ambiguous, is hidden after its scheme altogether.
:func:`redact` does the same for every URL inside free text (an exception
message, a command line, a log line), and blanks the raw passwords of every
:class:`StorageURL` this process has made, for messages that quote one alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote

__all__ = ["StorageURL", "redact", "redact_url", "studies_dir_problem", "STORAGE_ENV", "HIDDEN",
           "RDB_SCHEMES", "ALLOWED"]

STORAGE_ENV = "SEARCH_STORAGE"
HIDDEN = "***"
RDB_SCHEMES = ("sqlite:", "postgresql", "mysql")  # what Optuna's RDB storage opens here
ALLOWED = ("use sqlite:///path.db, postgresql://user:password@host/db, "
           "mysql://user:password@host/db, or a journal file path ending in .log "
           "(e.g. studies/NAME.log)")

# postgresql://, sqlite:///, a mistyped postgresql:/ (not a drive letter: C:/)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+:/+")
_SCHEME_IN = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]+:/+")
_LEADING, _TRAILING = "'\"`([{<", "'\"`,.;:!?)]}>"  # quotes and punctuation around a URL
_SECRET_KEY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"([?&;][^=&;#\s]*(?:pass|pwd|secret|token)[^=&;#\s]*=)[^&;#\s]*",
                           re.IGNORECASE)
_SEEN: set[str] = set()  # passwords (4+ characters) of every StorageURL made in this process


def _userinfo_password(rest: str) -> tuple[str, str, str] | None:
    """(user, raw password, after the last '@') when ``rest`` (after ``://``) has a password.

    SQLAlchemy takes the user up to the first ':' or '/', and the password up to the next
    '@'; a later '@' leaves part of the password in the host, so everything up to the last
    '@' counts as the password here.
    """
    user = re.match(r"[^:/]*", rest).group()
    if rest[len(user):len(user) + 1] != ":" or "@" not in rest[len(user):]:
        return None
    last = rest.rindex("@")
    return user, rest[len(user) + 1:last], rest[last + 1:]


def _loose(text: str) -> str:
    """Without a parsable URL: hide from the first ':' to the last '@' (``user:***@host``)."""
    last = text.rfind("@")
    first = text.find(":", 0, last) if last > 0 else -1
    return text if first < 0 else f"{text[:first + 1]}{HIDDEN}{text[last:]}"


def _secrets_of(url: str) -> set[str]:
    """Every form (raw and decoded) of the passwords in ``url``, each '@'-separated piece too."""
    found: set[str] = set()
    match = _SCHEME.match(url)
    rest = url[match.end():] if match else url
    userinfo = _userinfo_password(rest)
    if userinfo:
        found |= {userinfo[1], unquote(userinfo[1]), *userinfo[1].split("@")}
    elif "@" in rest and _loose(rest) != rest:
        found.add(rest[rest.find(":") + 1:rest.rfind("@")])
    elif match and ":" in rest.split("/")[0] and _parsed(url) is None:  # u:password, no host
        found.add(rest.split("/")[0].partition(":")[2])
    for pair in re.split(r"[&;]", rest.partition("?")[2]):
        key, _, value = pair.partition("=")
        if _SECRET_KEY.search(key) and value:
            found |= {value, unquote(value), unquote(value.replace("+", " "))}
    return {s for s in found if s.strip("*")}


def _parsed(url: str):
    """SQLAlchemy's reading of ``url`` (as Optuna's RDB storage opens it), or None."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url)
    except Exception:  # noqa: BLE001 - any parse failure
        return None


def redact_url(url: str) -> str:
    """``url`` with its password (and ``password=``-like query values) shown as ``***``.

    Parsed with SQLAlchemy's ``make_url``; a URL it cannot parse keeps only its scheme
    (``postgresql://***``), and one whose extra '@' make the password's end ambiguous is
    hidden up to its last '@'.
    """
    if url[:1].isspace():  # a pasted value: its leading blanks kept, the URL after them hidden
        core = url.lstrip()
        return url[:len(url) - len(core)] + redact_url(core)
    match = _SCHEME.match(url)
    if not match:
        return _hide_query(_loose(url))
    scheme, rest = url[:match.end()], url[match.end():]
    parsed = _parsed(url)
    if parsed is None:
        return scheme + HIDDEN
    userinfo = _userinfo_password(rest)
    if userinfo is None:
        return _hide_query(scheme + _loose(rest))
    user, password, host = userinfo
    shown = parsed.render_as_string(hide_password=True) if parsed.password is not None else ""
    if "@" in password or not shown or any(len(x) >= 4 and x in shown for x in _secrets_of(url)):
        shown = f"{scheme}{user}:{HIDDEN}@{host}"  # ambiguous: hidden up to the last '@'
    return _hide_query(shown)


def _hide_query(url: str) -> str:
    return _SECRET_QUERY.sub(lambda m: m.group(1) + HIDDEN, url)


def _token(match: re.Match) -> str:
    """One whitespace-free piece of free text, its quotes and punctuation kept."""
    token = match.group()
    core = token.lstrip(_LEADING).rstrip(_TRAILING)
    if not core:
        return token
    head = token.index(core)
    before, after = token[:head], token[head + len(core):]
    url = _SCHEME_IN.search(core)
    if url:
        return before + core[:url.start()] + redact_url(core[url.start():]) + after
    return before + _hide_query(_loose(core)) + after


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide the password of every URL inside ``text``, and every raw password known.

    A ``text`` that starts with a scheme (``postgresql://...``) and has no line break is
    one URL, whatever it contains; otherwise each whitespace-free part is looked at
    alone: a URL in it is hidden as :func:`redact_url` does, and a ``user:password@host``
    without a scheme loses its password. ``secrets`` (and the passwords of every
    :class:`StorageURL` made in this process) are then blanked wherever they appear, for
    messages that quote a password without its URL.
    """
    known = {*secrets, *_SEEN}
    splitting = {s for s in known if re.search(r"\s", s)}
    text = _blank(str(text), splitting)  # first: such a password would split its URL in two
    if _SCHEME.match(text) and "\n" not in text:
        shown = redact_url(text)
    else:
        shown = re.sub(r"\S+", _token, text)
    return _blank(shown, known)


def _blank(text: str, secrets: set[str]) -> str:
    """Replace each secret: anywhere when long, as a whole word when short (under 4 chars)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, HIDDEN)
        elif secret.strip("*"):
            text = re.sub(rf"(?<![\w*]){re.escape(secret)}(?![\w*])", HIDDEN, text)
    return text


class StorageURL:
    """An Optuna storage URL (``sqlite:///f.db``, ``postgresql://u:pw@h/db``) or journal path."""

    __slots__ = ("_url",)

    def __init__(self, url: str | StorageURL) -> None:
        self._url = url.secret() if isinstance(url, StorageURL) else str(url)
        _SEEN.update(s for s in self.passwords() if len(s) >= 4)

    def secret(self) -> str:
        """The URL with its password: only for opening the storage."""
        return self._url

    def passwords(self) -> set[str]:
        """Every form of the URL's passwords (raw, decoded): what :meth:`redact` blanks."""
        return _secrets_of(self._url)

    def redact(self, text: str) -> str:
        """``text`` (e.g. a driver's error message) with URLs and this URL's password hidden."""
        return redact(text, self.passwords())

    def __str__(self) -> str:
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"StorageURL({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def startswith(self, prefix: str | tuple[str, ...]) -> bool:
        """Whether the real URL starts with ``prefix`` (its scheme, typically)."""
        return self._url.startswith(prefix)

    def endswith(self, suffix: str | tuple[str, ...]) -> bool:
        """Whether the real URL ends with ``suffix``."""
        return self._url.endswith(suffix)

    @property
    def is_url(self) -> bool:
        """Whether this is a URL (``scheme:/...``) rather than a plain file path."""
        return bool(_SCHEME.match(self._url))

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, for ``sqlite:///path`` (not ``:memory:``)."""
        path = self._url[len("sqlite:///"):] if self._url.startswith("sqlite:///") else ""
        return Path(path.partition("?")[0]) if path and path != ":memory:" else None

    @property
    def journal_file(self) -> Path | None:
        """The journal file, for a plain path ending in ``.log``/``.journal`` (never a URL)."""
        if self.is_url or not self._url.endswith((".log", ".journal")):
            return None
        return Path(self._url)

    def location_problem(self, *creatable: Path) -> str | None:
        """Why this storage cannot be opened, found before anything is created; None if it can.

        A URL no storage here opens (``file:///x.log``, ``redis://...``) is refused, and so is
        a SQLite or journal file whose folder does not exist, unless that folder is one of
        ``creatable`` (the studies folder, the study's own folder).
        """
        if self.is_url and not self.startswith(RDB_SCHEMES):
            return ("not a storage that can be opened (a journal file is a plain file path, not a "
                    f"URL); {ALLOWED}")
        path = self.sqlite_file or self.journal_file
        if path is None:
            return None
        kind = "SQLite database" if self.sqlite_file else "journal file"
        folder = path.parent
        if path.is_dir():
            return f"{redact(str(path))} is a folder, not a {kind}; name a file, not a folder"
        if folder.is_dir() or any(os.path.abspath(folder) == os.path.abspath(c) for c in creatable):
            return None
        shown = redact(str(folder))  # a path can look like user:password@host too
        if folder.exists():
            return (f"the {kind}'s folder {shown} is a file, not a folder; name a file in an "
                    "existing folder")
        return (f"the {kind}'s folder {shown} does not exist; create it first "
                f"(mkdir -p {shown}), or name a file in an existing folder")


def studies_dir_problem(root: Path, name: str | None = None, *,
                        writable: bool = False) -> str | None:
    """Why the studies folder ``root`` (and the study's folder in it) cannot hold a study.

    A file where the folder (or one above it) should be, a file named like the study's
    folder, or, with ``writable``, a folder this user cannot write to; None if fine.
    """
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("."))
    study = root / name if name else None
    if not existing.is_dir():
        return f"{existing} is a file, not a folder" + (
            "" if existing == root else f", so the folder {root} cannot be created")
    if study is not None and study.exists() and not study.is_dir():
        return f"the study's folder {study} is a file; move it away, or use another --study"
    target = study if study is not None and study.exists() else existing
    if writable and not os.access(target, os.W_OK | os.X_OK):
        return f"{target} is not writable by this user"
    return None
