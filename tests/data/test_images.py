import numpy as np
import pytest
import torch
from PIL import Image

from stylex.data import load_image, save_image_grid, to_uint8_image
from stylex.errors import DataError


def test_to_uint8_image_maps_and_clamps():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]).view(1, 1, 5).expand(3, 1, 5)
    out = to_uint8_image(x)
    assert out.shape == (1, 5, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255]
    assert to_uint8_image(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)


@pytest.mark.parametrize("shape", [(4, 5), (1, 4, 5), (2, 1, 4, 5)])
def test_to_uint8_image_rejects_other_shapes(shape):
    with pytest.raises(DataError, match="expected a float tensor"):
        to_uint8_image(torch.zeros(shape))


def test_save_image_grid(tmp_path):
    images = torch.full((5, 3, 6, 4), -1.0)
    images[4] = 1.0  # last image white
    path = tmp_path / "out" / "grid.png"
    save_image_grid(images, path, nrow=3)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (3 * 4, 2 * 6)  # width, height
        pixels = np.asarray(im)
    assert pixels[6:, 4:8].min() == 255  # row 1, column 1 holds image 4
    assert pixels[6:, 8:].max() == 0  # the empty cell stays black
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temporary left


def test_save_image_grid_fewer_images_than_nrow(tmp_path):
    save_image_grid(torch.zeros(2, 3, 8, 8), tmp_path / "g.png", nrow=8)
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (16, 8)


def test_load_image_resizes_shorter_side_and_centre_crops(tmp_path):
    # Left third red, middle third green, right third blue: the crop keeps only green.
    pixels = np.zeros((20, 60, 3), dtype=np.uint8)
    pixels[:, :20, 0] = pixels[:, 20:40, 1] = pixels[:, 40:, 2] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    x = load_image(tmp_path / "wide.png", 10)
    assert x.shape == (3, 10, 10)
    centre = x[:, 1:-1, 1:-1].mean(dim=(1, 2))
    # Lanczos rings a little at the colour edges.
    torch.testing.assert_close(centre, torch.tensor([-1.0, 1.0, -1.0]), atol=0.02, rtol=0)


def test_load_image_composites_transparency_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    torch.testing.assert_close(load_image(tmp_path / "clear.png", 4), torch.ones(3, 4, 4))


def test_load_image_errors_name_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.raises(DataError, match=r"bad\.jpg"):
        load_image(tmp_path / "bad.jpg", 8)
    with pytest.raises(DataError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png", 8)
