"""docs/errors.md lists every error code the CLI can print, with the exit code `exit_code_for` really gives."""

from __future__ import annotations

import re
from pathlib import Path

from crmhub import errors
from crmhub.cli.common import exit_code_for

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _rows() -> dict[str, tuple[str, str]]:
    """``code -> (class name, exit column)`` from the doc's table."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(\w+)` \| `(\w+)` \| (\S+) \|", line)
        if match:
            rows[match[1]] = (match[2], match[3])
    return rows


def _error_classes() -> list[type[errors.CrmhubError]]:
    return [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.CrmhubError)]


def test_every_error_code_is_documented_with_its_class_and_exit_code() -> None:
    """A new error class or a changed exit code shows up here, so the page users are pointed to stays true."""
    rows = _rows()
    classes = _error_classes()
    assert len(classes) == len(rows) == 15
    for cls in classes:
        assert rows[cls.code][0] == cls.__name__, cls
        if cls is errors.RecordError:  # never ends a command: the record is dead-lettered and the run goes on
            assert rows[cls.code][1] == "—"
        else:
            assert rows[cls.code][1] == str(int(exit_code_for(cls("x")))), cls
