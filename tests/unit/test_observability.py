"""Powertools under Chalice: JSON logs carry the correlation id; metrics flush as EMF after a handler."""

import io
import json

from chalice import Chalice
from chalice.test import Client

from chalicelib import observability, web
from chalicelib.observability import logger, metrics


def build_app():
    app = Chalice(app_name="observed")
    observability.install(app)

    @web.route(app, "/work", "GET", summary="work")
    def work(call):
        logger.info("working")
        metrics.add_metric(name="WorkDone", unit="Count", value=1)
        return {}

    return app


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logs_are_json_with_correlation_id_and_metrics_flush(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    log_stream = io.StringIO()
    previous = logger.registered_handler.setStream(log_stream)
    try:
        with Client(build_app()) as client:
            client.http.get("/work", headers={"X-Correlation-Id": "corr-42"})
    finally:
        logger.registered_handler.setStream(previous)
    [log] = [line for line in json_lines(log_stream.getvalue()) if line.get("message") == "working"]
    lines = json_lines(capsys.readouterr().out)
    assert log["correlation_id"] == "corr-42" and log["service"] == "storefront" and log["level"] == "INFO"
    [emf] = [line for line in lines if "_aws" in line]
    assert emf["WorkDone"] == [1.0] or emf["WorkDone"] == 1.0
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Storefront"
    assert not metrics.metric_set  # flushed, so nothing leaks into the next invocation
