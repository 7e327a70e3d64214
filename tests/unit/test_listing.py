"""Listing, the list calls declared once (services/pagination.py): a call never lists every user's rows, and
narrows only by the columns it was declared with, so a misspelt narrowing is an error rather than ignored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.pagination import Listing
from services.storage.tables import Model, Pipeline

NO_SESSION: Any = None  # each call below is refused before it reads anything


def _call(listing: Listing[Any], **values: str | None) -> Any:
    return asyncio.run(listing(NO_SESSION, first=10, after=None, max_first=100, **values))


@pytest.mark.parametrize("values", [{}, {"owner_id": None}], ids=["absent", "null"])
def test_a_listing_without_its_owner_is_refused(values):
    with pytest.raises(TypeError, match="owner_id"):
        _call(Listing(Pipeline, "owner_id"), **values)


def test_a_listing_refuses_a_narrowing_it_was_not_declared_with():
    with pytest.raises(TypeError, match="dataset_id"):
        _call(Listing(Pipeline, "owner_id"), owner_id="u1", dataset_id="d1")
    with pytest.raises(TypeError, match="status"):
        _call(Listing(Model, "owner_id", "dataset_id"), owner_id="u1", status="READY")
