"""SALMONN-omni (arXiv 2505.17060) for duplexkit: a codec-free full-duplex speech LLM with explicit thinking.

Modules: ``config`` (YAML presets in ``configs/``: tiny, small, full), ``tokens`` (<think>/<shift>, byte
tokenizer), ``encoder`` (streaming log-mel -> conv -> Mamba2), ``backbone`` (tiny Llama / SmolLM2 / local HF LM,
LoRA), ``synth`` (hidden states -> log-mel -> Griffin-Lim; CosyVoice2 optional), ``targets`` (token stream from a
dialogue record), ``salmonn`` (the module: training forward + streaming step), ``checkpoint``, ``cli``
(``duplexkit model init|info``).  Its benchmark adapter (``salmonn-omni``) lives in ``benchmark.models.salmonn_omni``.

Quick start::

    duplexkit model init --config tiny --out ckpt/tiny
    duplexkit model info --checkpoint ckpt/tiny
    duplexkit bench run --model salmonn-omni --checkpoint ckpt/tiny --data CORPUS --out runs/omni

Imports from ``datagen`` only the schema (all frame arithmetic), the scene and the floor (``datagen.common``);
never ``benchmark`` (CI checks it).
"""
