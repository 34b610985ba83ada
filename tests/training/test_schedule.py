import pytest

from stylex.training.schedule import ENCODER, RANDOM, WARMUP, AlternatingSchedule


def test_alternation_is_a_function_of_the_step_only():
    s = AlternatingSchedule(encoder_every=2)
    assert [s.kind(i) for i in range(6)] == [ENCODER, RANDOM] * 3
    assert s.counts(0, 10) == {ENCODER: 5, RANDOM: 5}
    assert s.counts(3, 7) == {ENCODER: 2, RANDOM: 2}


def test_every_third_step_and_encoder_only():
    assert AlternatingSchedule(3).counts(0, 9) == {ENCODER: 3, RANDOM: 6}
    assert AlternatingSchedule(1).counts(0, 4) == {ENCODER: 4, RANDOM: 0}


def test_invalid_period():
    with pytest.raises(ValueError, match="encoder_every"):
        AlternatingSchedule(0)


def test_warmup_steps_come_first_then_the_alternation():
    s = AlternatingSchedule(encoder_every=2, warmup_steps=3)
    assert [s.kind(i) for i in range(7)] == [WARMUP] * 3 + [RANDOM, ENCODER, RANDOM, ENCODER]
    assert s.counts(0, 7) == {ENCODER: 2, RANDOM: 2, WARMUP: 3}
    assert s.counts(3, 7) == {ENCODER: 2, RANDOM: 2, WARMUP: 0}
    with pytest.raises(ValueError, match="warmup_steps"):
        AlternatingSchedule(2, warmup_steps=-1)


@pytest.mark.parametrize(("encoder_every", "warmup"), [(2, 0), (2, 3), (3, 4), (1, 0), (2, 16)])
def test_reconstruction_index_counts_the_steps_that_reconstructed(encoder_every, warmup):
    schedule = AlternatingSchedule(encoder_every, warmup)
    seen = 0
    for step in range(60):
        assert schedule.reconstruction_index(step) == seen
        seen += schedule.kind(step) in (WARMUP, ENCODER)
