"""A pipeline's config, typed: the source, steps, sink and checks as frozen pydantic models whose bounds
live on their fields. Clients' names (camelCase, the GraphQL input's) are the aliases, so a refusal
names the input field at fault; the stored form uses the Python names.

Header values are secrets: they are kept out of the stored config (`stored_config`) and beside it
(`secrets_of`), put back only to run (`from_stored`), and shown masked (`masked_headers`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from services.errors import invalid
from services.names import name_problem

MAX_DELAY_SECONDS = 60
DEFAULT_MAX_PAGES = 100
SECRET_VISIBLE = 4
MASK = "•" * 8


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def refused(message: str, *field: str) -> PydanticCustomError:
    """A refusal raised inside a validator; `field` continues the path from where the validator sits."""
    return PydanticCustomError("refused", message, {"field": list(field)})


def _names_to_values(cls: type, value: Any, info: ValidationInfo) -> Any:
    """A validator of both web sources: headers and query parameters are objects of names to text or
    numbers (they go on the wire as text)."""
    if value is not None and not (isinstance(value, dict) and all(isinstance(v, (str, int, float)) for v in value.values())):
        raise refused(f"`{to_camel(info.field_name)}` must be an object of names to values")
    return value


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

    _headers_and_params = field_validator("headers", "params", mode="before")(_names_to_values)

    @field_validator("method")
    @classmethod
    def _get_or_post(cls, method: str) -> str:
        if method.upper() not in ("GET", "POST"):
            raise refused("`method` is GET or POST")
        return method  # as given: shown back as the client wrote it

    @model_validator(mode="after")
    def _one_paging_style(self) -> "HttpSource":
        """One paging style at a time, with what it needs; JSON-only settings refused for CSV."""
        styles = [name for name, used in (("nextPagePath", self.next_page_path),
                                          ("cursorPath/cursorParam", self.cursor_path or self.cursor_param),
                                          ("pageParam", self.page_param), ("offsetParam", self.offset_param)) if used]
        if len(styles) > 1:
            raise refused(f"Page one way: {' and '.join(styles)} cannot be used together")
        if bool(self.cursor_path) != bool(self.cursor_param):
            missing = "cursorParam" if self.cursor_path else "cursorPath"
            raise refused("A cursor needs both `cursorPath` (where each reply has it) and `cursorParam` (where it goes)",
                          missing)
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


def _a_name(name: str) -> str:
    """The names rule (services.names) inside a config: a sink's name, a scraped field's column name."""
    problem = name_problem(name)
    if problem:
        raise refused(problem)
    return name.strip()


class ScrapeField(Config):
    name: str
    selector: str
    attribute: str | None = None

    _name = field_validator("name")(_a_name)

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

    _headers = field_validator("headers", mode="before")(_names_to_values)

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


class NamedSink(Config):
    name: str

    _name = field_validator("name")(_a_name)


class DatasetSink(NamedSink):
    kind: Literal["dataset"] = "dataset"


class ParquetSink(NamedSink):
    kind: Literal["parquet"] = "parquet"


TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SqliteSink(Config):
    kind: Literal["sqlite"] = "sqlite"
    table: str = Field(pattern=TABLE_NAME,
                       json_schema_extra={"refusal": "`table` must be a plain identifier (letters, digits, _)"})
    mode: Literal["replace", "append", "upsert"] = Field(
        default="replace", json_schema_extra={"refusal": "`mode` is replace, append or upsert"})
    key: list[str] | None = None
    indexes: list[list[str]] | None = None

    @model_validator(mode="after")
    def _keys_fit_the_mode(self) -> "SqliteSink":
        if self.mode == "upsert" and not self.key:
            raise refused("`upsert` needs a `key`: the columns that identify a row", "key")
        if self.mode == "append" and self.key:
            raise refused("`append` never replaces rows, so it takes no `key`; use `upsert`", "key")
        lists = ([(["key"], self.key)] if self.key is not None else []) + [
            (["indexes", str(i)], columns) for i, columns in enumerate(self.indexes or [])]
        for path, columns in lists:
            if not columns or len(set(columns)) != len(columns) or not all(name.strip() for name in columns):
                raise refused("Name one or more distinct columns", *path)
        return self


Sink = Annotated[DatasetSink | ParquetSink | SqliteSink, Field(discriminator="kind")]

StepKind = Literal["impute", "encode", "scale", "dropColumns", "renameColumns", "cast", "datetimeFeatures",
                   "dropDuplicates", "clipOutliers", "derive"]


class PipelineStep(Config):
    """A preprocessing step: its parameters (Python names) are checked by services.preprocessing, which
    owns them (against the columns, which only a run or a dataset source knows)."""

    step: StepKind
    params: dict[str, Any] = Field(default_factory=dict)


ROW_RULES = ("not_null", "unique", "min", "max", "pattern", "allowed_values")  # a failure is a set of rows
COLUMN_RULES = (*ROW_RULES, "semantic_type", "max_null_ratio", "drift")
TABLE_RULES = ("min_rows", "max_rows")
CheckAction = Literal["FAIL_RUN", "DROP_ROWS", "WARN"]
DriftMethodName = Literal["KS", "WASSERSTEIN", "CHI_SQUARE", "JENSEN_SHANNON", "PSI"]  # services.drift.DriftMethod


class DriftRule(Config):
    """The column's distribution against the suite's reference dataset (the version it was suggested from);
    no method: chosen per column type and size (services.drift.choose_method)."""

    method: DriftMethodName | None = None
    threshold: float | None = None

    @model_validator(mode="after")
    def _threshold_fits_method(self) -> "DriftRule":
        from services.drift import DriftMethod, valid_threshold
        if self.threshold is not None:
            methods = [DriftMethod(self.method)] if self.method else list(DriftMethod)
            if not any(valid_threshold(m, self.threshold) for m in methods) or (
                    self.method is None and not 0 < self.threshold <= 1):
                raise refused("`threshold` must be above 0 and at most 1 (a p-value or a bounded distance); "
                              "PSI and WASSERSTEIN also take larger distances", "threshold")
        return self


class PipelineCheck(Config):
    """One check: a column (or the table) and one or more rules, or a whole saved suite by `suite_id` (its
    checks then fail the run or warn as this entry's `on_fail` says)."""

    suite_id: str | None = None
    column: str | None = None
    not_null: bool | None = None
    unique: bool | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    allowed_values: list[str] | None = Field(default=None, min_length=1,
                                             json_schema_extra={"refusal": "`allowedValues` cannot be empty"})
    semantic_type: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "DATETIME", "TEXT", "IDENTIFIER", "EMPTY"] | None = None
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    max_null_ratio: float | None = Field(default=None, ge=0, le=1)
    drift: DriftRule | None = None
    on_fail: CheckAction = "FAIL_RUN"

    @field_validator("pattern")
    @classmethod
    def _is_re2(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            import pyarrow as pa
            import pyarrow.compute as pc
            try:
                pc.match_substring_regex(pa.array([""]), pattern=pattern)
            except pa.ArrowInvalid as exc:
                raise refused(f"Not a regular expression (RE2 syntax): {exc}") from exc
        return pattern

    @property
    def rules(self) -> list[str]:
        """The rules this check sets, in a fixed order (a `False` flag sets nothing)."""
        return [rule for rule in (*COLUMN_RULES, *TABLE_RULES) if getattr(self, rule) is not None
                and getattr(self, rule) is not False]

    @model_validator(mode="after")
    def _can_be_evaluated(self) -> "PipelineCheck":
        rules = self.rules
        if self.suite_id is not None:
            if rules or self.column is not None:
                raise refused("A check naming a `suiteId` takes no column or rules of its own", "suiteId")
            if self.on_fail == "DROP_ROWS":
                raise refused("A suite fails the run or warns (FAIL_RUN or WARN): its table-wide checks single out "
                              "no rows", "onFail")
            return self
        if not rules:
            raise refused("Give the check at least one rule (notNull, unique, min, max, pattern, allowedValues, "
                          "semanticType, minRows, maxRows, maxNullRatio, drift) or a `suiteId`")
        if any(rule in COLUMN_RULES for rule in rules) and not (self.column or "").strip():
            raise refused("Name the `column` the check is about", "column")
        if self.on_fail == "DROP_ROWS" and not set(rules) <= set(ROW_RULES):
            raise refused("DROP_ROWS needs rules that single out rows; semanticType, minRows, maxRows, maxNullRatio "
                          "and drift cannot",
                          "onFail")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise refused("`min` is above `max`", "min")
        return self


def _tagged(part: Any) -> Any:
    """A @oneOf part as the client sends it ({"http": {...}}) as a tagged one ({"kind": "http", ...})."""
    if isinstance(part, dict) and "kind" not in part and len(part) == 1:
        (kind, spec), = part.items()
        if isinstance(spec, dict):
            return {**spec, "kind": kind}
    return part


class PipelineConfig(Config):
    source: Source
    steps: list[PipelineStep] = Field(default_factory=list)
    sink: Sink
    checks: list[PipelineCheck] | None = None  # None: never given (not shown); []: removed

    @field_validator("checks")
    @classmethod
    def _drift_needs_a_suite(cls, checks: list[PipelineCheck] | None) -> list[PipelineCheck] | None:
        for index, check in enumerate(checks or []):
            if check.drift is not None:
                raise PydanticCustomError("refused", "A drift check needs a reference: save it in a check suite "
                                          "(whose dataset is the reference) and name the suite by `suiteId`",
                                          {"field": [str(index), "drift"]})
        return checks

    @model_validator(mode="before")
    @classmethod
    def _one_of_parts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {**data, **{part: _tagged(data[part]) for part in ("source", "sink") if part in data}}
        return data


class SourceOnly(Config):
    """A source on its own (previews), refused with the same paths as in a whole config."""

    source: Source

    @model_validator(mode="before")
    @classmethod
    def _one_of_part(cls, data: Any) -> Any:
        return {**data, "source": _tagged(data["source"])} if isinstance(data, dict) and "source" in data else data


class StepsOnly(Config):
    steps: list[PipelineStep] = Field(default_factory=list)


def parse_config(data: dict[str, Any]) -> PipelineConfig:
    """The config a client gave (GraphQL names, @oneOf parts, dataset ids already decoded), typed;
    a refusal is an INVALID_INPUT naming the input field at fault."""
    return _parsed(PipelineConfig, data)


def parse_source(source: dict[str, Any]) -> HttpSource | ScrapeSource | DatasetSource:
    return _parsed(SourceOnly, {"source": source}).source


def parse_steps(steps: list[dict[str, Any]] | None) -> list[PipelineStep]:
    return _parsed(StepsOnly, {"steps": steps or []}).steps


def parse_typed(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """`data` as `model` (a Config of the GraphQL input's names); a refusal is an INVALID_INPUT naming the field."""
    return _parsed(model, data)


def _parsed(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refusal(model, exc.errors()[0]) from None


def _refusal(model: type[BaseModel], error: dict[str, Any]):
    path = [str(part) for part in error["loc"]]
    context = error.get("ctx") or {}
    if error["type"] == "refused":
        return invalid(error["msg"], [*path, *context.get("field", [])])
    info = _field_at(model, error["loc"])
    name = f"`{path[-1]}`" if path else "The config"
    refusal = (info.json_schema_extra or {}).get("refusal") if info is not None and isinstance(
        info.json_schema_extra, dict) else None
    if refusal:
        return invalid(refusal, path)
    bounds = _bounds(info) if info is not None else {}
    if error["type"] in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and bounds:
        return invalid(f"{name} {_bounds_text(bounds)}", path)
    return invalid(f"{name}: {error['msg']}", path)


def _bounds(info: FieldInfo) -> dict[str, Any]:
    found = {}
    for item in info.metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(item, bound, None) is not None:
                found[bound] = getattr(item, bound)
    return found


def _bounds_text(bounds: dict[str, Any]) -> str:
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = bounds.get("le")
    if low and low[0] == "ge" and high is not None:
        return f"must be between {low[1]:,} and {high:,}"
    if low and high is not None:
        return f"must be above {low[1]:,} and at most {high:,}"
    if low == ("ge", 0):
        return "cannot be negative"
    if low:
        return f"must be {'at least' if low[0] == 'ge' else 'above'} {low[1]:,}"
    return f"must be at most {high:,}"


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The field a validation error's location points at, through tagged unions and lists."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrapped(current)
        if isinstance(part, int):
            if get_origin(current) is list:
                current = get_args(current)[0]
            continue
        if get_origin(current) is Union:
            members = [m for m in get_args(current) if isinstance(m, type) and issubclass(m, BaseModel)
                       and m.model_fields.get("kind") is not None and m.model_fields["kind"].default == part]
            if members:
                current = members[0]
                continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if info is None:
                return None
            current = info.annotation
        else:
            return None
    return info


def _unwrapped(annotation: Any) -> Any:
    """X from Optional[X] and Annotated[X, ...]."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            return Union[tuple(members)]  # noqa: UP007 - built from a runtime tuple; `|` has no such form
        return annotation


# --- stored form and secrets ---------------------------------------------------------------------

WEB_KINDS = ("http", "scrape")


def stored_config(config: PipelineConfig) -> dict[str, Any]:
    """The config column: the typed config's JSON dump (Python names), header values left out."""
    return config.model_dump(mode="json", exclude_none=True, exclude={"source": {"headers"}})


def secrets_of(config: PipelineConfig) -> dict[str, Any]:
    """The secrets column: the header values the client gave, by source kind and header name."""
    headers = getattr(config.source, "headers", None)
    return {config.source.kind: dict(headers)} if headers is not None else {}


def from_stored(config: dict[str, Any], secrets: dict[str, Any] | None = None) -> PipelineConfig:
    """A stored config (and its secrets) typed again; stored configs were checked when saved."""
    source = dict(config["source"])
    headers = (secrets or {}).get(source.get("kind"))
    if headers is not None:
        source["headers"] = headers
    return PipelineConfig.model_validate({**config, "source": source})


def run_snapshot(config: PipelineConfig) -> dict[str, Any]:
    """A run's own copy of what it ran with: the whole config, header values masked (a run never runs
    again from it, so it keeps no secrets)."""
    return masked_headers(config).model_dump(mode="json", exclude_none=True)


def job_config(config: PipelineConfig) -> dict[str, Any]:
    """The config as a job's params carry it to the worker: whole, header values included."""
    return config.model_dump(mode="json", exclude_none=True)


def given_form(config: PipelineConfig) -> dict[str, Any]:
    """The config in its input names (tagged parts, dataset ids raw), for merging a change into it."""
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def masked(value: Any) -> str:
    """A header value as shown: its last characters only, and only when long enough to keep most hidden.
    Masking a masked value gives it back unchanged."""
    text = str(value)
    return MASK + text[-SECRET_VISIBLE:] if len(text) > SECRET_VISIBLE * 2 else MASK


def masked_headers(config: PipelineConfig) -> PipelineConfig:
    """The config with header values masked: what a run's snapshot keeps, and what clients are shown."""
    headers = getattr(config.source, "headers", None)
    if not headers:
        return config
    return config.model_copy(update={"source": config.source.model_copy(
        update={"headers": {name: masked(value) for name, value in headers.items()}})})


def keep_masked_secrets(given: dict[str, Any], stored: PipelineConfig) -> dict[str, Any]:
    """A client's source ({"http": {...}}) with each header sent back exactly as `config` showed it
    (masked) given its stored value again, so an echoed config can be sent back without overwriting
    its tokens with dots."""
    old = getattr(stored.source, "headers", None) or {}
    kind, spec = next(iter(given.items())) if len(given) == 1 else (None, None)
    if kind != stored.source.kind or not isinstance(spec, dict) or not isinstance(spec.get("headers"), dict):
        return given
    headers = {name: old[name] if name in old and value == masked(old[name]) else value
               for name, value in spec["headers"].items()}
    return {kind: {**spec, "headers": headers}}


@dataclass(frozen=True)
class PipelineLimits:
    """What a PIPELINE job may fetch; the same for runs asked for and runs the scheduler starts.
    Carried in the job's params (JSON), so a worker elsewhere applies the same limits."""

    allowed_hosts: str
    max_source_bytes: int
    max_records: int
    max_decompressed_bytes: int = 2**32
    import_dirs: str = ""  # where file sources may read (ASSAY_IMPORT_DIRS)

    def as_params(self) -> dict[str, Any]:
        return {"allowed_hosts": self.allowed_hosts, "max_source_bytes": self.max_source_bytes,
                "max_records": self.max_records, "max_decompressed_bytes": self.max_decompressed_bytes,
                "import_dirs": self.import_dirs}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "PipelineLimits":
        return cls(allowed_hosts=params["allowed_hosts"], max_source_bytes=int(params["max_source_bytes"]),
                   max_records=int(params["max_records"]),
                   max_decompressed_bytes=int(params.get("max_decompressed_bytes") or 2**32),
                   import_dirs=params.get("import_dirs") or "")
