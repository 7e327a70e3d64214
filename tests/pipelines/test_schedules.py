"""When runs start: on a schedule until paused or removed, once across schedulers, one at a time.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import time

from tests.pipelines.fake_sources import members_scrape
from tests.pipelines.operations import RUN, Author
from tests.support.graphql import wait_for_job


def test_a_second_run_while_one_is_active_is_a_conflict(author, source_server):
    slow = author.create(
        name="slow", source=members_scrape(source_server, delaySeconds=0.5), sink={"parquet": {"name": "m"}}
    )
    first = author.gql(RUN, {"id": slow["pipeline"]["id"]})["data"]["runPipeline"]
    assert first["errors"] == []
    second = author.gql(RUN, {"id": slow["pipeline"]["id"]})["data"]["runPipeline"]
    assert second["run"] is None and second["errors"][0]["code"] == "CONFLICT"
    wait_for_job(author.client, author.token, first["job"]["id"])
    third = author.run(slow["pipeline"]["id"])
    assert third["job"]["status"] == "SUCCEEDED" and third["lastRun"]["version"] == 2


SCHEDULED = """query($id: ID!) { pipeline(id: $id) { schedule { intervalSeconds paused nextRunAt }
  runs(first: 50) { edges { node { status trigger } } } } }"""


def test_scheduled_pipelines_run_on_their_own_until_paused_or_unscheduled(scheduling_client, source_server):
    author = Author(scheduling_client)
    created = author.create(
        name="every second",
        source={"http": {"url": f"{source_server}/who.json"}},
        sink={"parquet": {"name": "who"}},
        schedule={"intervalSeconds": 1},
    )
    assert created["errors"] == [], created
    pipeline_id = created["pipeline"]["id"]
    shown = author.gql(SCHEDULED, {"id": pipeline_id})["data"]["pipeline"]
    assert shown["schedule"]["intervalSeconds"] == 1 and shown["schedule"]["paused"] is False
    assert shown["schedule"]["nextRunAt"] is not None

    def runs() -> list[dict]:
        return [e["node"] for e in author.gql(SCHEDULED, {"id": pipeline_id})["data"]["pipeline"]["runs"]["edges"]]

    deadline = time.monotonic() + 20
    while sum(r["status"] == "SUCCEEDED" for r in runs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(r["status"] == "SUCCEEDED" for r in runs()) >= 2
    assert {r["trigger"] for r in runs()} == {"SCHEDULE"}

    paused = author.gql(
        """mutation($id: ID!) { updatePipeline(input: {id: $id, schedule: {intervalSeconds: 1, paused: true}})
        { pipeline { schedule { paused nextRunAt } } errors { message } } }""",
        {"id": pipeline_id},
    )
    assert paused["data"]["updatePipeline"]["pipeline"]["schedule"] == {"paused": True, "nextRunAt": None}
    time.sleep(0.5)  # a run started just before the pause may still finish
    settled = len(runs())
    time.sleep(2.5)
    assert len(runs()) == settled  # nothing started while paused

    manual = author.run(pipeline_id)
    assert manual["runs"]["edges"][0]["node"]["status"] == "SUCCEEDED"
    assert runs()[0]["trigger"] == "MANUAL"
    removed = author.gql(
        """mutation($id: ID!) { updatePipeline(input: {id: $id, schedule: null})
        { pipeline { schedule { paused } } errors { message } } }""",
        {"id": pipeline_id},
    )
    assert removed["data"]["updatePipeline"]["pipeline"]["schedule"] is None
    too_often = author.refusal(
        name="x",
        source={"http": {"url": f"{source_server}/who.json"}},
        sink={"parquet": {"name": "x"}},
        schedule={"intervalSeconds": 0},
    )
    assert too_often["field"] == ["schedule", "intervalSeconds"]


def test_two_schedulers_start_a_due_pipeline_once(author, source_server):
    """Replicas each run the scheduler: the compare-and-set claim lets only one of them start the run."""
    import asyncio
    from datetime import timedelta

    from resolvers.pipelines import pipeline_limits
    from services.pipelines.service import run_due_pipelines
    from services.storage.tables import utcnow

    client = author.client
    created = author.create(
        name="due",
        source={"http": {"url": f"{source_server}/who.json"}},
        sink={"parquet": {"name": "due"}},
        schedule={"intervalSeconds": 60},
    )
    state = client.app.state.assay
    later = utcnow() + timedelta(seconds=61)

    async def both() -> list[int]:
        return list(
            await asyncio.gather(
                *(
                    run_due_pipelines(
                        state.sessions,
                        jobs=state.jobs,
                        data_dir=client.settings.resolved_data_dir,
                        limits=pipeline_limits(client.settings),
                        now=later,
                    )
                    for _ in range(2)
                )
            )
        )

    assert sorted(client.portal.call(both)) == [0, 1]
    shown = author.gql(SCHEDULED, {"id": created["pipeline"]["id"]})["data"]["pipeline"]
    assert len(shown["runs"]["edges"]) == 1 and shown["runs"]["edges"][0]["node"]["trigger"] == "SCHEDULE"
