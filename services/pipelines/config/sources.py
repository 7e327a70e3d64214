"""Where a pipeline reads from: an HTTP API (paged), a scraped web page, a dataset, or a server file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from services.pipelines.config.base import Config, a_name, names_to_values, refused

MAX_DELAY_SECONDS = 60
DEFAULT_MAX_PAGES = 100

# What http and scrape sources share, declared in each in the GraphQL input's field order (the echo's)
Retries = Annotated[int, Field(ge=0, le=10)]
# int | float: a default or a whole number the client sent stays as it was given (30, not 30.0)
TimeoutSeconds = Annotated[int | float, Field(gt=0, le=600)]
DelaySeconds = Annotated[int | float, Field(ge=0, le=MAX_DELAY_SECONDS)]
MaxPages = Annotated[int, Field(ge=1, le=10_000)]


class HttpSource(Config):
    kind: Literal["http"] = "http"
    url: str
    method: str = "GET"
    headers: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    records_path: str | None = None
    next_page_path: str | None = None
    cursor_path: str | None = None
    cursor_param: str | None = None
    page_param: str | None = None
    first_page: int | None = None
    offset_param: str | None = None
    max_pages: MaxPages = DEFAULT_MAX_PAGES
    retries: Retries = 3
    timeout_seconds: TimeoutSeconds = 30
    delay_seconds: DelaySeconds = 0
    format: Literal["AUTO", "JSON", "CSV"] = "AUTO"

    _headers_and_params = field_validator("headers", "params", mode="before")(names_to_values)

    @field_validator("method")
    @classmethod
    def _get_or_post(cls, method: str) -> str:
        if method.upper() not in ("GET", "POST"):
            raise refused("`method` is GET or POST")
        return method  # as given: shown back as the client wrote it

    @model_validator(mode="after")
    def _one_paging_style(self) -> HttpSource:
        """One paging style at a time, with what it needs; JSON-only settings refused for CSV."""
        styles = [
            name
            for name, used in (
                ("nextPagePath", self.next_page_path),
                ("cursorPath/cursorParam", self.cursor_path or self.cursor_param),
                ("pageParam", self.page_param),
                ("offsetParam", self.offset_param),
            )
            if used
        ]
        if len(styles) > 1:
            raise refused(f"Page one way: {' and '.join(styles)} cannot be used together")
        if bool(self.cursor_path) != bool(self.cursor_param):
            missing = "cursorParam" if self.cursor_path else "cursorPath"
            raise refused(
                "A cursor needs both `cursorPath` (where each reply has it) and `cursorParam` (where it goes)", missing
            )
        if self.first_page is not None and not self.page_param:
            raise refused("`firstPage` goes with `pageParam`", "firstPage")
        if self.format == "CSV":
            for name in ("records_path", *PAGING_FIELDS):
                if getattr(self, name):
                    raise refused(f"`{to_camel(name)}` applies to JSON replies, not CSV", to_camel(name))
        return self

    @property
    def pages(self) -> int:
        return self.max_pages


PAGING_FIELDS = ("next_page_path", "cursor_path", "cursor_param", "page_param", "offset_param")


class ScrapeField(Config):
    name: str
    selector: str
    attribute: str | None = None

    _name = field_validator("name")(a_name)

    @field_validator("selector")
    @classmethod
    def _parses(cls, selector: str) -> str:
        """Refuse a selector lexbor cannot parse when the pipeline is saved, not when it first runs."""
        if selector:
            _check_selector(selector)
        return selector


def _check_selector(selector: str) -> None:
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError as exc:
        raise refused(f"Not a CSS selector: {selector!r}") from exc


class ScrapeSource(Config):
    kind: Literal["scrape"] = "scrape"
    url: str
    row_selector: str
    fields: list[ScrapeField] = Field(min_length=1, json_schema_extra={"refusal": "Give at least one field"})
    next_page_selector: str | None = None
    max_pages: int | None = Field(default=None, ge=1, le=10_000)  # default: see `pages`
    headers: dict[str, Any] | None = None
    retries: Retries = 3
    timeout_seconds: TimeoutSeconds = 30
    delay_seconds: DelaySeconds = 0

    _headers = field_validator("headers", mode="before")(names_to_values)

    @field_validator("row_selector", "next_page_selector")
    @classmethod
    def _parses(cls, selector: str | None) -> str | None:
        if selector:
            _check_selector(selector)
        return selector

    @property
    def pages(self) -> int:
        """Pages to follow: one without a next-page selector."""
        return (self.max_pages or DEFAULT_MAX_PAGES) if self.next_page_selector else 1


class DatasetSource(Config):
    kind: Literal["dataset"] = "dataset"
    dataset_id: str


class FileSource(Config):
    """A CSV file under one of the server's import directories (administrators only)."""

    kind: Literal["file"] = "file"
    path: str = Field(min_length=1, max_length=4096, json_schema_extra={"refusal": "`path` names a file"})


Source = Annotated[HttpSource | ScrapeSource | DatasetSource | FileSource, Field(discriminator="kind")]
