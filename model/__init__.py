"""SALMONN-omni (arXiv 2505.17060) for duplexkit: a codec-free full-duplex speech LLM with explicit thinking.

Modules: ``config`` (YAML presets in ``configs/``: tiny, small, full), ``tokens`` (<think>/<shift>, byte
tokenizer), ``encoder`` (streaming log-mel -> conv -> Mamba2), ``backbone`` (tiny Llama / SmolLM2 / local HF LM,
LoRA), ``synth`` (hidden states -> log-mel -> Griffin-Lim; CosyVoice2 optional), ``targets`` (token stream from a
dialogue record), ``salmonn`` (the module: training forward + streaming step), ``checkpoint``, ``adapter``
(benchmark protocol ``salmonn-omni``), ``cli`` (``duplexkit model init|info``).

Quick start::

    duplexkit model init --config tiny --out ckpt/tiny
    duplexkit model info --checkpoint ckpt/tiny
    python -c "from benchmark.protocol import load_model; m = load_model('salmonn-omni', checkpoint='ckpt/tiny')"

Depends on ``datagen.schema`` for all frame arithmetic (and on ``benchmark.protocol`` only in ``adapter``).
"""
