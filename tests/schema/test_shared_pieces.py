"""The pieces schema/ types share, tested on small types of their own: a stored value reaches the enum its field
declares, an input's trailing options keep their place in the schema, and a generated type keeps its descriptions."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace

import pytest
import strawberry
from pydantic import BaseModel
from strawberry.experimental import pydantic as from_model

from schema.common import fields_last
from schema.conversion import described, fields_of


@strawberry.enum
class Colour(Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Paint:
    name: str
    colour: Colour
    mixed_from: list[Colour]
    fallback: Colour | None


@strawberry.type
class Query:
    paint: Paint


def test_a_stored_string_becomes_the_enum_its_field_declares_and_null_stays_null():
    row = SimpleNamespace(name="sky", colour="BLUE", mixed_from=["RED", Colour.BLUE], fallback=None)
    assert fields_of(Paint, row) == {
        "name": "sky",
        "colour": Colour.BLUE,
        "mixed_from": [Colour.RED, Colour.BLUE],
        "fallback": None,
    }


def test_a_value_given_is_taken_as_it_is_and_an_unknown_stored_value_fails_loudly():
    row = SimpleNamespace(name="sky", colour="GREEN", mixed_from=[], fallback="RED")
    assert fields_of(Paint, row, colour=Colour.RED)["colour"] is Colour.RED
    with pytest.raises(ValueError, match="GREEN"):
        fields_of(Paint, row)


class Lifetime:
    keep: bool = strawberry.field(default=False, description="Kept past the clean-up")
    note: str | None = None


@strawberry.input
@fields_last
class CreateThingInput(Lifetime):
    name: str


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_thing(self, input: CreateThingInput) -> bool:
        return input.keep


def test_fields_from_a_plain_base_come_after_the_inputs_own_with_their_defaults_and_descriptions():
    sdl = strawberry.Schema(query=Query, mutation=Mutation).as_str()
    declared = sdl[sdl.index("input CreateThingInput") :].split("}")[0]
    assert [line.split(":")[0].strip() for line in declared.splitlines()[1:] if ":" in line] == ["name", "keep", "note"]
    assert '"""Kept past the clean-up"""' in declared and "keep: Boolean! = false" in declared
    thing = CreateThingInput(name="a")
    assert (thing.keep, thing.note) == (False, None)


class StoredSize(BaseModel):
    width: int
    height: int | None = None


@described("A size as stored", height="Null when unknown")
@from_model.type(model=StoredSize, all_fields=True)
class Size:
    pass


def test_a_generated_type_carries_the_descriptions_given_to_it_and_a_misspelled_field_fails():
    @strawberry.type
    class SizeQuery:
        size: Size

    sdl = strawberry.Schema(query=SizeQuery).as_str()
    assert '"""A size as stored"""\ntype Size' in sdl and '"""Null when unknown"""\n  height: Int' in sdl
    with pytest.raises(KeyError):
        described(heigth="typo")(Size)
