"""The rules under /metrics as plain functions: who may scrape, bounded label sets, observers that cannot break a
job."""

from __future__ import annotations

from server.metrics import MAX_OPERATION_NAMES, Metrics, metrics_refusal
from services.jobs.observer import JobObserver, JobObservers
from services.storage.tables import Job
from tests.support.settings import make_settings


def test_networks_and_tokens(tmp_path):
    settings = make_settings(tmp_path, metrics_allow="10.1.0.0/16, ::1/128, not-a-network", metrics_token="t0ken")
    assert metrics_refusal(settings, client_host="10.1.2.3", authorization=None) is None
    assert metrics_refusal(settings, client_host="::ffff:10.1.2.3", authorization=None) is None  # IPv4 over IPv6
    assert metrics_refusal(settings, client_host="::1", authorization=None) is None
    assert metrics_refusal(settings, client_host="10.2.0.1", authorization=None)[0] == 403
    assert metrics_refusal(settings, client_host="testclient", authorization=None)[0] == 403  # not an address
    assert metrics_refusal(settings, client_host="192.0.2.1", authorization="Bearer t0ken") is None
    assert metrics_refusal(settings, client_host="192.0.2.1", authorization="bearer t0ken") is None
    assert metrics_refusal(settings, client_host="10.1.2.3", authorization="Bearer t0ke")[0] == 401
    assert metrics_refusal(settings, client_host="10.1.2.3", authorization="Basic dDBrZW4=")[0] == 401


def test_client_chosen_operation_names_cannot_grow_the_series_without_bound():
    metrics = Metrics(role="replica")
    names = [metrics.operation_label(f"Op{i}") for i in range(MAX_OPERATION_NAMES + 50)]
    assert names[:MAX_OPERATION_NAMES] == [f"Op{i}" for i in range(MAX_OPERATION_NAMES)]
    assert set(names[MAX_OPERATION_NAMES:]) == {"(other)"}
    assert metrics.operation_label("Op3") == "Op3" and metrics.operation_label(None) == "(anonymous)"


class Broken(JobObserver):
    def trace_carrier(self):
        raise RuntimeError("collector down")

    def job_finished(self, job, *, trace):
        raise RuntimeError("collector down")


class Counting(JobObserver):
    def __init__(self) -> None:
        self.finished: list[str] = []

    def trace_carrier(self):
        return {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

    def job_finished(self, job, *, trace):
        self.finished.append(job.id)


def test_a_failing_observer_neither_fails_the_job_nor_silences_the_others():
    counting = Counting()
    observers = JobObservers(Broken(), counting)
    job = Job(owner_id="u", kind="TRAIN", status="SUCCEEDED")
    observers.job_finished(job, trace=None)
    assert counting.finished == [job.id]
    assert observers.trace_carrier() == counting.trace_carrier()
