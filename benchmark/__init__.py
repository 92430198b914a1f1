"""duplexkit.benchmark: score any duplex model closed loop (it hears its own voice through the room).

``protocol``  what a model must offer (80 ms blocks in, audio + optional text/state out)
``models``    every adapter, by name: baselines, the VAD cascade, files (FDB outputs), salmonn-omni
``items``     scored windows cut from a corpus's dialogues (probes, references, echo path)
``harness``   the media clock that drives a model block by block and closes the echo loop
``audio``     streaming echo path and resampler (exact twins of the offline operations)
``activity``  the one VAD that measures every model's speech
``metrics``   metric definitions on speech timelines, with their sources
``tasks``     per-item scoring and per-task aggregates (turn-taking, pauses, backchannels, barge-in, echo, QA)
``asr``       pluggable ASR for spoken answers (Whisper tiny.en by default, pocketsphinx)
``runner``    ``bench run``: items -> runs (local or Ray) -> results.json, resumable
``report``    report.md / report.html with plots;  ``fdb``: Full-Duplex-Bench v1 scoring;  ``cli``: ``duplexkit bench``
"""
