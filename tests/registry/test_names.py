"""References that serve by name read one way only; names and aliases that could blur them are refused."""

from __future__ import annotations

import pytest

from services.errors import ServiceError
from services.registry.names import ModelReference, check_alias, check_name, check_tags, parse_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn@champion", ModelReference("churn", alias="champion")),
        ("churn/3", ModelReference("churn", version=3)),
        ("team.churn-v2@staging_2", ModelReference("team.churn-v2", alias="staging_2")),
        ("churn", None),
        ("churn@", None),
        ("@champion", None),
        ("churn/0", None),
        ("churn/-1", None),
        ("churn/３", None),
        ("churn/1/2", None),
        ("churn@9", None),
        ("ch urn@champion", None),
        ("a@b@c", None),
        ("churn/99999999999", None),
    ],
)
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected
    if expected is not None:
        assert str(expected) == text


@pytest.mark.parametrize("name", ["", "a/b", "a@b", " churn", "-churn", "x" * 101])
def test_names_that_would_blur_a_reference_are_refused(name):
    with pytest.raises(ServiceError) as refused:
        check_name(name, ["name"])
    assert refused.value.field == ["name"] and refused.value.code == "INVALID_INPUT"


@pytest.mark.parametrize("alias", ["", "1st", "a/b", "a@b", "x" * 65, "champ ion"])
def test_aliases_start_with_a_letter_and_stay_simple(alias):
    with pytest.raises(ServiceError):
        check_alias(alias, ["alias"])


def test_tags_are_trimmed_deduplicated_and_bounded():
    assert check_tags([" a", "a", "b"], ["tags"]) == ["a", "b"]
    with pytest.raises(ServiceError):
        check_tags(["x"] * 21, ["tags"])
