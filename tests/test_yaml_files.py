"""search/yaml_files.py: YAML read with safe_load only and bounded (size, depth, alias
expansion), every problem a SearchError naming the file; written atomically."""

from __future__ import annotations

import pytest

from search.errors import SearchError
from search.yaml_files import MAX_YAML_DEPTH, read_yaml, write_yaml_atomic


def test_what_is_written_reads_back_the_same_and_no_temporary_file_is_left(tmp_path):
    content = {"params": {"conv": {"depth": 2, "filters": [32, 64]}, "bn": {"enabled": True}},
               "seed": 7, "result": {"val_accuracy": 0.9125, "trial": "3"}, "none": None}
    path = tmp_path / "sub" / "best.yaml"  # the folder is created
    write_yaml_atomic(path, content)
    assert read_yaml(path) == content
    assert list(path.parent.iterdir()) == [path]
    assert list(read_yaml(path)) == list(content)  # keys keep their order
    write_yaml_atomic(path, {"seed": 1})  # replaced whole
    assert read_yaml(path) == {"seed": 1}


def test_a_python_tag_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"params: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SearchError, match=r"evil.yaml:1: not valid YAML"):
        read_yaml(path)
    assert not marker.exists()


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "expected a YAML mapping at the top; got list"),
    ("", "expected a YAML mapping at the top; got NoneType"),
    ("a: [1, 2\n", "not valid YAML"),
])
def test_a_file_that_is_no_mapping_is_refused_with_its_name(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(SearchError, match=message) as caught:
        read_yaml(path)
    assert str(path) in str(caught.value)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 2000
    with pytest.raises(SearchError, match="anchors and aliases expand to more than"):
        read_yaml(path)


def test_nesting_too_deep_binary_and_missing_files_are_refused(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * (MAX_YAML_DEPTH + 5) + "]" * (MAX_YAML_DEPTH + 5) + "\n")
    with pytest.raises(SearchError, match=f"nested deeper than {MAX_YAML_DEPTH} levels"):
        read_yaml(deep)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(SearchError, match="not UTF-8 text .byte 0xff at offset 3"):
        read_yaml(binary)
    with pytest.raises(SearchError, match="file not found"):
        read_yaml(tmp_path / "absent.yaml")
