"""Library errors name parameters; the command line shows them with its flags."""

from __future__ import annotations

import pytest

from optcompare.errors import InputError, ParameterError, ParameterText, with_flags


@pytest.mark.parametrize(
    ("parameter", "template", "plain", "flags", "shown"),
    [
        ("budget", "{name} must be >= 1, got 0", "budget must be >= 1, got 0",
         {"budget": "--budget"}, "--budget must be >= 1, got 0"),
        # A hint about another parameter is renamed too; an unmapped one keeps its own name.
        ("address", "no room; raise {name:num_cpus} or join a cluster with {name}",
         "no room; raise num_cpus or join a cluster with address",
         {"address": "--address"}, "no room; raise num_cpus or join a cluster with --address"),
        ("address", "raise {name:num_cpus}, or {name}", "raise num_cpus, or address",
         {"address": "--address", "num_cpus": "--num-cpus"}, "raise --num-cpus, or --address"),
        # Braces that are not a placeholder stay as written.
        ("rerun", "expected {seeds: N} for {name}", "expected {seeds: N} for rerun",
         {"rerun": "--rerun"}, "expected {seeds: N} for --rerun"),
    ],
)
def test_parameter_texts_name_parameters_and_flags(parameter, template, plain, flags, shown):
    text = ParameterText(parameter, template)
    assert text == plain
    assert with_flags(text, flags) == shown
    error = ParameterError(parameter, template)
    assert isinstance(error, InputError) and str(error) == plain
    assert with_flags(error, flags) == shown
    assert with_flags(error, {}) == plain


def test_parameters_lists_the_subject_first():
    text = ParameterText("address", "raise {name:num_cpus} or give {name} or {name:num_cpus}")
    assert text.parameters() == ("address", "num_cpus")


def test_other_messages_pass_through():
    assert with_flags(InputError("bad file"), {"budget": "--budget"}) == "bad file"
    assert with_flags("plain text", {}) == "plain text"
