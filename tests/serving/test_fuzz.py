"""Fuzzing the image decoder and the request codecs: random and mutated PNG / JPEG / GIF / WebP
bytes and random option values yield a valid image or a typed client error, never anything else.

Derandomized (hypothesis draws the same examples on every run), so CI cannot flake; raise
FUZZ_EXAMPLES to search longer.
"""

from __future__ import annotations

import io
import math
import os
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylex.data.decode import decode_image_bytes
from stylex.errors import InvalidArgumentError, ResourceExhaustedError
from stylex.explain.single.options import MAX_NUM_CANDIDATES, explain_options
from stylex.serving.grpc import codec, oip_codec
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.http import oip_json
from stylex.serving.torchserve.requests import decode_request

RES = 16
CLASSES = ["not_red", "red"]
CLIENT_ERRORS = (InvalidArgumentError, ResourceExhaustedError)
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (20, 28, 3), dtype=np.uint8)
    out = []
    for fmt, mode in (("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "RGB"),
                      ("GIF", "P"), ("WEBP", "RGB")):  # fmt: skip
        im = Image.fromarray(arr).convert(mode)
        buf = io.BytesIO()
        im.save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def mutated_images(draw) -> bytes:
    """A valid image with a few byte-level mutations: flips, cuts, insertions, and rewritten
    header integers (sizes are where decoders go wrong)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "int32"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "int32" and pos + 4 <= len(data):
            data[pos : pos + 4] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    return bytes(data)


def _decodes_or_refuses(data: bytes) -> None:
    try:
        x = decode_image_bytes(data, RES)
    except CLIENT_ERRORS as e:
        assert str(e)  # a message that names the problem
        return
    assert x.shape == (3, RES, RES) and x.dtype == torch.float32
    assert bool(torch.isfinite(x).all()) and float(x.abs().max()) <= 1.0


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    _decodes_or_refuses(data)


@FUZZ
@given(mutated_images())
def test_mutated_images(data):
    _decodes_or_refuses(data)


# --- request codecs -------------------------------------------------------------------------
wire_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "red", "0", "1", "predicted",
                                                             "7", "-1", " 1"]))  # fmt: skip
wire_float = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FUZZ
@given(
    # Each field mostly near its valid range, so accepted requests are drawn too.
    top_k=st.one_of(st.integers(0, 70), st.integers(0, 2**32 - 1)),  # uint32 on the wire
    target=st.one_of(st.sampled_from(["", "red", "1", "predicted", "runner-up"]), wire_text),
    shift=st.one_of(st.floats(0.125, 4.0, width=32), wire_float),
    image_format=st.one_of(st.sampled_from(pb.ImageFormat.values()), st.integers(-3, 10)),
    image=st.one_of(st.sampled_from(SEEDS), st.binary(max_size=64)),
    mode=st.one_of(st.sampled_from(pb.ExplainMode.values()), st.integers(-3, 10)),
    num_candidates=st.one_of(st.integers(0, 2 * MAX_NUM_CANDIDATES), st.integers(0, 2**32 - 1)),
)
@example(
    top_k=3,
    target="red",
    shift=1.0,
    image_format=pb.IMAGE_FORMAT_PNG,
    image=SEEDS[0],
    mode=pb.EXPLAIN_MODE_IMAGE,
    num_candidates=10,
)  # the accepted IMAGE-mode path, always
@example(
    top_k=3,
    target="",
    shift=0.0,
    image_format=pb.IMAGE_FORMAT_NONE,
    image=SEEDS[3],
    mode=pb.EXPLAIN_MODE_DEFAULT,
    num_candidates=0,
)  # every field at its wire default
def test_grpc_request_fields(top_k, target, shift, image_format, image, mode, num_candidates):
    req = pb.ExplainRequest(top_k=top_k, target=target, shift=shift, image=image,
                            num_candidates=num_candidates)  # fmt: skip
    req.image_format = image_format  # open enums: unknown values reach the server
    req.mode = mode
    try:
        inp = codec.from_grpc(req)
        opts = explain_options(CLASSES, **inp.options)
    except CLIENT_ERRORS as exc:
        assert str(exc)  # a message that names the problem
        return
    assert 1 <= opts.top_k <= 64
    assert math.isfinite(opts.shift) and opts.shift > 0
    assert opts.target in (0, 1, "runner-up", "predicted")
    assert opts.mode in ("catalog", "image")
    assert 1 <= opts.num_candidates <= MAX_NUM_CANDIDATES
    if num_candidates:  # 0 is "the server's default"; a value sent is the one in force
        assert opts.num_candidates == num_candidates
    if mode in (pb.EXPLAIN_MODE_CATALOG, pb.EXPLAIN_MODE_IMAGE):
        assert opts.mode == ("catalog" if mode == pb.EXPLAIN_MODE_CATALOG else "image")


oip_value = st.one_of(
    st.integers(-(2**40), 2**40),
    st.booleans(),
    wire_text,
    wire_float,
    st.sampled_from(["image", "catalog", "IMAGE", "exhaustive"]),
)
OIP_KEYS = ["top_k", "target", "shift", "mode", "num_candidates", "other"]


@FUZZ
@given(params=st.dictionaries(st.sampled_from(OIP_KEYS), oip_value))
def test_oip_parameters(params):
    req = oip.ModelInferRequest()
    for key, value in params.items():
        p = req.parameters[key]
        if isinstance(value, bool):
            p.bool_param = value
        elif isinstance(value, int):
            p.int64_param = value
        elif isinstance(value, float):
            p.double_param = value
        else:
            p.string_param = value
    try:
        opts = explain_options(CLASSES, **oip_codec.parameters(req))
    except CLIENT_ERRORS as exc:
        # A message for the caller that names the bad parameter or the value it held.
        msg = str(exc)
        assert "other" in params or any(
            k in msg or str(v).strip() in msg or repr(v).strip("'") in msg
            for k, v in params.items()
        ), (params, msg)
        return
    # Accepted: every option is in range, and a value that was sent is the one in force.
    assert "other" not in params
    assert 1 <= opts.top_k <= 64
    assert math.isfinite(opts.shift) and opts.shift > 0
    assert opts.target in (0, 1, "runner-up", "predicted")
    assert opts.mode in ("catalog", "image")
    assert 1 <= opts.num_candidates <= MAX_NUM_CANDIDATES
    if "top_k" in params:
        assert opts.top_k == params["top_k"]
    if "num_candidates" in params:
        assert opts.num_candidates == params["num_candidates"]
    if "mode" in params and params["mode"] != "":
        assert opts.mode == str(params["mode"]).strip().lower()


@FUZZ
@given(
    datatype=st.sampled_from(["BYTES", "FP32", "INT8", ""]),
    shape=st.lists(st.integers(-2, 40), max_size=5),
    raw=st.binary(max_size=256),
)
def test_oip_inputs(datatype, shape, raw):
    req = oip.ModelInferRequest()
    req.inputs.add(name="image", datatype=datatype, shape=shape)
    req.raw_input_contents.append(raw)
    try:
        images = oip_codec.inputs(req, RES)
    except CLIENT_ERRORS:
        return
    for image in images:
        assert isinstance(image, (bytes, torch.Tensor))


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["image", "BYTES", "FP32", "base64"]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(
                                ["name", "datatype", "shape", "data", "parameters", "inputs",
                                 "outputs", "content_type", "binary_data_size", "binary_data",
                                 "top_k", "mode", "id"]), inner, max_size=5)),
    max_leaves=20,
)  # fmt: skip


@FUZZ
@given(request=json_value, binary=st.binary(max_size=64), header=st.sampled_from([None, "x", "-1"]))
@example(  # accepted: one base64 PNG in JSON
    request={"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                         "parameters": {"content_type": "base64"},
                         "data": [__import__("base64").b64encode(SEEDS[0]).decode()]}]},
    binary=b"", header=None,
)  # fmt: skip
def test_oip_json_requests(request, binary, header):
    """Any JSON (and bytes after it) is an inference request or a client error, never more."""
    import json as json_module

    head = json_module.dumps(request).encode()
    length = header if header is not None else (str(len(head)) if binary else None)
    try:
        req = oip_json.infer_request(head + binary, length, RES)
    except CLIENT_ERRORS:
        return
    assert req.outputs and set(req.binary) == {o.name for o in req.outputs}
    for image in req.images:
        assert isinstance(image, (bytes, torch.Tensor))


# Bodies no JSON writer produces: deep nesting, numbers JSON has no room for, bad UTF-8, and
# a valid request cut or spliced at a random byte.
_VALID_BODY = (b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 16, 16], '
               b'"data": [' + b",".join([b"0.5"] * 768) + b"]}]}")  # fmt: skip
raw_json_piece = st.one_of(
    st.integers(1, 300_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 300_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"-1e999999", b"9" * 5000,
                     b'"\\ud800"', b"\xff\xfe", b"\x00", b'"a"', b"null", b"true"]),
    st.binary(max_size=16),
)  # fmt: skip


@FUZZ
@given(cut=st.integers(0, len(_VALID_BODY)), piece=raw_json_piece, at_pixel=st.booleans())
@example(cut=len(_VALID_BODY), piece=b"", at_pixel=False)  # the valid request itself
def test_oip_json_raw_bodies(cut, piece, at_pixel):
    """Any bytes as the JSON part: a request or a client error; never an exception of the
    parser's own (RecursionError, ValueError) that the server would answer with 500."""
    if at_pixel:  # the piece stands in for the first pixel's value
        body = _VALID_BODY.replace(b"[0.5,", b"[" + piece + b",", 1)
    else:  # the piece spliced into the request at the cut
        body = _VALID_BODY[:cut] + piece + _VALID_BODY[cut:]
    try:
        req = oip_json.infer_request(body, None, RES)
    except CLIENT_ERRORS:
        return
    for x in req.images:
        assert isinstance(x, torch.Tensor) and bool(torch.isfinite(x).all())


json_body = st.dictionaries(st.sampled_from(["image", "top_k"]), st.text(max_size=8))
torchserve_value = st.one_of(
    st.binary(max_size=64), st.text(max_size=32), st.integers(), st.none(),
    st.sampled_from(SEEDS), json_body,
)  # fmt: skip


@FUZZ
@given(item=st.dictionaries(st.sampled_from(["data", "body", "image", "top_k", "target"]),
                            torchserve_value))  # fmt: skip
def test_torchserve_requests(item):
    try:
        req = decode_request(item, RES)
        explain_options(CLASSES, **req.options)
    except CLIENT_ERRORS:
        return
    assert req.x.shape == (3, RES, RES)


def test_the_fuzzers_reach_both_outcomes():
    """The strategies are not degenerate: seeds decode, random bytes are refused."""
    for seed in SEEDS:
        assert decode_image_bytes(seed, RES).shape == (3, RES, RES)
    with pytest.raises(InvalidArgumentError):
        decode_image_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, RES)
    # The OIP JSON fuzzer's example is an accepted request.
    import base64
    import json as json_module

    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                        "parameters": {"content_type": "base64"},
                        "data": [base64.b64encode(SEEDS[0]).decode()]}]}  # fmt: skip
    req = oip_json.infer_request(json_module.dumps(body).encode(), None, RES)
    assert req.images == [SEEDS[0]]
