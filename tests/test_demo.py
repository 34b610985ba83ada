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
        assert result["predicted"] in ("not_red", "red")
        assert len(result["attributes"]) == 2
        assert (folder / "counterfactual-2.png").stat().st_size > 0
