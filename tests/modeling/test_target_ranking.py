"""The clarify stage's target ranking on realistic tables: an id, a date, a year, categories, measurements."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tests.support.graphql import gql, ingest

pytestmark = pytest.mark.one_database(reason="ranking target candidates")

ANALYZE = """mutation($id: ID!) { analyzeDataset(input: {datasetId: $id}) { job { id } errors { code message } } }"""
STATE = """query($id: ID!) { job(id: $id) { status choices logs(last: 50) { message } } }"""
CANCEL = """mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }"""
ROWS = 120
rng = np.random.default_rng(11)


def penguins() -> pd.DataFrame:
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], ROWS)
    sex = rng.choice(["male", "female", None], ROWS, p=[0.48, 0.48, 0.04])
    return pd.DataFrame(
        {
            "species": species,
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], ROWS),
            "bill_length_mm": rng.normal(44, 5, ROWS).round(1),
            "body_mass_g": rng.normal(4200, 800, ROWS).round(),
            "sex": sex,
            "year": rng.choice([2007, 2008, 2009], ROWS),
        }
    )


def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [f"ORD-{i:05d}" for i in range(ROWS)],
            "order_date": pd.date_range("2023-01-01", periods=ROWS, freq="D").strftime("%Y-%m-%d"),
            "fiscal_year": rng.choice([2023, 2024], ROWS),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "channel": rng.choice(["web", "shop"], ROWS),
            "amount": rng.gamma(2, 40, ROWS).round(2),
            "month": rng.integers(1, 13, ROWS),
        }
    )


def sensors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "reading_id": np.arange(ROWS),
            "taken_at": pd.date_range("2024-03-01", periods=ROWS, freq="h"),
            "temperature": rng.normal(21, 2, ROWS).round(2),
            "humidity": rng.normal(40, 5, ROWS).round(1),
            "year": [2024] * (ROWS - 30) + [2025] * 30,
        }
    )


def churn() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + ROWS),
            "signup_year": rng.choice(range(2015, 2024), ROWS),
            "plan": rng.choice(["basic", "plus", "pro"], ROWS),
            "monthly_spend": rng.normal(30, 9, ROWS).round(2),
            "churned": rng.choice(["yes", "no"], ROWS),
        }
    )


def analysis_outcome(client, token, frame: pd.DataFrame) -> dict:
    """Start an analysis without a target and return the clarify stage's decision: choices asked, or target taken."""
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "table.csv")
    assert dataset["status"] == "READY", dataset
    job_id = gql(client, ANALYZE, {"id": dataset["id"]}, token)["data"]["analyzeDataset"]["job"]["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = gql(client, STATE, {"id": job_id}, token)["data"]["job"]
        chosen = [m["message"] for m in job["logs"] if m["message"].startswith("Target: ")]
        if job["status"] == "NEEDS_INPUT" or chosen or job["status"] in ("FAILED", "SUCCEEDED"):
            gql(client, CANCEL, {"id": job_id}, token)
            return {"status": job["status"], "choices": job["choices"], "chosen": chosen}
        time.sleep(0.1)
    raise AssertionError(job)


def test_penguins_rank_the_species_first_and_the_year_last(client, token):
    outcome = analysis_outcome(client, token, penguins())
    assert outcome["status"] == "NEEDS_INPUT"
    assert outcome["choices"] == ["species", "island", "sex", "bill_length_mm", "body_mass_g", "year"]


def test_orders_never_offer_the_id_or_the_date_and_put_time_parts_last(client, token):
    choices = analysis_outcome(client, token, orders())["choices"]
    assert choices == ["region", "channel", "amount", "month", "fiscal_year"]


def test_measurements_outrank_a_year_when_nothing_is_categorical(client, token):
    choices = analysis_outcome(client, token, sensors())["choices"]
    assert choices == ["temperature", "humidity", "year"]


@pytest.mark.parametrize(("make", "target"), [(churn, "churned")])
def test_a_named_label_wins_outright(client, token, make, target):
    outcome = analysis_outcome(client, token, make())
    assert outcome["chosen"] and outcome["chosen"][0].startswith(f"Target: {target}, because its name says so")


def test_a_column_train_model_would_refuse_is_not_offered(client, token):
    """A class with a single row cannot be split for training: the clarify stage leaves such a column out."""
    frame = sensors().assign(year=[2024] * (ROWS - 1) + [2025])
    assert analysis_outcome(client, token, frame)["choices"] == ["temperature", "humidity"]
