"""The TorchServe handler in-process, with a fake TorchServe context: decoding, batched explain,
JSON responses and per-request errors."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.cli import main
from stylex.data.decode import decode_image_bytes
from stylex.data.images import to_uint8_image
from stylex.errors import (
    ImageTooLargeError,
    InvalidArgumentError,
    PayloadTooLargeError,
    ResourceExhaustedError,
    StylexError,
)
from stylex.runtime import ModelDirError, OrtEngine
from stylex.serving.torchserve.archive import build_archive
from tests.export.model_fixtures import held_out_images


class FakeContext:
    """What the handler uses of `ts.context.Context`."""

    def __init__(self, model_dir, gpu_id=None):
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": gpu_id, "batch_size": 4}
        self.status: dict[int, tuple[int, str]] = {}
        self.content_type: dict[int, str] = {}

    def set_response_status(self, code=200, phrase="", idx=0):
        self.status[idx] = (code, phrase)

    def set_response_content_type(self, idx, value):
        self.content_type[idx] = value


def png_bytes(x: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8_image(x)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def images(trained_run) -> torch.Tensor:
    return held_out_images(trained_run, 3)  # [3, 3, R, R], PNG round trips are exact at R


@pytest.fixture(scope="module")
def handler(handler_module, handler_model_dir):
    h = handler_module.StylexHandler()
    h.initialize(FakeContext(handler_model_dir))
    return h


def test_decode_matches_png_round_trip_and_rejects_garbage(images):
    x = images[0]
    decoded = decode_image_bytes(png_bytes(x), x.shape[-1])
    expected = torch.from_numpy(to_uint8_image(x)).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(decoded, expected)
    with pytest.raises(InvalidArgumentError, match="cannot decode the image"):
        decode_image_bytes(b"not an image", 16)


def test_batch_with_bad_requests_fails_only_those(handler, handler_model_dir, images):
    pngs = [png_bytes(x) for x in images]
    data = [
        {"data": pngs[0]},  # raw bytes (REST body / gRPC "data")
        {"body": b"\x89PNG broken"},  # bad image
        {"body": base64.b64encode(pngs[1]).decode()},  # base64 text
        {"body": {"image": base64.b64encode(pngs[2]).decode(), "top_k": 2}},  # parsed JSON
        {"body": {"image": base64.b64encode(pngs[2]).decode(), "top_k": 0}},  # bad option
        {"body": json.dumps({"image": base64.b64encode(pngs[2]).decode(), "target": "blue"})},
    ]
    ctx = FakeContext(handler_model_dir)
    out = handler.handle(data, ctx)
    assert len(out) == len(data)
    assert sorted(ctx.status) == [1, 4, 5]
    assert all(code == 400 for code, _ in ctx.status.values())
    assert set(ctx.content_type.values()) == {"application/json"}
    errors = {i: json.loads(out[i]) for i in ctx.status}
    assert "cannot decode the image" in errors[1]["error"] and errors[1]["code"] == 400
    assert "top_k 0 out of range" in errors[4]["error"]
    assert "unknown class 'blue'" in errors[5]["error"]

    engine = OrtEngine.load(handler_model_dir, device="cpu")
    decoded = torch.stack([decode_image_bytes(p, engine.resolution) for p in pngs])
    expected = engine.explain(decoded, top_k=5)
    for i, (k, exp) in zip(
        [0, 2, 3], [(5, expected[0]), (5, expected[1]), (2, expected[2])], strict=True
    ):
        got = json.loads(out[i])
        assert got["predicted"] == exp.class_names[exp.predicted]
        assert len(got["attributes"]) == min(k, len(exp.counterfactuals))
        for attr, cf in zip(got["attributes"], exp.counterfactuals[:k], strict=True):
            assert (attr["layer"], attr["channel"], attr["index"]) == (
                cf.attribute.layer,
                cf.attribute.channel,
                cf.attribute.index,
            )
            assert attr["effect"] == pytest.approx(cf.effect, abs=1e-4)
            png = Image.open(io.BytesIO(base64.b64decode(attr["counterfactual_png"])))
            assert np.array_equal(np.array(png), to_uint8_image(cf.image))
        probs = [got["probs"][n] for n in exp.class_names]
        assert probs == pytest.approx(exp.probs.tolist(), abs=1e-4)
        assert base64.b64decode(got["reconstruction_png"]).startswith(b"\x89PNG")


def test_archive_holds_model_handler_and_batch_config(handler_model_dir, tmp_path):
    assert main(["archive", str(handler_model_dir), "--out", str(tmp_path), "--name", "tiny",
                 "--batch-size", "4", "--max-batch-delay", "200"]) == 0  # fmt: skip
    mar = tmp_path / "tiny.mar"
    with zipfile.ZipFile(mar) as z:
        names = set(z.namelist())
        assert {"manifest.json", "encoder.onnx", "style.onnx", "synthesis.onnx"} <= names
        assert {"classifier.onnx", "stylex_handler.py", "MAR-INF/MANIFEST.json"} <= names
    config = (tmp_path / "config.properties").read_text()
    assert '"batchSize": 4' in config and '"maxBatchDelay": 200' in config
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_archive_refuses_a_tampered_model(handler_model_dir, tmp_path):
    import shutil

    bad = tmp_path / "model"
    shutil.copytree(handler_model_dir, bad)
    (bad / "style.onnx").write_bytes(b"x")
    with pytest.raises(ModelDirError, match=r"style\.onnx"):
        build_archive(bad, tmp_path / "store", "tiny")
    assert not (tmp_path / "store" / "tiny.mar").exists()


def _error_classes(cls: type[StylexError] = StylexError) -> list[type[StylexError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


def test_torchserve_and_http_answer_each_error_class_with_its_own_status():
    """One status map: the error's class. Overload is 429, an image over the pixel cap 413."""
    import stylex.serving.batching  # noqa: F401  (DeadlineExceeded joins the classes)
    from stylex.serving.http.app import error_response as http_error_response
    from stylex.serving.torchserve.service import error_response

    classes = _error_classes()
    assert {ResourceExhaustedError, ImageTooLargeError, PayloadTooLargeError} <= set(classes)
    for cls in classes:
        error = cls("boom")
        answer = error_response(error)
        http_answer, http_code = http_error_response(error)
        assert answer["code"] == cls.http_status == http_answer.status, cls
        assert answer["type"] == cls.grpc_status == http_code, cls
    assert error_response(ResourceExhaustedError("queue full"))["code"] == 429
    assert error_response(ImageTooLargeError("9000 x 9000"))["code"] == 413
    bug = error_response(KeyError("secret"))
    assert bug["code"] == 500 and "secret" not in bug["error"]


def test_an_image_over_the_pixel_cap_is_413_beside_good_ones(handler, images):
    from tests.data.test_decode import rgb_png

    pngs = [png_bytes(x) for x in images]
    requests = [{"body": pngs[0]}, {"body": rgb_png(9000, 9000, b"")}, {"body": pngs[1]}]
    ctx = FakeContext(None)
    out = handler.handle(requests, ctx)
    assert sorted(ctx.status) == [1] and ctx.status[1][0] == 413
    err = json.loads(out[1])
    assert err["code"] == 413 and "over the cap" in err["error"]
    assert [len(json.loads(out[i])["attributes"]) for i in (0, 2)] == [5, 5]
