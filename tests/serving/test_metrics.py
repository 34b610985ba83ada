"""ServingMetrics: the exposition text has the right series and values; /metrics is served."""

from __future__ import annotations

import urllib.request

from stylex.serving.metrics import ServingMetrics


def test_requests_are_counted_by_method_and_status() -> None:
    metrics = ServingMetrics()
    metrics.observe_request("Explain", "OK", 0.02)
    metrics.observe_request("Explain", "OK", 0.04)
    metrics.observe_request("Explain", "INVALID_ARGUMENT", 0.001)
    metrics.observe_request("ModelInfo", "OK", 0.0005)
    text = metrics.render()
    assert 'stylex_requests_total{method="Explain",status="OK"} 2.0' in text
    assert 'stylex_requests_total{method="Explain",status="INVALID_ARGUMENT"} 1.0' in text
    assert 'stylex_requests_total{method="ModelInfo",status="OK"} 1.0' in text
    assert 'stylex_request_seconds_count{method="Explain"} 3.0' in text
    assert 'stylex_request_seconds_bucket{le="0.05",method="Explain"} 3.0' in text
    assert 'stylex_request_seconds_bucket{le="0.025",method="Explain"} 2.0' in text


def test_stage_batch_and_queue_series() -> None:
    metrics = ServingMetrics()
    metrics.observe_stage("decode", 0.003)
    for size in (1, 3, 8, 8):
        metrics.observe_batch(size)
    metrics.set_queue_depth(5)
    text = metrics.render()
    assert 'stylex_stage_seconds_count{stage="decode"} 1.0' in text
    assert "stylex_batch_size_count 4.0" in text
    assert "stylex_batch_size_sum 20.0" in text
    assert 'stylex_batch_size_bucket{le="1.0"} 1.0' in text
    assert 'stylex_batch_size_bucket{le="4.0"} 2.0' in text
    assert 'stylex_batch_size_bucket{le="8.0"} 4.0' in text
    assert 'stylex_batch_size_bucket{le="64.0"} 4.0' in text
    assert "stylex_queue_depth 5.0" in text


def test_instances_do_not_share_a_registry() -> None:
    first, second = ServingMetrics(), ServingMetrics()  # same names, no duplicate error
    first.observe_batch(2)
    assert "stylex_batch_size_count 1.0" in first.render()
    assert "stylex_batch_size_count 0.0" in second.render()


def test_http_exporter_serves_metrics() -> None:
    metrics = ServingMetrics()
    metrics.observe_request("Explain", "RESOURCE_EXHAUSTED", 0.001)
    port = metrics.start_http_server(0)
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        body = response.read().decode("utf-8")
    assert 'stylex_requests_total{method="Explain",status="RESOURCE_EXHAUSTED"} 1.0' in body
    assert "stylex_batch_size_bucket" in body
