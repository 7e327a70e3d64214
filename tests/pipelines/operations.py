"""The GraphQL the pipeline tests send, and create/run as a client would call them."""

from __future__ import annotations

from tests.support.graphql import gql, register, wait_for_job

CREATE = """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
  pipeline { id name config } errors { code message field } } }"""
RUN = (
    "mutation($id: ID!) { runPipeline(input: {id: $id}) { run { id status } job { id } errors { code message "
    "field } } }"
)
PIPELINE = """query($id: ID!) { pipeline(id: $id) { id name config
  lastRun { status rowsIn rowsOut version error dataset { id name parent { id } } job { kind } }
  runs { totalCount edges { node { status version config } } }
  stats { runs succeeded failed meanSeconds rowsOut }
  outputSchema { name semanticType dtype } data(limit: 5) { columns rows totalRows } } }"""
PREVIEW = """mutation($input: PreviewSourceInput!) { previewSource(input: $input) {
  preview { columns { name semanticType dtype } rows { columns rows totalRows } log } errors { code message field
  } } }"""


def create(client, token, **input_):
    return gql(client, CREATE, {"input": input_}, token)["data"]["createPipeline"]


def run(client, token, pipeline_id) -> dict:
    started = gql(client, RUN, {"id": pipeline_id}, token)["data"]["runPipeline"]
    assert started["errors"] == [], started
    job = wait_for_job(client, token, started["job"]["id"])
    result = gql(client, PIPELINE, {"id": pipeline_id}, token)["data"]["pipeline"]
    result["job"] = job
    return result


def create_from_dataset(client, token, dataset_id: str, name: str, sink: dict, **input_) -> dict:
    """createPipeline's payload for a pipeline named `name` reading one of the user's datasets into `sink`."""
    return create(client, token, name=name, source={"dataset": {"datasetId": dataset_id}}, sink=sink, **input_)


class Author:
    """A user of `client` making pipelines through GraphQL: the calls above, signed in (with `token`, else as a new
    user registered here)."""

    def __init__(self, client, token: str | None = None) -> None:
        self.client = client
        self.token = token or register(client)["accessToken"]

    def gql(self, query: str, variables: dict | None = None) -> dict:
        return gql(self.client, query, variables, self.token)

    def create(self, **input_) -> dict:
        return create(self.client, self.token, **input_)

    def run(self, pipeline_id: str) -> dict:
        return run(self.client, self.token, pipeline_id)

    def create_and_run(self, **input_) -> dict:
        """Create a pipeline from `input_`, which must be accepted, and run it once: `run`'s result (`id` is the
        pipeline's)."""
        created = self.create(**input_)
        assert created["errors"] == [], created
        return self.run(created["pipeline"]["id"])

    def refusal(self, **input_) -> dict:
        """createPipeline's first error for `input_`, which must be refused with nothing saved."""
        refused = self.create(**input_)
        assert refused["pipeline"] is None and refused["errors"], refused
        return refused["errors"][0]
