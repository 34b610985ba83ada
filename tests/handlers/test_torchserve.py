"""A real TorchServe serving the archive: REST and gRPC predictions match the engine, a bad image
in a batch fails only its own request, and the worker keeps serving."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylex.data.decode import decode_image_bytes
from stylex.data.images import to_uint8_image
from stylex.runtime import OrtEngine
from stylex.serving.torchserve.archive import ArchiveSettings, build_archive
from tests.export.model_fixtures import held_out_images

pytestmark = pytest.mark.slow
PROTO = Path(__file__).with_name("inference.proto")
NAME = "tiny"
START_TIMEOUT_S = 60


def _missing() -> str | None:
    if shutil.which("java") is None:
        return "java is not installed (TorchServe's frontend is a Java server)"
    if (
        shutil.which("torchserve", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        is None
    ):
        return "torchserve is not installed (pip install 'stylex[serve]')"
    for module in ("grpc", "grpc_tools"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install grpcio grpcio-tools)"
    return None


if _missing():
    pytest.skip(_missing(), allow_module_level=True)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class PortTaken(RuntimeError):
    """TorchServe could not bind a port picked for it: another process took it meanwhile."""


def start_torchserve(root: Path, model_store: Path, attempts: int = 3) -> TorchServe:
    """A ready TorchServe. The ports are picked free and then closed before TorchServe binds
    them (it cannot be told to bind port 0 and say which), so another process may take one in
    between: then it exits saying so, and it is started again on other ports."""
    for attempt in range(attempts):
        folder = root / f"attempt-{attempt}"
        folder.mkdir()
        ts = TorchServe(folder, model_store)
        try:
            ts.wait_ready()
            return ts
        except PortTaken:
            ts.stop()
    raise RuntimeError(f"TorchServe found a port taken on each of {attempts} starts")


def png_bytes(x: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8_image(x)).save(buf, format="PNG")
    return buf.getvalue()


def http(
    method: str, url: str, body: bytes | None = None, content_type: str = "", timeout: float = 60
):
    """(status, body) of one HTTP call; error statuses are returned, not raised."""
    # Without a content type urllib sends form-encoded, which TorchServe tries to parse.
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class TorchServe:
    """One TorchServe in the foreground of its own process group, on free loopback ports."""

    def __init__(self, root: Path, model_store: Path) -> None:
        p_inf, p_mgmt, p_metrics, p_grpc_inf, p_grpc_mgmt = free_ports(5)
        self.inference = f"http://127.0.0.1:{p_inf}"
        self.management = f"http://127.0.0.1:{p_mgmt}"
        self.grpc_target = f"127.0.0.1:{p_grpc_inf}"
        config = root / "config.properties"
        config.write_text(
            "\n".join(
                [
                    f"inference_address={self.inference}",
                    f"management_address={self.management}",
                    f"metrics_address=http://127.0.0.1:{p_metrics}",
                    "grpc_inference_address=127.0.0.1",
                    "grpc_management_address=127.0.0.1",
                    f"grpc_inference_port={p_grpc_inf}",
                    f"grpc_management_port={p_grpc_mgmt}",
                    f"model_store={model_store}",
                    "disable_token_authorization=true",
                    "enable_model_api=true",  # registration through the management API
                    "enable_envvars_config=false",
                    "install_py_dep_per_model=false",
                    "default_workers_per_model=1",
                    "number_of_gpu=0",
                    "",
                ]
            )
        )
        # TMPDIR keeps TorchServe's pid file apart from any other TorchServe on this host.
        env = {**os.environ, "TMPDIR": str(root), "LOG_LOCATION": str(root / "logs"),
               "METRICS_LOCATION": str(root / "logs"), "OMP_NUM_THREADS": "1"}  # fmt: skip
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        self.log = (root / "torchserve.out").open("wb")
        self.proc = subprocess.Popen(
            ["torchserve", "--start", "--foreground", "--ncs", "--disable-token-auth",
             "--model-store", str(model_store), "--ts-config", str(config)],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.log_path = root / "torchserve.out"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "Address already in use" in self.tail():
                    raise PortTaken(self.tail())
                raise RuntimeError(f"torchserve exited: {self.tail()}")
            try:
                if http("GET", f"{self.inference}/ping", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"torchserve not up in {START_TIMEOUT_S}s: {self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        # The whole process group: the Java frontend and its Python workers.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:  # workers that outlived the frontend
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


@pytest.fixture(scope="module")
def server(handler_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("torchserve")
    store = root / "model_store"
    build_archive(handler_model_dir, store, NAME, settings=ArchiveSettings(batch_size=4))
    ts = start_torchserve(root, store)
    try:
        status, body = http(
            "POST",
            f"{ts.management}/models?url={NAME}.mar&batch_size=4&max_batch_delay=200"
            "&initial_workers=1&synchronous=true",
            timeout=120,
        )
        assert status == 200, (body, ts.tail())
        yield ts
    finally:
        ts.stop()


@pytest.fixture(scope="module")
def grpc_stubs(tmp_path_factory):
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("grpc_stubs")
    rc = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}",
                      f"--grpc_python_out={out}", str(PROTO)])  # fmt: skip
    assert rc == 0
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("inference_pb2"), importlib.import_module(
            "inference_pb2_grpc"
        )
    finally:
        sys.path.remove(str(out))


def assert_matches(got: dict, exp, top_k: int = 5) -> None:
    assert got["predicted"] == exp.class_names[exp.predicted]
    assert got["target"] == exp.class_names[exp.target]
    names = exp.class_names
    assert [got["probs"][n] for n in names] == pytest.approx(exp.probs.tolist(), abs=1e-4)
    want = exp.counterfactuals[:top_k]
    assert [(a["layer"], a["channel"], a["index"], a["direction"]) for a in got["attributes"]] == [
        (cf.attribute.layer, cf.attribute.channel, cf.attribute.index,
         "max" if cf.attribute.direction == 1 else "min") for cf in want
    ]  # fmt: skip
    for a, cf in zip(got["attributes"], want, strict=True):
        assert a["effect"] == pytest.approx(cf.effect, abs=1e-4)
        assert [a["probs"][n] for n in names] == pytest.approx(cf.probs.tolist(), abs=1e-4)
        assert base64.b64decode(a["counterfactual_png"]).startswith(b"\x89PNG")


def test_torchserve_rest_grpc_and_bad_image(server, grpc_stubs, handler_model_dir, trained_run):
    import grpc

    pngs = [png_bytes(x) for x in held_out_images(trained_run, 4)]
    engine = OrtEngine.load(handler_model_dir, device="cpu")
    x = torch.stack([decode_image_bytes(p, engine.resolution) for p in pngs])
    expected = engine.explain(x, top_k=5)
    url = f"{server.inference}/predictions/{NAME}"

    # REST, raw bytes and the JSON form.
    status, body = http("POST", url, pngs[0], "image/png")
    assert status == 200, body
    assert_matches(json.loads(body), expected[0])
    req = json.dumps({"image": base64.b64encode(pngs[1]).decode(), "top_k": 2}).encode()
    status, body = http("POST", url, req, "application/json")
    assert status == 200, body
    assert_matches(json.loads(body), expected[1], top_k=2)

    # gRPC Predictions.
    pb2, pb2_grpc = grpc_stubs
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb2_grpc.InferenceAPIsServiceStub(channel)
        resp = stub.Predictions(
            pb2.PredictionsRequest(model_name=NAME, input={"data": pngs[2]}), timeout=60
        )
        assert_matches(json.loads(resp.prediction), expected[2])
        # TorchServe 0.12's gRPC frontend drops a request's own status: the error arrives as
        # the prediction body, with its HTTP code inside.
        bad = stub.Predictions(
            pb2.PredictionsRequest(model_name=NAME, input={"data": b"junk"}), timeout=60
        )
    bad_json = json.loads(bad.prediction)
    assert bad_json["code"] == 400 and "cannot decode the image" in bad_json["error"]

    # A bad image sent together with good ones: TorchServe batches them (batch_size 4, 200 ms).
    payloads = [pngs[0], b"\x89PNG\r\n\x1a\n truncated", pngs[2], pngs[3]]
    with ThreadPoolExecutor(len(payloads)) as pool:
        results = list(pool.map(lambda p: http("POST", url, p, "image/png"), payloads))
    bad_status, bad_body = results[1]
    assert bad_status == 400, bad_body
    assert "cannot decode the image" in json.loads(bad_body)["error"]
    for i in (0, 2, 3):
        assert results[i][0] == 200, results[i]
        assert_matches(json.loads(results[i][1]), expected[i])

    # An image over the pixel cap is refused from its header with the error class's own
    # status, 413 (as over HTTP), not the 400 of a bad image.
    from tests.data.test_decode import rgb_png

    status, body = http("POST", url, rgb_png(9000, 9000, b""), "image/png")
    assert status == 413 and "over the cap" in json.loads(body)["error"], body

    # The worker is still serving.
    status, body = http("POST", url, pngs[3], "image/png")
    assert status == 200, body
    assert_matches(json.loads(body), expected[3])
