"""tritonclient[grpc], a common Open Inference Protocol client, installed beside stylex: the
environment resolves to a working set, the client talks to the real server, and it shares a
process with stylex's server modules and client.

tritonclient's generated code defines the same `inference.*` protobuf symbols as stylex's OIP code
(src/stylex/serving/grpc/gen/inference/); stylex keeps its own in a descriptor pool of their own
(protos/generate.py), so both load in one process. tritonclient runs in a process of its own
here, with stylex's modules imported before and after it, as a user's script would.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import catalog_attributes

from .conftest import MODEL_DIR

TOP_K = 3

# Run in a subprocess: argv = address, image path, output folder, top_k. Writes answers.json and
# counterfactual_<i>.png (the image's counterfactuals in rank order, b"" past the last dropped).
TRITON_CLIENT = r"""
import json, sys
from pathlib import Path

import numpy as np
import stylex.serving.server  # stylex's OIP messages loaded first, in the same process
import tritonclient.grpc as triton
from stylex.serving.client import ExplainClient

address, image_path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
top_k = int(sys.argv[4])
client = triton.InferenceServerClient(url=address)
meta = client.get_model_metadata("shapes32", as_json=True)
image = triton.InferInput("image", [1], "BYTES")
image.set_data_from_numpy(np.array([image_path.read_bytes()], dtype=np.object_))
result = client.infer("shapes32", [image], parameters={"top_k": top_k})
outputs = result.get_response(as_json=True)["outputs"]
shapes = {o["name"]: [int(d) for d in o["shape"]] for o in outputs}
counterfactuals = result.as_numpy("counterfactuals")
for i, png in enumerate(counterfactuals[0]):
    if png:
        (out / f"counterfactual_{i}.png").write_bytes(png)
answers = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready("shapes32"),
    "metadata": meta,
    "shapes": shapes,
    "probabilities": result.as_numpy("probabilities").tolist(),
    "probabilities_reconstruction": result.as_numpy("probabilities_reconstruction").tolist(),
    "predicted": [b.decode() for b in result.as_numpy("predicted")],
    "target": [b.decode() for b in result.as_numpy("target")],
    "num_counterfactuals": int(sum(1 for png in counterfactuals[0] if png)),
}
with ExplainClient(address) as stylex_client:  # the stylex.v1 client beside tritonclient
    answers["stylex_v1_predicted"] = stylex_client.explain(image_path.read_bytes())["predicted"]
(out / "answers.json").write_text(json.dumps(answers))
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_tritonclient_against_the_real_server(server, client, images, tmp_path):
    image_path = tmp_path / "image.png"
    image_path.write_bytes(images[0])
    proc = _python(TRITON_CLIENT, server.address, str(image_path), str(tmp_path), str(TOP_K))
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "answers.json").read_text())
    want = client.explain(images[0], top_k=TOP_K)

    assert (got["live"], got["ready"], got["model_ready"]) == (True, True, True)
    assert got["metadata"]["name"] == "shapes32"
    assert got["metadata"]["versions"] == [MODEL_DIR.name]  # the version folder of the model
    assert [t["name"] for t in got["metadata"]["inputs"]] == ["image"]
    assert got["metadata"]["inputs"][0]["datatype"] == "BYTES"

    num_classes = len(want["probs"])
    assert got["shapes"] == {
        "probabilities": [1, num_classes],
        "probabilities_reconstruction": [1, num_classes],
        "predicted": [1],
        "target": [1],
        "explanation": [1],
        "counterfactuals": [1, len(want["attributes"])],
        "joint_counterfactual": [1],
    }
    probs = np.array(got["probabilities"][0])
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(probs, list(want["probs"].values()), atol=1e-5)
    np.testing.assert_allclose(
        got["probabilities_reconstruction"][0],
        list(want["probs_reconstruction"].values()),
        atol=1e-5,
    )
    assert got["predicted"] == [want["predicted"]] == [got["stylex_v1_predicted"]]
    assert got["target"] == [want["target"]]

    assert got["num_counterfactuals"] == len(want["attributes"]) == catalog_attributes(TOP_K)
    for i, attribute in enumerate(want["attributes"]):
        png = (tmp_path / f"counterfactual_{i}.png").read_bytes()
        decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        expected = np.asarray(Image.open(io.BytesIO(attribute["counterfactual"])).convert("RGB"))
        assert decoded.shape == (32, 32, 3)
        np.testing.assert_array_equal(decoded, expected)


# --- the environment ------------------------------------------------------------------------
STYLEX_SERVER = (
    "import grpc_health.v1.health_pb2, grpc_reflection.v1alpha.reflection_pb2\n"
    "import stylex.serving.server\n"
    "import stylex.serving.grpc.gen.inference.grpc_predict_v2_pb2_grpc\n"
    "import stylex.serving.grpc.gen.stylex.v1.explain_pb2_grpc\n"
)


def test_server_imports_with_tritonclient_installed():
    """What `stylex serve` imports: the protobuf runtime accepts every generated module."""
    proc = _python(STYLEX_SERVER)
    assert proc.returncode == 0, proc.stderr


def test_tritonclient_imports_beside_health_reflection_and_stylex_v1():
    proc = _python(
        "import tritonclient.grpc\n"
        "import grpc_health.v1.health_pb2, grpc_reflection.v1alpha.reflection_pb2\n"
        "import stylex.serving.grpc.gen.stylex.v1.explain_pb2_grpc\n"
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("first", ["stylex", "tritonclient"])
def test_tritonclient_imports_in_the_server_process(first):
    """Either order: stylex's OIP messages are in their own pool, tritonclient's in the
    default one, and reflection still describes every service the server offers."""
    triton = "import tritonclient.grpc\n"
    check = (
        "from stylex.serving.server import reflection_pool\n"
        "pool = reflection_pool()\n"
        "for name in ('inference.GRPCInferenceService', 'stylex.v1.ExplainService'):\n"
        "    assert pool.FindServiceByName(name).full_name == name\n"
        "from tritonclient.grpc import service_pb2\n"
        "from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip\n"
        "wire = oip.ModelInferRequest(model_name='m', id='7').SerializeToString()\n"
        "assert service_pb2.ModelInferRequest.FromString(wire).id == '7'\n"
    )
    code = STYLEX_SERVER + triton if first == "stylex" else triton + STYLEX_SERVER
    proc = _python(code + check)
    assert proc.returncode == 0, proc.stderr


def test_pip_check_finds_no_broken_requirements():
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No broken requirements found." in proc.stdout
