"""Atomic writes: a file or folder is written under a temporary name beside its target, then renamed into place,
so a killed run leaves the old version or the new one, never half of one.  Temporary names start with ``.`` and
end with ``.<pid>.tmp``; :func:`sweep_stale` removes the ones a killed run left."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from datagen.common.errors import DuplexkitError, one_line

TMP_SUFFIX = ".tmp"


class WriteError(DuplexkitError, RuntimeError):
    """A file or folder that could not be written (full disk, no permission); one line naming it."""


def shown_path(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` when it lies inside it, else as given: how a page or a provenance file names a
    file without naming the machine that made it."""
    full, base = Path(path).resolve(), Path(root).resolve()
    return str(full.relative_to(base)) if full.is_relative_to(base) else str(path)


def tmp_path(path: str | Path) -> Path:
    """The temporary name :func:`atomic_write_bytes` and :func:`atomic_directory` use for ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def atomic_write_bytes(path: str | Path, data: bytes | bytearray | memoryview, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (fsynced before the rename unless not ``durable``: for rebuildable
    cache entries, whose readers check them, the rename alone is enough)."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it is renamed to ``path``.

    When ``path`` already exists (a concurrent writer won the race) the new folder is dropped, unless ``replace``,
    in which case the old one is moved aside and removed after the rename.  On any error the temporary folder is
    removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        if path.exists() and not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = path.with_name(f".{path.name}.{os.getpid()}.old{TMP_SUFFIX}") if path.exists() else None
        if old is not None:
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_json_object(path: str | Path, error: type[Exception] = WriteError) -> dict:
    """A JSON file holding an object; ``error`` (one line naming the file) when it is unreadable or not an object."""
    import json

    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable ({one_line(exc)})") from None
    if not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def sweep_stale(folder: str | Path) -> int:
    """Remove the temporary files and folders a killed run left in ``folder``; returns how many went."""
    n = 0
    try:
        stale = [p for p in Path(folder).glob(f".*{TMP_SUFFIX}")]
    except OSError:
        return 0
    for p in stale:
        try:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            n += 1
        except OSError:
            pass
    return n
