"""``duplexkit model init|info``: thin layers over :mod:`model.checkpoint` (tests call the library directly)."""

from __future__ import annotations



def init_checkpoint(config: str, out: str, overrides=()) -> dict[str, int]:
    """Write an untrained checkpoint for a preset or YAML config; returns its parameter counts."""
    from .checkpoint import save_checkpoint
    from .config import load_config
    from .salmonn import SalmonnOmni

    model = SalmonnOmni(load_config(config, overrides))
    save_checkpoint(model, out)
    return model.param_counts()


def config_param_counts(config: str, overrides=()) -> dict[str, int]:
    """Parameter counts of a config without loading weights (shapes on the meta device)."""
    from .config import load_config
    from .salmonn import SalmonnOmni

    cfg = load_config(config, overrides)
    if cfg.backbone.kind == "hf":
        from pathlib import Path

        if not (Path(cfg.backbone.path) / "config.json").is_file():
            cfg.backbone.kind = "llama_shape"  # the YAML carries the shape for exactly this
    return SalmonnOmni(cfg, meta=True).param_counts()


def format_counts(counts: dict[str, int]) -> str:
    return "\n".join(f"  {k:<13} {v:>14,}" for k, v in counts.items())


def _init(args) -> int:
    counts = init_checkpoint(args.config, args.out, args.overrides)
    print(f"wrote untrained {args.config} checkpoint to {args.out}\n{format_counts(counts)}")
    return 0


def _info(args) -> int:
    if bool(args.checkpoint) == bool(args.config):
        raise ValueError("model info: pass exactly one of --checkpoint DIR or --config NAME")
    if args.checkpoint:
        from .checkpoint import load_checkpoint, read_config, read_meta

        cfg = read_config(args.checkpoint)
        counts = read_meta(args.checkpoint).get("params")
        if counts is None:
            counts = load_checkpoint(args.checkpoint).param_counts()
        print(f"{args.checkpoint}: config {cfg.name} ({cfg.backbone.kind} backbone, {cfg.thinking} thinking)")
    else:
        counts = config_param_counts(args.config, args.overrides)
        print(f"config {args.config}:")
    print(format_counts(counts))
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("model", help="SALMONN-omni model: init a checkpoint, print parameter counts")
    sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    i = sub.add_parser("init", help="write an untrained checkpoint (config.yaml + model.safetensors)")
    i.add_argument("--config", required=True, help="tiny | small | full | path/to.yaml")
    i.add_argument("--out", required=True)
    i.add_argument("overrides", nargs="*", help="dotted key=value, e.g. thinking=implicit")
    i.set_defaults(func=_init)
    f = sub.add_parser("info", help="parameter counts of a checkpoint or a config")
    f.add_argument("--checkpoint")
    f.add_argument("--config")
    f.add_argument("overrides", nargs="*")
    f.set_defaults(func=_info)
