"""YAML reading (tuning/spec/yaml_io.py): YAML 1.2 numbers, repeated keys, one-line errors with
LINE:COL, and the positions of fields (so a field's error names its line)."""

from __future__ import annotations

import math

import pytest

from optcompare.errors import InputError
from tests.tuning.file_texts import BROKEN_YAML, write
from tuning.spec.protocol import load_protocol
from tuning.spec.yaml_io import read_yaml, read_yaml_marked


def test_yaml_exponent_numbers_are_floats(tmp_path):
    path = write(
        tmp_path,
        "nums.yaml",
        """\
        a: 1e-3
        b: 1.0e4
        c: 1E5
        d: -2.5e-7
        e: 3
        f: .5
        g: 1.0
        h: "1e-3"
        i: 1e3x
        j: .inf
        """,
    )
    data = read_yaml(path)
    assert data["a"] == 1e-3 and isinstance(data["a"], float)
    assert data["b"] == 1e4 and isinstance(data["b"], float)
    assert data["c"] == 1e5 and isinstance(data["c"], float)
    assert data["d"] == -2.5e-7 and isinstance(data["d"], float)
    assert data["e"] == 3 and isinstance(data["e"], int)
    assert data["f"] == 0.5 and isinstance(data["f"], float)
    assert data["g"] == 1.0 and isinstance(data["g"], float)
    assert data["h"] == "1e-3"  # quoted stays a string
    assert data["i"] == "1e3x"
    assert math.isinf(data["j"])


def test_yaml_signed_leading_dot_floats(tmp_path):
    path = write(tmp_path, "signed.yaml", "a: -.5\nb: +.5\n")
    assert read_yaml(path) == {"a": -0.5, "b": 0.5}


def test_yaml_exponent_in_protocol_range(tmp_path):
    path = write(
        tmp_path,
        "exp.yaml",
        """\
        name: exp
        schedule: constant
        optimizers:
          sgd: {learning_rate: {min: 1e-4, max: 1e1, scaling: log}}
        """,
    )
    space = load_protocol(str(path)).for_optimizer("sgd").space
    assert space["learning_rate"] == {"min": 1e-4, "max": 10.0, "scaling": "log"}


def test_yaml_errors_are_one_line_path_line_col(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_YAML)
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:3:11: not valid YAML: ")
    assert "\n" not in message and "<unicode string>" not in message


def test_yaml_merge_keys_may_override_merged_values(tmp_path):
    path = write(tmp_path, "merge.yaml", "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


def test_yaml_not_utf8_is_input_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_yaml(path)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_unknown_protocol_name_lists_shipped():
    with pytest.raises(
        InputError, match=r"unknown protocol 'nope'; valid choices: .*choi-full.*lr-only"
    ):
        load_protocol("nope")


def test_marks_give_the_line_and_column_of_every_field(tmp_path):
    path = write(tmp_path, "m.yaml", "name: m\noptimizers:\n  sgd:\n    learning_rate: {min: 1, max: 2}\nlist: [a, {b: 1}]\n")
    data, marks = read_yaml_marked(path)
    assert data == read_yaml(path)
    assert marks[("name",)] == (1, 7)
    assert marks[("optimizers", "sgd", "learning_rate")] == (4, 20)
    assert marks[("optimizers", "sgd", "learning_rate", "max")] == (4, 34)
    assert marks[("list", 1, "b")] == (5, 15)


def test_a_field_error_names_the_line_and_column_of_the_field(tmp_path):
    path = write(
        tmp_path, "p.yaml",
        "name: p\nschedule: constant\noptimizers:\n  sgd:\n    learning_rate: {min: 1.0, max: 0.1, scaling: log}\n",
    )
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    assert str(info.value) == f"{path}:5:20: optimizers.sgd.learning_rate: min (1.0) must be below max (0.1)"
