"""The typed scene: the stored JSON round-trips exactly over a generated manifest, and bad records name the field."""

from __future__ import annotations

import json

import pytest

from datagen.scene import Scene, SceneError
from datagen.schema import Dialogue, SchemaError


def test_scene_round_trips_every_generated_record(bench_corpus):
    lines = (bench_corpus / "manifest.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        scene = Scene.from_dict(record["scene"])
        assert scene.gains is not None and scene.voices is not None and scene.echo.gain is not None
        assert scene.to_dict() == record["scene"]
        assert json.dumps(Dialogue.from_dict(record).to_dict(), sort_keys=True) == line


def test_scene_errors_name_the_field(bench_corpus):
    record = json.loads((bench_corpus / "manifest.jsonl").read_text().splitlines()[0])
    scene = record["scene"]
    with pytest.raises(SceneError, match="missing section 'echo'"):
        Scene.from_dict({k: v for k, v in scene.items() if k != "echo"})
    with pytest.raises(SceneError, match=r"scene\.noise: .*snr_db"):
        Scene.from_dict({**scene, "noise": {"kind": "white"}})
    with pytest.raises(SchemaError, match=r"scene\.room: expected a mapping"):
        Dialogue.from_dict({**record, "scene": {**scene, "room": 3}})
