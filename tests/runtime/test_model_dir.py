"""Loading a model directory checks the schema and every file; problems name the file and
leave no engine behind."""

from __future__ import annotations

import json
import shutil

import pytest

from stylex.errors import CheckpointError
from stylex.runtime import MANIFEST_NAME, ModelDirError, OrtEngine, read_model_dir
from tests.export.model_fixtures import attfind_run, exported_model


@pytest.fixture(scope="module")
def model_dir(trained_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model_dir")
    return exported_model(attfind_run(trained_run, tmp), tmp)


@pytest.fixture
def copy(model_dir, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(model_dir, out)
    return out


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


def _remove(path):
    path.unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_flip_byte, "tampered"), (_truncate, "truncated"), (_remove, "missing")],
)
@pytest.mark.parametrize("file", ["encoder.onnx", "synthesis.onnx", "classifier.onnx"])
def test_damaged_file_is_named_and_nothing_loads(
    model_dir, copy, file, damage, message, monkeypatch
):
    damage(copy / file)
    with pytest.raises(ModelDirError, match=message) as info:
        read_model_dir(copy)
    assert str(copy / file) in str(info.value)
    assert isinstance(info.value, CheckpointError)  # INVALID_ARGUMENT, exit code 2
    # The check comes before any graph reaches ONNX Runtime: count the real sessions opened.
    import onnxruntime

    opened = []
    real_init = onnxruntime.InferenceSession.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(onnxruntime.InferenceSession, "__init__", counting_init)
    with pytest.raises(ModelDirError, match=file):
        OrtEngine.load(copy, device="cpu", intra_op_threads=1)
    assert opened == []
    OrtEngine.load(model_dir, device="cpu", intra_op_threads=1)  # the counter does count
    assert len(opened) >= 4


def test_wrong_schema_version_names_the_manifest(copy):
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["schema_version"] = 99
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirError, match=r"manifest\.json: schema_version 99"):
        OrtEngine.load(copy, device="cpu")


def test_missing_manifest_and_missing_directory(copy, tmp_path):
    (copy / MANIFEST_NAME).unlink()
    with pytest.raises(ModelDirError, match=r"manifest\.json is missing"):
        read_model_dir(copy)
    with pytest.raises(ModelDirError, match="does not exist"):
        read_model_dir(tmp_path / "nowhere")


def test_manifest_cannot_point_outside_the_directory(copy):
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["files"]["../secret"] = {"sha256": "0", "size_bytes": 1}
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirError, match="not a plain name"):
        read_model_dir(copy)


def test_intact_directory_reads(copy):
    model = read_model_dir(copy)
    assert set(model.graphs) == {"encoder", "style", "synthesis", "classifier"}
    assert model.resolution == 16
