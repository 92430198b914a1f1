"""The dependency rule (ARCHITECTURE.md) holds: the same grep CI runs, so a violation fails the suite too."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def test_imports_run_one_way():
    done = subprocess.run(["bash", str(ROOT / ".ci" / "check_imports")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
