import json

import pytest

from stylex.errors import ConfigError
from stylex.training.config import PRESETS, TrainConfig, resolve_config


def test_presets_resolve_and_overrides_apply():
    for name in PRESETS:
        resolve_config(name)
    cfg = resolve_config(
        "tiny",
        {"lr_e": "1e-4", "loss.r1_gamma": "0.5", "fused_modconv": "false", "classifier": "c.pt"},
    )
    assert cfg.lr_e == pytest.approx(1e-4)
    assert cfg.loss.r1_gamma == 0.5
    assert cfg.fused_modconv is False
    assert cfg.classifier == "c.pt"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    cfg = resolve_config("tiny", {"warmup_betas": "[0.9, 0.99]", "loss.classifier_swap": "1"})
    assert cfg.warmup_betas == (0.9, 0.99) and cfg.loss.classifier_swap == 1.0
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resolution": "48"}, "power of two"),
        ({"nope": "1"}, "unknown option 'nope'"),
        ({"steps": "many"}, "expected a int"),
        ({"batch_size": "10", "accum_steps": "3"}, "not divisible"),
        ({"lr_g": "0"}, "lr_g must be > 0"),
        ({"warmup_betas": "[0.9]"}, r"warmup_betas must be two numbers in \[0, 1\)"),
        ({"betas": "[0.9, 1.5]"}, "betas must be two numbers"),
    ],
)
def test_bad_options_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("tiny", overrides)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        resolve_config("huge")
