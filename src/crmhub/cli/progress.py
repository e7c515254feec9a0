"""A rich progress display for `crmhub sync`: one line per connector stream, plus the current phase."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from crmhub.i18n import Lang
from crmhub.reporting.labels import label
from crmhub.sync.ingest import StreamStats


class RichProgress:
    """Implements the engine's `Progress` protocol with rich bars (records read per stream)."""

    def __init__(self, console: Console, lang: Lang) -> None:
        self.lang = lang
        # the description column is plain text (connector/stream names); counts carry markup, errors escaped in it
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}", markup=False),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self.phase_task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        self.phase_task = self.bar.add_task(label("ingest", self.lang), total=None, counts="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.phase_task is not None:
            self.bar.update(self.phase_task, total=1, completed=1)
        self.bar.__exit__(None, None, None)

    def _counts(self, stats: StreamStats) -> str:
        return (
            f"{label('read', self.lang)} {stats.read}  {label('created', self.lang)} {stats.created}  "
            f"{label('updated', self.lang)} {stats.updated}  {label('rejected', self.lang)} {stats.rejected}"
        )

    def stream_started(self, connector: str, stream: str) -> None:
        self.tasks[(connector, stream)] = self.bar.add_task(f"{connector}/{stream}", total=None, counts="")

    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None:
        task = self.tasks.get((connector, stream))
        if task is not None:
            self.bar.update(task, completed=stats.read, counts=self._counts(stats))

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        task = self.tasks.get((connector, stream))
        if task is not None:
            counts = self._counts(stats) + (f"  [red]{escape(str(stats.error))}[/red]" if stats.error else "")
            self.bar.update(task, total=max(stats.read, 1), completed=max(stats.read, 1), counts=counts)

    def phase(self, name: str) -> None:
        if self.phase_task is not None:
            self.bar.update(self.phase_task, description=label(name, self.lang))
