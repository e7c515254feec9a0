"""Files that hold personal data or secrets are private to the user running crmhub: 0600, in 0700 folders.

The SQLite store (golden records, raw payloads, the encrypted token cache), the secret key and the crash logs
(tracebacks may quote records) must not be readable by other accounts on the machine, whatever the umask. Folders
crmhub creates for them are 0700; a folder that already existed is left alone (it may be shared on purpose, e.g.
the project folder), but the files themselves are always tightened.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 folders; existing folders keep their mode."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (created empty when missing; an existing file is tightened)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    tighten(path)
    return path


def tighten(path: Path) -> None:
    """Drop group and other permissions from an existing file (crmhub versions before 0.x created them 0644)."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
    except OSError:  # not ours to change (another owner) or gone: nothing to tighten
        pass


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a new or existing file that is 0600 before any byte is written."""
    private_file(path)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
