"""search/_lazy.py: a package's public names are imported on first use, unknown names raise
AttributeError, and ``__all__`` lists the exports in order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from search._lazy import lazy_exports


def test_a_name_resolves_to_the_object_in_its_module():
    from search.report import status

    getattr_, names = lazy_exports("search.report", {"eta_seconds": "status",
                                                     "Section": "render"})
    assert getattr_("eta_seconds") is status.eta_seconds
    assert names == ["Section", "eta_seconds"]  # sorted, as __all__


def test_an_unknown_name_is_an_attribute_error_naming_package_and_name():
    getattr_, _ = lazy_exports("search.data", {"load_raw": "files"})
    with pytest.raises(AttributeError, match="module 'search.data' has no attribute 'missing'"):
        getattr_("missing")
    import search.data

    assert not hasattr(search.data, "no_such_export")  # the package's face behaves the same


def test_the_module_is_imported_only_when_its_name_is_asked_for():
    code = ("import sys; import search.data as d; "
            "before = 'search.data.files' in sys.modules; d.load_raw; "
            "print(before, 'search.data.files' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
