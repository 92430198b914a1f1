"""``duplexkit bench fdb --task T --root DIR``: score an FDB v1 task folder from the command line."""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any, Callable, Mapping

from benchmark.fdb.metrics import score_fdb
from datagen import fdb_layout as L


def _import_callable(spec: str, what: str) -> Callable[..., Any]:
    """``module:attr`` -> the callable (a factory with no arguments is called once to build it)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"--{what}: expected module:attribute, got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--{what}: cannot import {spec!r} ({exc})") from None
    return obj() if isinstance(obj, type) else obj


def format_summary(result: Mapping[str, Any]) -> str:
    """One human line per task: the numbers FDB's paper tables report for it."""
    def f(x: Any, unit: str = "") -> str:
        return "n/a" if x is None else f"{x:.3f}{unit}"

    line = f"FDB v1 {result['task']}: n={result['n']}  TOR={f(result['takeover_rate'])}"
    if result["task"] in (L.SMOOTH_TURN_TAKING, L.USER_INTERRUPTION):
        line += f"  latency={f(result['latency_s'], ' s')}"
    if result["task"] == L.BACKCHANNEL:
        line += f"  freq={f(result['frequency'], '/s')}  JSD={f(result['jsd'])}"
    if result["task"] == L.USER_INTERRUPTION:
        line += f"  relevance={f(result.get('relevance'))}"
        if result.get("relevance_note"):
            line += f" ({result['relevance_note']})"
    return line


def cmd_fdb(args: argparse.Namespace) -> int:
    asr = _import_callable(args.asr, "asr") if args.asr else None
    if args.transcribe:
        from benchmark.asr import get_asr
        from benchmark.fdb.samples import transcribe_task

        written = transcribe_task(args.task, args.root, get_asr(args.transcribe_asr))
        if not args.json_only:
            print(f"transcribed {len(written)} output.wav with {args.transcribe_asr} -> output.json"
                  + (" (after each interruption's end)" if args.task == L.USER_INTERRUPTION else ""))
    result = score_fdb(args.task, args.root, asr=asr, gt_distribution=args.gt)
    if not args.json_only:
        print(format_summary(result))
    print(json.dumps(result))
    return 0


def add_fdb_command(bench_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``duplexkit bench fdb --task T --root DIR``: a summary line, then one JSON object as the last line."""
    p = bench_subparsers.add_parser("fdb", help="score Full-Duplex-Bench v1 sample directories as FDB's scripts do")
    p.add_argument("--task", required=True, choices=L.FDB_TASKS)
    p.add_argument("--root", required=True, help="the task folder: one directory per sample")
    p.add_argument("--json-only", action="store_true", help="print only the JSON result line")
    p.add_argument("--asr", help="module:callable (audio, sample_rate) -> [(word, start_s, end_s)] for missing output.json")
    p.add_argument("--transcribe", action="store_true",
                   help="first write output.json from each output.wav as FDB's ASR step does (replacing any)")
    p.add_argument("--transcribe-asr", default="whisper", help="the benchmark ASR --transcribe uses (default whisper)")
    p.add_argument("--gt", help=f"backchannel ground truth (default: ROOT/{L.GT_DISTRIBUTION_FILE})")
    p.set_defaults(func=cmd_fdb)
    return p
