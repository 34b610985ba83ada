"""The unfused modulated-conv path must export to ONNX with a dynamic batch axis."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from stylex.models import Generator, Styles
from tests.models.test_generator import tiny_cfg


class _Synthesis(torch.nn.Module):
    def __init__(self, g: Generator) -> None:
        super().__init__()
        self.g = g

    def forward(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.g.synthesize(Styles(conv, rgb), noise_mode="const")


@pytest.mark.parametrize("synthesis_input", ["const", "fourier"])
def test_synthesis_exports_with_dynamic_batch(tmp_path, synthesis_input):
    torch.manual_seed(0)
    g = Generator(tiny_cfg(synthesis_input=synthesis_input)).eval()
    styles = g.styles(torch.randn(2, 32), torch.full((2, 2), 0.5))
    path = tmp_path / "synthesis.onnx"
    torch.onnx.export(
        _Synthesis(g),
        (styles.conv.detach(), styles.rgb.detach()),
        str(path),
        input_names=["conv_styles", "rgb_styles"],
        output_names=["image"],
        dynamic_axes={
            "conv_styles": {0: "batch"},
            "rgb_styles": {0: "batch"},
            "image": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        s = g.styles(torch.randn(batch, 32), torch.full((batch, 2), 0.5))
        with torch.no_grad():
            expected = g.synthesize(s).numpy()
        (got,) = sess.run(
            None, {"conv_styles": s.conv.detach().numpy(), "rgb_styles": s.rgb.detach().numpy()}
        )
        assert got.shape == (batch, 3, 16, 16)
        np.testing.assert_allclose(got, expected, atol=1e-4)
