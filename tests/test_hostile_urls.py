"""Hostile and odd storage URLs and paths: no password shown, nothing created, one clear message.

Each URL shape is rendered (``str(StorageURL)``), redacted inside free text, and passed to
the CLI against an unreachable server (127.0.0.1 port 1): the password never shows, and a
storage that cannot be opened when a command starts is a user-fixable error (exit 2; exit
75 is for a storage lost in the middle of a run). Each path case checks the file tree is
unchanged: a refused storage or studies folder creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from search.commands import status as status_command
from search.commands.cli import EXIT_STORAGE_UNAVAILABLE, main
from search.commands.requests import storage_for
from search.study.storage_retry import with_storage_retry
from search import storage_url
from search.storage_url import STORAGE_ENV, StorageURL, redact, redact_url

H = "127.0.0.1:1"  # nothing listens there: a connection is refused at once
SECRETS = ("hunter", "unter2", "ter2", "%68%75", "hun@")
OK_SPACE = ("SPACE = {'conv': {'depth': 1, 'filters': 8}, 'training': {'epochs': 1}}\n"
            "DATA = {'name': 'digits'}\n")
OPEN = "cannot open"
INPUT = "'storage' must be an Optuna storage URL"

# (URL, how it is shown, what the CLI says about it)
SHAPES = [
    (f"postgresql://u:hunter2@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://user%40corp:hunter2@{H}/db", f"postgresql://user%40corp:***@{H}/db", OPEN),
    (f"postgresql://user@corp:hunter2@{H}/db", f"postgresql://user%40corp:***@{H}/db", OPEN),
    (f"postgresql://:hunter2@{H}/db", f"postgresql://:***@{H}/db", OPEN),
    (f"postgresql://u@{H}/db?password=hunter2", f"postgresql://u@{H}/db?password=***", OPEN),
    (f"postgresql://{H}/db?user=u&password=hunter2", f"postgresql://{H}/db?user=u&password=***",
     OPEN),
    (f"postgresql://u:pw@{H}/db?sslpassword=hunter2&sslmode=disable",
     f"postgresql://u:***@{H}/db?sslpassword=***&sslmode=disable", OPEN),
    (f"postgresql://u:hunter2@{H}/db?password=hunter2", f"postgresql://u:***@{H}/db?password=***",
     OPEN),
    (f"postgresql://u:hun@ter2@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2@@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter%32@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:%68%75%6e%74%65%72%32@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2%40x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2/x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2:x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2?x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2#x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2 x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql://u:hunter2'x@{H}/db", f"postgresql://u:***@{H}/db", OPEN),
    (f'postgresql://u:"hunter2"@{H}/db', f"postgresql://u:***@{H}/db", OPEN),
    (f"postgresql+psycopg://u:hunter2@{H}/db", f"postgresql+psycopg://u:***@{H}/db", OPEN),
    (f"postgresql+psycopg2://u:hunter2@{H}/db", f"postgresql+psycopg2://u:***@{H}/db", OPEN),
    (f"mysql://u:hunter2@{H}/db", f"mysql://u:***@{H}/db", OPEN),
    ("postgresql://u:hunter2@[::1]:1/db", "postgresql://u:***@[::1]:1/db", OPEN),
    (f"postgresql://u:hunter2@{H}/d b", f"postgresql://u:***@{H}/d b", OPEN),
    ("postgresql://u:hunter2@127.0.0.1:notaport/db", "postgresql://***", OPEN),
    ("postgresql://u:hunter2", "postgresql://***", OPEN),
    (f"postgresql:/u:hunter2@{H}/db", "postgresql:/***", OPEN),
    (f"postgresql:u:hunter2@{H}/db", f"postgresql:***@{H}/db", OPEN),
    (f"postgresql//u:hunter2@{H}/db", f"postgresql//u:***@{H}/db", OPEN),
    (f"postgresql:///u:hunter2@{H}/db", f"postgresql:///u:***@{H}/db", OPEN),
    (f"postgress://u:hunter2@{H}/db", f"postgress://u:***@{H}/db", INPUT),
    (f"POSTGRESQL://u:hunter2@{H}/db", f"POSTGRESQL://u:***@{H}/db", INPUT),
    (f"redis://u:hunter2@{H}/0", f"redis://u:***@{H}/0", INPUT),
    (f" postgresql://u:hunter2@{H}/db", f" postgresql://u:***@{H}/db", INPUT),
    ("file:///tmp/u:hunter2@x.log", "file:///tmp/u:***@x.log", "not a storage that can be opened"),
    (f"u:hunter2@{H}/db.log", f"u:***@{H}/db.log", "the journal file's folder u:***@127.0.0.1:1 "
                                                   "does not exist"),
]
URLS = [shape[0] for shape in SHAPES]


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.fixture(autouse=True)
def fresh_passwords(monkeypatch):
    """Each case starts with no password known from an earlier case's URLs."""
    monkeypatch.setattr(storage_url, "_SEEN", set())


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    return tmp_path


def cli(argv, capsys, root: Path, *, status: int = 2, created_under: str | None = None) -> str:
    """Run the CLI in-process: the exit status, no traceback, no password, nothing created
    (or only under ``created_under``); returns stderr on one line."""
    before = _tree(root)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == status, err
    assert "Traceback" not in err and not _leaks(out + err), err
    new = {p for p in _tree(root) - before
           if not (created_under and p.parts[:2] == tuple(Path(created_under).parts))}
    assert not new, f"created {sorted(map(str, new))}"
    return " ".join(err.split())


# -- rendering and free text ---------------------------------------------------------------------

@pytest.mark.parametrize("url, shown, _", SHAPES)
def test_a_url_is_shown_without_its_password(url, shown, _):
    storage = StorageURL(url)
    assert str(storage) == shown and f"{storage}" == shown and redact_url(url) == shown
    assert repr(storage) == f"StorageURL({shown!r})" and storage.secret() == url
    texts = [redact(url), redact(f"error: got '{url}' here"), redact(f"see {url}. Then retry"),
             redact(repr([url, url])), redact(f'{{"storage": "{url}"}}'),
             redact(f"--storage={url}"), redact(f"line one\n  storage {url}: cannot open"),
             storage.redact(f"bad password {url}")]
    for text in texts:
        assert not _leaks(text), text


@pytest.mark.parametrize("url", URLS)
def test_a_message_quoting_the_password_alone_is_blanked(url):
    storage = StorageURL(url)
    for password in storage.passwords():
        text = storage.redact(f'FATAL: password "{password}" rejected for "u"')
        assert password not in text.replace("***", "") and "***" in text


def test_free_text_keeps_everything_but_the_passwords():
    text = ("could not open postgresql://u:hunter2@h/db (see https://sqlalche.me/e/20/e3q8); "
            "also mysql://v:hunter2x@h/db, and user:hunter2@host, sqlite:///studies/s/study.db.")
    assert redact(text) == ("could not open postgresql://u:***@h/db (see "
                            "https://sqlalche.me/e/20/e3q8); also mysql://v:***@h/db, and "
                            "user:***@host, sqlite:///studies/s/study.db.")


# -- the CLI: exit 2 when a storage cannot be opened at the start --------------------------------

@pytest.mark.parametrize("url, shown, message", SHAPES)
def test_status_with_a_hostile_url(cwd, capsys, url, shown, message):
    err = cli(["status", "s", "--storage", url], capsys, cwd)
    assert message in err and shown.strip() in err


@pytest.mark.parametrize("url, shown, message", [SHAPES[i] for i in (0, 2, 4, 8, 17, 27, 31)])
def test_run_with_a_hostile_url(cwd, capsys, url, shown, message):
    err = cli(["run", "ok.py", "--storage", url, "--trials", "1"], capsys, cwd,
              created_under="studies/ok")
    assert message in err and shown.strip() in err


@pytest.mark.parametrize("url, shown, message", [SHAPES[i] for i in (0, 3, 5, 8, 27)])
def test_a_hostile_url_from_the_environment(cwd, capsys, monkeypatch, url, shown, message):
    monkeypatch.setenv(STORAGE_ENV, url)
    err = cli(["status", "s"], capsys, cwd)
    assert message in err and shown in err


def test_a_storage_lost_mid_run_exits_75_without_the_password(cwd, capsys, monkeypatch):
    def lost(args, console):
        url = StorageURL(args.storage)
        message = f'server closed {url.secret()}: password "hunter2" no longer valid'
        def write():
            raise OSError(message)

        with_storage_retry(write, delays=())

    monkeypatch.setattr(status_command, "status", lost)
    err = cli(["status", "s", "--storage", f"postgresql://u:hunter2@{H}/db"], capsys, cwd,
              status=EXIT_STORAGE_UNAVAILABLE)
    assert f"storage unavailable: storage write failed 1 times over 0 s: server closed " \
           f"postgresql://u:***@{H}/db: password \"***\" no longer valid" in err


# -- paths: refused before anything is created ----------------------------------------------------

def _setup(root: Path) -> None:
    (root / "afile").write_text("not a folder")
    (root / "adir.log").mkdir()


PATH_CASES = [
    (["run", "ok.py", "--storage", "file:///ABS/x.log"], "--storage 'file:///ABS/x.log': not a "
     "storage that can be opened (a journal file is a plain file path, not a URL); use "
     "sqlite:///path.db"),
    (["status", "s", "--storage", "file:///ABS/x.log"], "not a storage that can be opened"),
    (["run", "ok.py", "--storage", "file://x.log"], "--storage 'file://x.log': not a storage"),
    (["run", "ok.py", "--storage", "mongodb://h/x.log"], "--storage 'mongodb://h/x.log': not a "
     "storage that can be opened"),
    (["run", "ok.py", "--storage", "some/dir/x.log"], "--storage 'some/dir/x.log': the journal "
     "file's folder some/dir does not exist; create it first (mkdir -p some/dir), or name a file "
     "in an existing folder."),
    (["ablate", "s", "--storage", "some/dir/x.log"], "the journal file's folder some/dir does not "
     "exist; create it first"),
    (["worker", "s", "--storage", "some/dir/x.journal"], "--storage 'some/dir/x.journal': the "
     "journal file's folder some/dir does not exist"),
    (["run", "ok.py", "--storage", "sqlite:///nodir/x.db"], "--storage 'sqlite:///nodir/x.db': the "
     "SQLite database's folder nodir does not exist; create it first (mkdir -p nodir)"),
    (["run", "ok.py", "--storage", "afile/x.log"], "the journal file's folder afile is a file, not "
     "a folder; name a file in an existing folder"),
    (["run", "ok.py", "--storage", "adir.log"], "--storage 'adir.log': adir.log is a folder, not a "
     "journal file"),
    (["status", "s", "--storage", "nothere.log"], "no journal file at nothere.log; run `python -m "
     "search run ... --study s --storage nothere.log` first"),
    (["export", "s", "--storage", "nothere.journal"], "no journal file at nothere.journal"),
    (["run", "ok.py", "--studies-dir", "afile"], "--studies-dir 'afile': afile is a file, not a "
     "folder. Pass a folder you can write to (it is created if missing)"),
    (["status", "s", "--studies-dir", "afile"],
     "--studies-dir 'afile': afile is a file, not a folder"),
    (["ablate", "s", "--studies-dir", "afile"], "--studies-dir 'afile': afile is a file"),
    (["report", "s", "--studies-dir", "afile"], "--studies-dir 'afile': afile is a file"),
    (["worker", "s", "--studies-dir", "afile"], "--studies-dir 'afile': afile is a file"),
    (["run", "ok.py", "--studies-dir", "afile/sub"], "--studies-dir 'afile/sub': afile is a file, "
     "not a folder, so the folder afile/sub cannot be created"),
    (["run", "ok.py", "--study", "a\\b"], "'study' must be a study name; got 'a\\\\b'"),
    (["run", "ok.py", "--study", "x/../y"], "'study' must be a study name; got 'x/../y'"),
    (["run", "ok.py", "--study", ".."], "'study' must be a study name; got '..'"),
    (["run", "ok.py", "--study", "sub/"], "'study' must be a study name; got 'sub/'"),
    (["status", "/etc"], "'study' must be a study name; got '/etc'"),
    (["export", "a/b"], "'study' must be a study name; got 'a/b'"),
    (["worker", "..\\x"], "'study' must be a study name"),
    (["ablate", "a/b"], "study name 'a/b' must be letters, digits"),
]


@pytest.mark.parametrize("argv, message", PATH_CASES)
def test_refused_paths_create_nothing(cwd, capsys, argv, message):
    _setup(cwd)
    argv = [a.replace("/ABS", str(cwd)) for a in argv]
    assert message.replace("/ABS", str(cwd)) in cli(argv, capsys, cwd)


def test_a_file_where_the_study_folder_goes(cwd, capsys):
    (cwd / "studies").mkdir()
    (cwd / "studies" / "ok").write_text("")
    err = cli(["run", "ok.py", "--trials", "1"], capsys, cwd)
    assert "--studies-dir 'studies': the study's folder studies/ok is a file; move it away, or " \
           "use another --study." in err


@pytest.mark.parametrize("argv", [["run", "ok.py", "--studies-dir", "ro"],
                                  ["ablate", "s", "--studies-dir", "ro"]])
def test_a_studies_folder_that_cannot_be_written(cwd, capsys, monkeypatch, argv):
    (cwd / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if Path(path).name == "ro" and mode & os.W_OK else real(path, mode, **kw)))
    err = cli(argv, capsys, cwd)
    assert "--studies-dir 'ro': ro is not writable by this user. Pass a folder you can " \
           "write to" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_studies_folder(cwd, capsys):
    (cwd / "ro").mkdir(mode=0o555)
    try:
        assert "ro is not writable" in cli(["run", "ok.py", "--studies-dir", "ro"], capsys, cwd)
    finally:
        (cwd / "ro").chmod(0o755)


@pytest.mark.parametrize("given", ["studies/ok.log", "studies/ok/x.log", "x.log", "sqlite:///x.db",
                                   "sqlite:///studies/ok/y.db", f"postgresql://u:hunter2@{H}/db"])
def test_storages_whose_folder_exists_or_is_the_studies_folder_are_allowed(cwd, given):
    before = _tree(cwd)
    assert storage_for("ok", given, "studies").secret() == given
    assert _tree(cwd) == before
