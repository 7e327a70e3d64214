"""Where a pipeline writes: a new dataset version, a Parquet file, or a table of the server's SQLite file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from services.pipelines.config.base import Config, a_name, refused


class NamedSink(Config):
    name: str

    _name = field_validator("name")(a_name)


class DatasetSink(NamedSink):
    kind: Literal["dataset"] = "dataset"


class ParquetSink(NamedSink):
    kind: Literal["parquet"] = "parquet"


TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SqliteSink(Config):
    kind: Literal["sqlite"] = "sqlite"
    table: str = Field(
        pattern=TABLE_NAME, json_schema_extra={"refusal": "`table` must be a plain identifier (letters, digits, _)"}
    )
    mode: Literal["replace", "append", "upsert"] = Field(
        default="replace", json_schema_extra={"refusal": "`mode` is replace, append or upsert"}
    )
    key: list[str] | None = None
    indexes: list[list[str]] | None = None

    @model_validator(mode="after")
    def _keys_fit_the_mode(self) -> SqliteSink:
        if self.mode == "upsert" and not self.key:
            raise refused("`upsert` needs a `key`: the columns that identify a row", "key")
        if self.mode == "append" and self.key:
            raise refused("`append` never replaces rows, so it takes no `key`; use `upsert`", "key")
        lists = ([(["key"], self.key)] if self.key is not None else []) + [
            (["indexes", str(i)], columns) for i, columns in enumerate(self.indexes or [])
        ]
        for path, columns in lists:
            if not columns or len(set(columns)) != len(columns) or not all(name.strip() for name in columns):
                raise refused("Name one or more distinct columns", *path)
        return self


Sink = Annotated[DatasetSink | ParquetSink | SqliteSink, Field(discriminator="kind")]
