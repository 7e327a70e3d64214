"""Dataset operations."""
from __future__ import annotations

import strawberry

from resolvers import datasets as dataset_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import field_error, raw_id, to_global_id, user_error
from schema.datasets import (Dataset, DatasetConnection, DeleteInput, DeletePayload, UploadDatasetInput,
                             UploadDatasetPayload)
from schema.jobs import Job


@strawberry.type
class DatasetsQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller's datasets, newest first")
    async def datasets(self, info: strawberry.Info, first: int | None = 20, after: str | None = None,
                       search: str | None = None) -> DatasetConnection:
        try:
            page = await dataset_resolvers.list_page(info.context, first=20 if first is None else first, after=after, search=search)
        except ServiceError as exc:
            raise field_error(exc) from exc
        return DatasetConnection.from_page(page)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def dataset(self, info: strawberry.Info, id: strawberry.ID) -> Dataset | None:
        row = await dataset_resolvers.get(info.context, raw_id(id, "Dataset"))
        return Dataset.from_row(row) if row else None


@strawberry.type
class DatasetsMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Upload a CSV/TSV/TXT file (optionally gzipped), an .xlsx/.xls/.ods workbook or a "
                                     "Parquet file with the GraphQL multipart "
                                     "request spec; it is ingested by an INGEST job.")
    async def upload_dataset(self, info: strawberry.Info, input: UploadDatasetInput) -> UploadDatasetPayload:
        options = {} if input.csv is None else {
            "delimiter": input.csv.delimiter, "encoding": input.csv.encoding, "has_header": input.csv.has_header,
            "na_values": input.csv.na_values, "sheet": input.csv.sheet,
            "on_bad_lines": input.csv.on_bad_lines.value if input.csv.on_bad_lines else None}
        try:
            dataset, job = await dataset_resolvers.upload(info.context, upload=input.file, name=input.name,
                                                          csv_options=options)
        except ServiceError as exc:
            return UploadDatasetPayload(errors=[user_error(exc)])
        return UploadDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Delete a dataset, its files and jobs")
    async def delete_dataset(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        try:
            deleted = await dataset_resolvers.delete(info.context, raw_id(input.id, "Dataset"))
        except ServiceError as exc:
            return DeletePayload(errors=[user_error(exc)])
        return DeletePayload(deleted_id=to_global_id("Dataset", deleted))
