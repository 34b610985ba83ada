"""Provider choice: CUDA with explicit device id and heuristic cuDNN search, TensorRT on
request, CPU always last."""

from __future__ import annotations

import pytest

from stylex.errors import InvalidArgumentError
from stylex.runtime import choose_providers

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"


def test_cpu_only_build():
    assert choose_providers("auto", available=[CPU]) == [(CPU, {})]
    assert choose_providers("cpu", available=[CUDA, CPU]) == [(CPU, {})]


def test_cuda_gets_device_id_and_no_exhaustive_search():
    providers = choose_providers("cuda:1", available=[CUDA, CPU])
    assert [name for name, _ in providers] == [CUDA, CPU]
    options = providers[0][1]
    assert options["device_id"] == 1
    assert options["cudnn_conv_algo_search"] in ("HEURISTIC", "DEFAULT")
    assert [n for n, _ in choose_providers("auto", available=[CUDA, CPU])] == [CUDA, CPU]


def test_tensorrt_only_when_asked_and_available():
    assert [n for n, _ in choose_providers("cuda", available=[TRT, CUDA, CPU])] == [CUDA, CPU]
    names = [n for n, _ in choose_providers("cuda", tensorrt=True, available=[TRT, CUDA, CPU])]
    assert names == [TRT, CUDA, CPU]
    names = [n for n, _ in choose_providers("cuda", tensorrt=True, available=[CUDA, CPU])]
    assert names == [CUDA, CPU]


def test_explicit_cuda_without_provider_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="no CUDA provider"):
        choose_providers("cuda:0", available=[CPU])
    with pytest.raises(InvalidArgumentError, match="expected auto, cpu"):
        choose_providers("tpu", available=[CPU])
