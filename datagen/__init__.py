"""duplexkit.datagen: dual-channel full-duplex dialogue corpora with exact events and 80 ms frame labels.

The contract: ``schema`` (the record, event vocabulary, all frame arithmetic and labels) and ``scene`` (what a
dialogue was rendered with, typed).  The floor every package uses: ``common``.

Making a corpus: ``content`` (question bank, phrasing, lexicons, answer scoring) and ``sources`` (user JSONL / HF
data) -> ``tts`` (voices with word timings) -> ``timeline`` + ``scenarios`` (turns, events, decisions; timing
from ``distributions``) -> ``acoustics`` (rooms, scenes, noise, echo path) -> ``render`` (the mix) -> ``corpus``
(shards, manifest, stats); ``generate`` runs it, resumable and deterministic; ``config`` validates its settings;
``levels`` holds the speech level voices and rooms share.

Looking at one: ``inspect`` + ``timing_stats`` (summaries, histograms), ``plot`` (one dialogue), ``validate``
(labels vs audio), ``export`` (stereo WAVs, Full-Duplex-Bench folders); ``cli`` is ``duplexkit generate|...``.
"""

__version__ = "0.2.0"
