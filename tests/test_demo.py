"""`stylex demo`: the README's main command, through a real server process on loopback."""

import json

from stylex.cli import main


def test_demo_serves_the_shipped_model_and_writes_explanations(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--num-images", "3", "--top-k", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "SERVING" in out
    folders = sorted((tmp_path / "explanations").iterdir())
    assert [f.name for f in folders] == ["sample-00", "sample-01", "sample-02"]
    for folder in folders:
        result = json.loads((folder / "explanation.json").read_text())
        assert result["predicted"] in ("dark_bg", "light_bg")
        assert len(result["attributes"]) == 2
        assert (folder / "counterfactual-2.png").stat().st_size > 0
    # The contact sheet shows, per image, the input, the reconstruction and the counterfactuals
    # the service returned: its first cell is sample-00 upscaled 4x, its second the PNG served.
    import numpy as np
    from PIL import Image

    from stylex.explain.evaluation.visuals import GAP_PX, MARGIN_PX, PAIR_GAP_PX, text_strip

    sheet = np.asarray(Image.open(tmp_path / "contact-sheet.png").convert("RGB"))
    cell = 32 * 4
    # input, reconstruction, top_k = 2 counterfactuals and the joint one
    assert sheet.shape[1] == 5 * cell + 4 * PAIR_GAP_PX + 2 * MARGIN_PX
    title_px = text_strip("x", sheet.shape[1] - 2 * MARGIN_PX).height
    top = MARGIN_PX + title_px + GAP_PX
    for col, png in ((0, tmp_path / "images" / "sample-00.png"),
                     (1, folders[0] / "reconstruction.png")):  # fmt: skip
        left = MARGIN_PX + col * (cell + PAIR_GAP_PX)
        want = np.asarray(Image.open(png).convert("RGB")).repeat(4, axis=0).repeat(4, axis=1)
        np.testing.assert_array_equal(sheet[top : top + cell, left : left + cell], want)
    assert "contact sheet" in out
    # The summary names each image's top attribute (by the shipped model's name where it has
    # one) and what the joint counterfactual does, as the service answered.
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("sample-")}
    for folder in folders:
        result = json.loads((folder / "explanation.json").read_text())
        top, joint = result["attributes"][0], result["joint"]
        line = lines[f"{folder.name}.png"]
        assert result["mode"] == "image"  # the demo searches each image's own StyleSpace
        where = f"{top['layer']} ch {top['channel']} ({top['direction']})"
        assert (f"{top['label']}: {where}" if top["label"] else where) in line
        assert line.endswith(f"{joint['effect']:+.3f}  {'yes' if joint['flips'] else 'no'}")
