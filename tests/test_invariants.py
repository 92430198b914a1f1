"""Property tests over generated dialogues (hypothesis picks seeds and scenarios): the invariants every corpus
dialogue must hold, checked on the rendered audio and the derived labels."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datagen.config import SCENARIOS, GeneratorConfig
from datagen.generate import build_dialogue, make_plan, resources_for
from datagen.schema import BLOCK_SAMPLES, end_of_frame, frame_labels
from tests.conftest import SMALL_ACOUSTICS


def _dialogue(seed: int, scenario: str, echo_factor: float):
    cfg = GeneratorConfig.from_dict(
        {
            "acoustics": {**SMALL_ACOUSTICS, "echo_factor": echo_factor},
            "scenario_mix": {scenario: 1.0},
            "dialogue_seconds": [8.0, 15.0],
        }
    )
    plan = make_plan(cfg, 0.1, seed)
    return build_dialogue(plan, 0, resources_for(cfg))


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), scenario=st.sampled_from(SCENARIOS), echo_factor=st.sampled_from([0.0, 1.0]))
def test_dialogue_invariants(seed, scenario, echo_factor):
    d, audio = _dialogue(seed, scenario, echo_factor)
    n = d.num_samples
    assert n % BLOCK_SAMPLES == 0 and d.scenario == scenario
    # Equal channel lengths; stems sum to the mic exactly (before storage).
    assert {len(x) for x in audio.values()} == {n}
    assert np.array_equal(audio["mic"], audio["user"] + audio["echo"] + audio["other"] + audio["noise"])
    # Events and turns inside the audio.
    assert all(0 <= e.start <= e.end <= n for e in d.events)
    assert all(0 <= t.start < t.end <= n for t in d.turns)
    labels = frame_labels(d)
    frames = lambda e: range(e.start // BLOCK_SAMPLES, (e.end - 1) // BLOCK_SAMPLES + 1)  # noqa: E731
    for e in d.events:
        if e.type == "interruption":
            assert e.expected == "stop" and all(labels["interruption"][f] for f in frames(e))
            # The assistant yields at a causal decision: after the line's first word, and its answer ends at the
            # end of the decision's block (silent from the next block on).
            line = d.turns[e.turn]
            assert e.decision is not None and e.decision > line.words[0].end
            hit = [t for t in d.turns if t.speaker == "assistant" and t.truncated and t.start < e.start < t.end + 1]
            assert [t.end for t in hit] == [end_of_frame(e.decision)]
            assert not audio["assistant"][end_of_frame(e.decision) : line.end].any()
        if e.type == "distractor":
            assert e.expected in ("continue", "hold") and not any(labels["interruption"][f] for f in frames(e))
        if e.type == "user_pause":
            assert e.expected == "hold" and not any(labels["state"][f] for f in list(frames(e))[1:-1])
    # Labels follow the audio: the assistant channel is silent outside assistant turns, and no echo without echo.
    outside = np.ones(n, bool)
    for t in d.turns:
        if t.speaker == "assistant":
            outside[t.start : t.end] = False
    assert not audio["assistant"][outside].any()
    if echo_factor == 0.0:
        assert not audio["echo"].any() and not labels["echo_active"].any()
    else:
        assert labels["echo_active"].any() == bool(audio["assistant"].any())
    # Every user speech frame lies inside a user turn.
    user_turn_frames = np.zeros(d.num_frames, bool)
    for t in d.turns:
        if t.speaker == "user":
            user_turn_frames[t.start // BLOCK_SAMPLES : (t.end - 1) // BLOCK_SAMPLES + 1] = True
    assert not (labels["user_speaking"].astype(bool) & ~user_turn_frames).any()


def test_scenarios_show_their_phenomenon():
    want = {
        "pause_handling": "user_pause",
        "user_backchannel": "user_backchannel",
        "interruption_independent": "interruption",
        "interruption_dependent": "interruption",
        "distractor": "distractor",
        "assistant_backchannel": "assistant_backchannel",
    }
    for scenario, event in want.items():
        d, _ = _dialogue(3, scenario, 1.0)
        assert d.events_of(event), scenario
    d, _ = _dialogue(3, "multi_turn", 1.0)
    assert len(d.events_of("user_turn")) >= 3
