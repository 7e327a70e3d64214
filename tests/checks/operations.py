"""The check-suite operations as a client sends them, and data a month of orders might hold."""

from __future__ import annotations

import random

from tests.support.graphql import gql, ingest, wait_for_job

CHECK_FIELDS = """column notNull unique min max pattern allowedValues semanticType minRows maxRows maxNullRatio
  drift { method threshold } onFail"""
SUGGEST = f"""query($id: ID!) {{ suggestChecks(datasetId: $id) {{ dataset {{ id }} checks {{ {CHECK_FIELDS} }} }} }}"""
CREATE = f"""mutation($input: CreateCheckSuiteInput!) {{ createCheckSuite(input: $input) {{
  suite {{ id name dataset {{ id }} checks {{ {CHECK_FIELDS} }} }} errors {{ code message field }} }} }}"""
UPDATE = f"""mutation($input: UpdateCheckSuiteInput!) {{ updateCheckSuite(input: $input) {{
  suite {{ id name checks {{ {CHECK_FIELDS} }} }} errors {{ code message field }} }} }}"""
DELETE = """mutation($id: ID!) { deleteCheckSuite(input: {id: $id}) { deletedId errors { code message field } } }"""
VALIDATE = """mutation($dataset: ID!, $suite: ID!) { validateDataset(input: {datasetId: $dataset, suiteId: $suite}) {
  validation { id status } job { id kind } errors { code message field } } }"""
OUTCOME = """column rule expected passed observed failingRows examples failingSample onFail
  drift { method statistic pValue threshold drifted referenceCount currentCount referenceRows currentRows }"""
VALIDATION = f"""query($id: ID!) {{ validation(id: $id) {{ id status passed failedCount error
  dataset {{ id }} suite {{ id name }} job {{ id kind status }} checks {{ column }} results {{ {OUTCOME} }} }} }}"""
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"


def orders_csv(rows: int = 300, *, seed: int = 7, broken: bool = False) -> bytes:
    """Orders: a unique id, an amount, a status of three levels, a channel with a few missing values. `broken`:
    next month gone wrong (a repeated id, a negative and a huge amount, an unknown status, amounts doubled)."""
    rng = random.Random(seed)
    lines = ["id,amount,status,channel"]
    for i in range(rows):
        amount = round(rng.gauss(100, 15) * (2 if broken else 1), 2)
        status = rng.choice(["paid", "paid", "paid", "refunded", "pending"])
        channel = "" if i % 20 == 0 else rng.choice(["web", "store"])
        lines.append(f"{i + 1},{amount},{status},{channel}")
    if broken:
        lines[2] = "1,-5,lost,web"  # row 1 repeats row 0's id, with a negative amount and an unknown status
        lines[3] = "3,1000000,paid,web"  # row 2: a huge amount
    return ("\n".join(lines) + "\n").encode()


def ready_dataset(client, token, content: bytes, name: str = "orders.csv", *, profiled: bool = True) -> str:
    dataset = ingest(client, token, content, name, expect="SUCCEEDED")
    if profiled:
        started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
        assert started["errors"] == [], started
        assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    return dataset["id"]


def march_and_broken_april(client, token) -> tuple[str, str]:
    """The ids of March's orders, profiled (a suite's reference), and of April's gone wrong (not profiled)."""
    march = ready_dataset(client, token, orders_csv(), "march.csv")
    april = ready_dataset(client, token, orders_csv(seed=8, broken=True), "april.csv", profiled=False)
    return march, april


def as_input(check: dict) -> dict:
    """A suggested check as createCheckSuite takes it: nulls left out."""
    given = {key: value for key, value in check.items() if value is not None and key != "drift"}
    if check.get("drift") is not None:
        given["drift"] = {key: value for key, value in check["drift"].items() if value is not None}
    return given


def create_suite(client, token, dataset_id: str, checks: list[dict], name: str = "orders") -> dict:
    return gql(client, CREATE, {"input": {"datasetId": dataset_id, "name": name, "checks": checks}}, token)["data"][
        "createCheckSuite"
    ]


def validate(client, token, dataset_id: str, suite_id: str) -> dict:
    """Start a validation, wait for its job, and read the validation back."""
    started = gql(client, VALIDATE, {"dataset": dataset_id, "suite": suite_id}, token)["data"]["validateDataset"]
    assert started["errors"] == [], started
    job = wait_for_job(client, token, started["job"]["id"])
    validation = gql(client, VALIDATION, {"id": started["validation"]["id"]}, token)["data"]["validation"]
    validation["log"] = [entry["message"] for entry in job["logs"]]
    validation["job_status"] = job["status"]
    return validation
