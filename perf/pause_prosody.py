"""Why a paused question is synthesised in one breath (docs/tts.md "Pauses inside a turn"): the F0 (pYIN median of
each half) and duration of the word before the pause, said inside its sentence and as the end of a text of its own,
for 5 questions in 3 user voices.  Run: ``python perf/pause_prosody.py``."""

from __future__ import annotations

import numpy as np

QUESTIONS = [("What is the capital of", "France?"), ("How many legs does", "a spider have?"),
             ("Who wrote the novel", "Pride and Prejudice?"), ("When did the first person", "walk on the moon?"),
             ("Which planet is known as", "the red planet?")]


def halves_f0(audio: np.ndarray, start: int, end: int) -> tuple[float, float]:
    import librosa

    f0, _, _ = librosa.pyin(audio[start:end].astype(np.float64), fmin=60, fmax=400, sr=16000, frame_length=1024,
                            hop_length=160)
    f0 = f0[~np.isnan(f0)]
    return float(np.median(f0[: len(f0) // 2])), float(np.median(f0[len(f0) // 2 :]))


def main() -> None:
    from datagen.tts import get_backend

    tts = get_backend("espeak")
    ratios, stretch = [], []
    for voice in tts.voices()[:3]:
        for head, rest in QUESTIONS:
            k = len(head.split()) - 1
            rows = []
            for text in (f"{head} {rest}", head):
                u = tts.synthesize(text, voice)
                w = u.words[k]
                rows.append((*halves_f0(u.audio, w.start, w.end), (w.end - w.start) / 16))
            (a1, a2, da), (b1, b2, db) = rows
            ratios.append(b2 / a2)
            stretch.append(db / da)
            print(f"{voice:22s} {head.split()[-1]!r:10s} in sentence {a1:5.0f} -> {a2:5.0f} Hz {da:4.0f} ms | "
                  f"alone {b1:5.0f} -> {b2:5.0f} Hz {db:4.0f} ms")
    r, s = np.array(ratios), np.array(stretch)
    print(f"second-half F0 alone / in sentence: {r.min():.2f}-{r.max():.2f} (median {np.median(r):.2f}); "
          f"duration alone / in sentence: {s.min():.2f}-{s.max():.2f} (median {np.median(s):.2f})")


if __name__ == "__main__":
    main()
