"""Full-Duplex-Bench v1 compatibility: read FDB sample directories and score them exactly as FDB's scripts do.

Why: published numbers for Moshi, Freeze-Omni, dGSLM, Gemini, GPT-Realtime and PersonaPlex are FDB v1 numbers; to
put our models (and our scenarios, exported with ``duplexkit export --format fdb``) on the same scale we reproduce
FDB's metrics to the letter, quirks included, following its code where it and the paper differ.  Provenance, the
metric definitions and our deliberate differences: ``docs/fdb.md``.

* :mod:`~benchmark.fdb.samples`: loading and checking sample directories (the layout: :mod:`datagen.fdb_layout`);
* :mod:`~benchmark.fdb.metrics`: take-over, latency, backchannel TOR / frequency / JSD, :func:`score_fdb`;
* :mod:`~benchmark.fdb.cli`: ``duplexkit bench fdb``.
"""

from __future__ import annotations

from benchmark.fdb.cli import add_fdb_command, cmd_fdb, format_summary
from benchmark.fdb.metrics import (
    BC_MAX_WORDS,
    BC_SHORT_MAX_WORDS,
    BC_TIME_THRESHOLD_S,
    TURN_DURATION_THRESHOLD_S,
    TURN_NUM_WORDS_THRESHOLD,
    Judge,
    Vad,
    backchannel_jsd,
    backchannel_segments,
    load_gt_distribution,
    score_backchannel,
    score_fdb,
    score_pause_handling,
    score_smooth_turn_taking,
    score_user_interruption,
    silero_vad,
    takeover,
    word_span,
)
from benchmark.fdb.samples import TASK_FILES, Asr, FDBSample, read_audio, read_sample, sample_dirs
from datagen.fdb_layout import FDB_TASKS, GT_DISTRIBUTION_FILE, Chunk, FDBError, Interrupt, Transcript, parse_transcript

__all__ = [
    "FDB_TASKS", "GT_DISTRIBUTION_FILE", "TASK_FILES", "Chunk", "Transcript", "Interrupt", "FDBError", "FDBSample",
    "Asr", "Vad", "Judge", "parse_transcript", "read_audio", "read_sample", "sample_dirs", "word_span", "takeover",
    "score_pause_handling", "score_smooth_turn_taking", "score_user_interruption", "silero_vad",
    "backchannel_segments", "backchannel_jsd", "load_gt_distribution", "score_backchannel", "score_fdb",
    "format_summary", "cmd_fdb", "add_fdb_command", "TURN_DURATION_THRESHOLD_S", "TURN_NUM_WORDS_THRESHOLD",
    "BC_TIME_THRESHOLD_S", "BC_MAX_WORDS", "BC_SHORT_MAX_WORDS",
]
