"""The scenario planners: which phenomena a dialogue shows, built from the steps in :mod:`datagen.timeline`.

Every scenario is a QA session (the user asks, the assistant answers, repeat until the dialogue's target length)
with one phenomenon injected into each exchange:

========================  ======================================================  ==================
scenario                  phenomenon                                              expected reaction
========================  ======================================================  ==================
turn_taking               smooth exchanges; gaps and some overlaps                respond
pause_handling            the user pauses inside the question                    hold, then respond
user_backchannel          the user backchannels over the answer                  continue
interruption_independent  "wait, stop" by the user or a third speaker            stop
interruption_dependent    a related follow-up built from what was just said      stop, then respond
distractor                unrelated third-speaker question, talking to others,   continue (hold in
                          background speech, noise burst                         silence)
assistant_backchannel     long user turns in clauses: backchannel windows        respond (backchannel)
multi_turn                3+ connected questions on one topic                    respond
========================  ======================================================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from datagen.common.registry import Registry
from datagen.schema import seconds_to_samples
from datagen.timeline import (
    DISTRACTOR_KINDS_DURING_SPEECH,
    DialogueBuilder,
    Exchange,
    PlanContext,
    answer,
    ask,
    distract,
    interrupt,
    user_backchannels,
)

Planner = Callable[["DialogueBuilder", "ExchangeSource", PlanContext, int, int], None]
MIN_GAP_AFTER_FLOOR = seconds_to_samples(0.2)  # after an interruption or distractor the user waits at least this
SILENCE_DISTRACTOR_PROB = 0.3  # distractor scenario: chance of one more distractor in the silence between exchanges


@dataclass
class ExchangeSource:
    """Where exchanges come from: single QA items, connected sessions (topics, scripted dialogues), long turns."""

    items: list[Exchange]
    sessions: list[list[Exchange]] = field(default_factory=list)
    long_turns: list[Exchange] = field(default_factory=list)

    def pick(self, rng: np.random.Generator) -> Exchange:
        return self.items[int(rng.integers(len(self.items)))]

    def session(self, rng: np.random.Generator) -> list[Exchange]:
        if not self.sessions:
            return [self.pick(rng) for _ in range(3)]
        return self.sessions[int(rng.integers(len(self.sessions)))]

    def long_turn(self, rng: np.random.Generator) -> Exchange:
        pool = self.long_turns or self.items
        return pool[int(rng.integers(len(pool)))]


OnAnswer = Callable[[DialogueBuilder, int, Exchange], int]


def _qa_loop(
    b: DialogueBuilder,
    ctx: PlanContext,
    next_exchange: Callable[[], Exchange],
    t: int,
    target: int,
    on_answer: OnAnswer | None = None,
    pause: bool = False,
    min_exchanges: int = 1,
    in_silence: Callable[[DialogueBuilder, Exchange, int], int] | None = None,
) -> None:
    """Ask, answer, let the phenomenon happen, and go on until the target length is reached.

    The target is a budget: an exchange that would overshoot it by more than stopping short of it would leave
    is taken back (once ``min_exchanges`` are kept), so a dialogue ends as close to its target as whole exchanges
    allow, on either side."""
    done = 0
    mark, before = None, 0  # the builder before the last exchange, and its floor then
    while True:
        ex = next_exchange()
        q_end = ask(b, ex, t, ctx, pause=pause)
        turn = answer(b, ex.response, q_end + b.draw("response_gap"))
        free_at = on_answer(b, turn, ex) if on_answer else b.turns[turn].end
        done += 1
        floor = max(free_at, b.end())
        if mark is not None and done > min_exchanges and floor - target > target - before:
            b.rollback(mark)
            return
        if done >= min_exchanges and floor >= target:
            return
        gap = b.draw("user_gap")
        clean_finish = floor == b.turns[turn].end and not b.turns[turn].truncated
        # Overlapping the assistant's last words is smooth turn-taking only when nothing else holds the floor.
        t = floor + gap if clean_finish else floor + max(abs(gap), MIN_GAP_AFTER_FLOOR)
        mark, before = b.checkpoint(), floor
        if in_silence is not None:
            t = in_silence(b, ex, max(t, floor + MIN_GAP_AFTER_FLOOR))


def _pick_kind(b: DialogueBuilder, kinds: Sequence[str]) -> str:
    return kinds[int(b.rng.integers(len(kinds)))]


def _turn_taking(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    _qa_loop(b, ctx, lambda: source.pick(b.rng), t0, target, min_exchanges=2)


def _pause_handling(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    _qa_loop(b, ctx, lambda: source.pick(b.rng), t0, target, pause=True)


def _user_backchannel(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    def backchannel(b: DialogueBuilder, turn: int, ex: Exchange) -> int:
        user_backchannels(b, turn, ctx)
        return b.turns[turn].end

    _qa_loop(b, ctx, lambda: source.pick(b.rng), t0, target, on_answer=backchannel)


def _interruption(context: str) -> Planner:
    def planner(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
        _qa_loop(b, ctx, lambda: source.pick(b.rng), t0, target,
                 on_answer=lambda b, turn, ex: interrupt(b, turn, ex, ctx, context))

    return planner


def _distractor(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    def during(b: DialogueBuilder, turn: int, ex: Exchange) -> int:
        distract(b, turn, ex, ctx, _pick_kind(b, DISTRACTOR_KINDS_DURING_SPEECH))
        return b.turns[turn].end

    def in_silence(b: DialogueBuilder, ex: Exchange, at: int) -> int:
        if b.rng.random() >= SILENCE_DISTRACTOR_PROB:
            return at
        distract(b, None, ex, ctx, _pick_kind(b, ("talking_to_others", "background_speech", "noise_burst")), at=at)
        return b.end() + b.draw("response_gap")

    _qa_loop(b, ctx, lambda: source.pick(b.rng), t0, target, on_answer=during, in_silence=in_silence)


def _assistant_backchannel(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    _qa_loop(b, ctx, lambda: source.long_turn(b.rng), t0, target)


def _multi_turn(b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    queue: list[Exchange] = []

    def next_in_session() -> Exchange:
        if not queue:
            queue.extend(source.session(b.rng))
        return queue.pop(0)

    _qa_loop(b, ctx, next_in_session, t0, target, min_exchanges=3)


# The scenario vocabulary: config's scenario_mix keys, in this order (the order weights are drawn in).
PLANNERS: Registry[None] = Registry("scenario", {
    "turn_taking": _turn_taking,
    "pause_handling": _pause_handling,
    "user_backchannel": _user_backchannel,
    "interruption_independent": _interruption("independent"),
    "interruption_dependent": _interruption("dependent"),
    "distractor": _distractor,
    "assistant_backchannel": _assistant_backchannel,
    "multi_turn": _multi_turn,
})


def plan(scenario: str, b: DialogueBuilder, source: ExchangeSource, ctx: PlanContext, t0: int, target: int) -> None:
    """Fill the builder with one dialogue of ``scenario`` starting at ``t0`` and reaching about ``target``."""
    PLANNERS.resolve(scenario)(b, source, ctx, t0, target)
