"""VERSION_FILE: the current version as one number in a text file, replaced atomically."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError
from .base import CurrentVersionStore, parse_version


class TextFileStore(CurrentVersionStore):
    """One integer in a text file. A missing file is version 0.

    Every write goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over the old one, so a crash leaves either the old number or the new one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"file {self.path}"

    def read_version(self) -> int:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(
                f"cannot read the version file {self.path}: {exc}",
                "Check that it is a readable text file.",
            ) from None
        try:
            return parse_version(text, f"the version file {self.path}")
        except StoreError as exc:
            raise StoreError(
                exc.message, "It should hold one whole number; fix or remove it."
            ) from None

    def write_version(self, version: int) -> None:
        import tempfile  # writing only: reading the version must stay cheap

        folder = self.path.parent
        try:
            handle, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=folder
            )
            try:
                # mkstemp makes the file 0600; keep the mode the version file had, or the
                # one a plain open() would give, so other readers keep their access.
                os.chmod(temporary, self._mode())
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(f"{version}\n")
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                _remove_quietly(temporary)
                raise
            _fsync_folder(folder)
        except OSError as exc:
            raise StoreError(
                f"cannot write version {version} to {self.path}: {exc.strerror or exc}",
                "The migration's changes are in place but not recorded: make the folder "
                "writable, then write the version into the file or undo the changes by hand.",
            ) from None


    def _mode(self) -> int:
        try:
            return self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            return 0o666 & ~umask


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every platform lets a folder be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
