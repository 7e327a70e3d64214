"""A pipeline's config, typed: the source, steps, sink and checks as frozen pydantic models whose bounds
live on their fields. Clients' names (camelCase, the GraphQL input's) are the aliases, so a refusal
names the input field at fault; the stored form uses the Python names.

Header values are secrets: they are kept out of the stored config (`stored_config`) and beside it
(`secrets_of`), put back only to run (`from_stored`), and shown masked (`masked_headers`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.pipelines.config.base import Config
from services.pipelines.config.checks import PipelineCheck
from services.pipelines.config.refusals import parse_typed
from services.pipelines.config.sinks import Sink
from services.pipelines.config.sources import DatasetSource, FileSource, HttpSource, ScrapeSource, Source
from services.pipelines.config.steps import PipelineStep

SECRET_VISIBLE = 4
MASK = "•" * 8


def _tagged(part: Any) -> Any:
    """A @oneOf part as the client sends it ({"http": {...}}) as a tagged one ({"kind": "http", ...})."""
    if isinstance(part, dict) and "kind" not in part and len(part) == 1:
        ((kind, spec),) = part.items()
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
                raise PydanticCustomError(
                    "refused",
                    "A drift check needs a reference: save it in a check suite "
                    "(whose dataset is the reference) and name the suite by `suiteId`",
                    {"field": [str(index), "drift"]},
                )
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
    return parse_typed(PipelineConfig, data)


def parse_source(source: dict[str, Any]) -> HttpSource | ScrapeSource | DatasetSource | FileSource:
    return parse_typed(SourceOnly, {"source": source}).source


def parse_steps(steps: list[dict[str, Any]] | None) -> list[PipelineStep]:
    return parse_typed(StepsOnly, {"steps": steps or []}).steps


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
    kind = source.get("kind")
    headers = (secrets or {}).get(kind) if isinstance(kind, str) else None
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
    return config.model_copy(
        update={
            "source": config.source.model_copy(
                update={"headers": {name: masked(value) for name, value in headers.items()}}
            )
        }
    )


def keep_masked_secrets(given: dict[str, Any], stored: PipelineConfig) -> dict[str, Any]:
    """A client's source ({"http": {...}}) with each header sent back exactly as `config` showed it
    (masked) given its stored value again, so an echoed config can be sent back without overwriting
    its tokens with dots."""
    old = getattr(stored.source, "headers", None) or {}
    kind, spec = next(iter(given.items())) if len(given) == 1 else (None, None)
    if kind != stored.source.kind or not isinstance(spec, dict) or not isinstance(spec.get("headers"), dict):
        return given
    headers = {
        name: old[name] if name in old and value == masked(old[name]) else value
        for name, value in spec["headers"].items()
    }
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
        return {
            "allowed_hosts": self.allowed_hosts,
            "max_source_bytes": self.max_source_bytes,
            "max_records": self.max_records,
            "max_decompressed_bytes": self.max_decompressed_bytes,
            "import_dirs": self.import_dirs,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PipelineLimits:
        return cls(
            allowed_hosts=params["allowed_hosts"],
            max_source_bytes=int(params["max_source_bytes"]),
            max_records=int(params["max_records"]),
            max_decompressed_bytes=int(params.get("max_decompressed_bytes") or 2**32),
            import_dirs=params.get("import_dirs") or "",
        )
