"""TLS and the Prometheus endpoint of a real server on loopback."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest

from stylex.errors import UnavailableError
from stylex.serving.client import TLS, ExplainClient
from tests.conftest import catalog_attributes


def test_metrics_endpoint_counts_requests_and_batches(make_server, images):
    server = make_server(max_batch_size=8, max_delay_ms=5.0)
    port = server.server.metrics.start_http_server(0)  # the running server's registry
    with ExplainClient(server.address, timeout=30) as client:
        for image in images[:3]:
            client.explain(image, top_k=2, image_format="none")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    ok = [
        line
        for line in text.splitlines()
        if line.startswith("stylex_requests_total") and 'method="Explain"' in line
        and 'status="OK"' in line
    ]  # fmt: skip
    assert ok and float(ok[0].split()[-1]) >= 3.0, ok
    batches = [line for line in text.splitlines() if line.startswith("stylex_batch_size_count")]
    assert batches and float(batches[0].split()[-1]) >= 1.0
    assert "stylex_queue_depth" in text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for `localhost` made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "server.key", folder / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key, cert


def test_tls_server_answers_tls_clients_only(make_server, images, certificate):
    key, cert = certificate
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    tls = TLS(ca_cert=str(cert), server_name="localhost")
    with ExplainClient(server.address, timeout=30, tls=tls) as client:
        assert client.health() == "SERVING"
        result = client.explain(images[0], top_k=2, image_format="none")
        assert len(result["attributes"]) == catalog_attributes(2)
    with ExplainClient(server.address, timeout=5) as plain, pytest.raises(UnavailableError):
        plain.health()
