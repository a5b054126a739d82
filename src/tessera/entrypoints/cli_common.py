"""What every ``tessera`` command shares: opening the store for a tenant, reading a body,
answering as a table or JSON, and failing in one clear line with a non-zero exit.

The operator commands call the HTTP API's own operation functions with a unit of work for
the tenant, so a command and its route validate and answer alike: no rule lives here."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, SecretStr, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.bootstrap import Container, build
from tessera.config import Settings
from tessera.domain.errors import DomainError

err = Console(stderr=True, soft_wrap=True)  # an error stays on one line, however long
# Into a pipe or a file a table keeps its natural width (rich would fold it to 80 columns).
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
M = TypeVar("M", bound=BaseModel)

DEMO_LIST_KEY_FILE = ".tessera-list-key"
DEMO_SECRET_FILE = ".tessera-code-secret"  # noqa: S105 - a file name

# Exit codes: 2 for a refusal (bad input, not found, a rule), 1 for an unexpected error.
REFUSED, FAILED = 2, 1


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


TenantOpt = Annotated[str, typer.Option(help="Tenant name (or id)")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table (for people) or json")]
JsonOpt = Annotated[
    str | None, typer.Option("--json", help="The body, as the API takes it (JSON text)")
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="The body from a JSON file ('-': standard input)"),
]
CursorOpt = Annotated[str | None, typer.Option(help="next_cursor of the previous page")]
LimitOpt = Annotated[int, typer.Option(min=1, max=500, help="Items per page")]


def refuse(code: str, message: str) -> NoReturn:
    err.print(f"[red]error[/red] {escape(f'[{code}]')} {escape(message)}")
    raise typer.Exit(code=REFUSED)


def fail(error: DomainError) -> typer.Exit:
    err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.message)}")
    return typer.Exit(code=REFUSED)


@contextmanager
def refusals() -> Iterator[None]:
    """A domain refusal or invalid input ends the command in one line per problem."""
    try:
        yield
    except DomainError as error:
        raise fail(error) from None
    except ValidationError as error:
        say_invalid(error)
        raise typer.Exit(code=REFUSED) from None


def say_invalid(error: ValidationError) -> None:
    """One line per problem, naming the field (or the setting's variable)."""
    settings = error.title == Settings.__name__
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        if settings:
            where = "TESSERA_" + where.upper()
        kind = "settings" if settings else "invalid"
        err.print(f"[red]error[/red] \\[{kind}] {escape(where)}: {escape(problem['msg'])}")


def demo_secret_path(settings: Settings, name: str) -> Path:
    """Where ``serve --demo`` keeps a secret: next to the SQLite database, else here."""
    url = make_url(settings.database_url)
    if settings.is_sqlite and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / name
    return Path.cwd() / name


def settings_for_cli(*, demo_files: bool = True) -> Settings:
    """The environment's settings; a secret left unset is taken from the demo's file when
    ``serve --demo`` made one, so the README's demo works from every command."""
    settings = Settings()
    fallbacks = {"code_secret": DEMO_SECRET_FILE, "list_key": DEMO_LIST_KEY_FILE}
    found: dict[str, SecretStr] = {}
    for field, name in fallbacks.items():
        path = demo_secret_path(settings, name)
        if demo_files and getattr(settings, field) is None and path.exists():
            found[field] = SecretStr(path.read_text().strip())
            err.print(f"[yellow]warning[/yellow] using the demo's {field} from {path}")
    return settings.model_copy(update=found) if found else settings


def open_store(*, create: bool = False, demo_files: bool = True) -> Container:
    """The container for this process. Without ``create`` a missing SQLite file is an error
    (SQLite would make an empty one, here, wherever the command happens to run)."""
    settings = settings_for_cli(demo_files=demo_files)
    if settings.is_sqlite and not create:
        database = make_url(settings.database_url).database
        if database and database != ":memory:" and not Path(database).exists():
            refuse(
                "no_database",
                f"no database at {Path(database).resolve()}: run `tessera db upgrade` (or "
                "`make run`) in the directory that holds it, or set TESSERA_DATABASE_URL",
            )
    return build(settings)


def open_tenant(tenant: str) -> tuple[Container, uuid.UUID]:
    from tessera.services.tenants import find_tenant

    container = open_store()
    with refusals():
        found = find_tenant(container.directory(), tenant)
    return container, found.id


def tenant_uow(tenant: str) -> UnitOfWork:
    """A unit of work for the tenant, acting as the operator at this terminal."""
    container, tenant_id = open_tenant(tenant)
    return container.uow(tenant_id)


def body_of(model: type[M], json_text: str | None, file: Path | None, **fields: Any) -> M:
    """The request body: ``--json`` or ``--file``, with the options given set on top."""
    data: dict[str, Any] = {}
    if json_text is not None and file is not None:
        refuse("invalid", "give --json or --file, not both")
    raw = json_text
    if file is not None:
        raw = sys.stdin.read() if str(file) == "-" else _read(file)
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as exc:
            refuse("invalid", f"the body is not JSON: {exc.msg} at line {exc.lineno}")
        if not isinstance(loaded, dict):
            refuse("invalid", "the body must be a JSON object")
        data.update(loaded)
    data.update({name: value for name, value in fields.items() if value is not None})
    with refusals():
        return model.model_validate(data)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        refuse("invalid", f"{file}: {exc.strerror}")


def show(answer: Any, fmt: Format, columns: Sequence[str] | None = None) -> None:
    """One answer of an operation: a model, a list of them, or a page (next cursor said)."""
    data = _plain(answer)
    if fmt is Format.JSON:
        out.print_json(json.dumps(data), highlight=False)
        return
    if isinstance(data, dict) and set(data) == {"items", "next_cursor"}:
        _table(data["items"], columns)
        if data["next_cursor"]:
            err.print(f"more: --cursor {data['next_cursor']}")
    elif isinstance(data, list):
        _table(data, columns)
    else:
        table = Table(show_header=False, box=None)
        for name, value in data.items():
            table.add_row(f"[bold]{escape(name)}[/bold]", escape(_cell(value)))
        out.print(table)


def _plain(answer: Any) -> Any:
    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json")
    if isinstance(answer, list | tuple):
        return [_plain(item) for item in answer]
    return answer


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> None:
    if not rows:
        err.print("(none)")
        return
    names = list(columns or rows[0].keys())
    table = Table()
    for name in names:
        if name == "id" or name.endswith("_id"):  # whole, to copy into the next command
            table.add_column(name, no_wrap=True, min_width=36)
        else:
            table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(row.get(name))) for name in names))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def run(command: Callable[[], Any], fmt: Format, columns: Sequence[str] | None = None) -> None:
    """Runs one operation and shows its answer; a refusal ends it in one line."""
    with refusals():
        answer = command()
    show(answer, fmt, columns)


Create = Callable[[Any, UnitOfWork], Any]
Listing = Callable[[UnitOfWork, str | None, int], Any]
Get = Callable[[uuid.UUID, UnitOfWork], Any]
Update = Callable[[uuid.UUID, Any, UnitOfWork], Any]


def resource_commands(
    app: typer.Typer,
    noun: str,
    *,
    columns: Sequence[str],
    create: tuple[type[BaseModel], Create] | None = None,
    listing: Listing | None = None,
    get: Get | None = None,
    update: tuple[type[BaseModel], Update] | None = None,
) -> None:
    """``create``, ``list``, ``show`` and ``update`` for one resource of the API, each
    calling the API's own operation with the tenant's unit of work."""
    if create is not None:
        create_model, create_op = create

        def create_command(
            tenant: TenantOpt, json_text: JsonOpt = None, file: FileOpt = None,
            fmt: FormatOpt = Format.TABLE,
        ) -> None:  # fmt: skip
            body = body_of(create_model, json_text, file)
            run(lambda: create_op(body, tenant_uow(tenant)), fmt)

        create_command.__doc__ = f"Create a {noun} from the API's body ({_fields(create_model)})."
        app.command("create")(create_command)
    if listing is not None:
        list_op = listing

        def list_command(
            tenant: TenantOpt, cursor: CursorOpt = None, limit: LimitOpt = 100,
            fmt: FormatOpt = Format.TABLE,
        ) -> None:  # fmt: skip
            run(lambda: list_op(tenant_uow(tenant), cursor, limit), fmt, columns)

        list_command.__doc__ = f"List the tenant's {noun}s, a page at a time."
        app.command("list")(list_command)
    if get is not None:
        get_op = get

        def show_command(
            item_id: Annotated[uuid.UUID, typer.Argument(metavar="ID")],
            tenant: TenantOpt, fmt: FormatOpt = Format.TABLE,
        ) -> None:  # fmt: skip
            run(lambda: get_op(item_id, tenant_uow(tenant)), fmt)

        show_command.__doc__ = f"Show one {noun}."
        app.command("show")(show_command)
    if update is not None:
        update_model, update_op = update

        def update_command(
            item_id: Annotated[uuid.UUID, typer.Argument(metavar="ID")],
            tenant: TenantOpt, json_text: JsonOpt = None, file: FileOpt = None,
            fmt: FormatOpt = Format.TABLE,
        ) -> None:  # fmt: skip
            body = body_of(update_model, json_text, file)
            run(lambda: update_op(item_id, body, tenant_uow(tenant)), fmt)

        update_command.__doc__ = (
            f"Change a {noun}: only the fields given change ({_fields(update_model)})."
        )
        app.command("update")(update_command)


def _fields(model: type[BaseModel]) -> str:
    return ", ".join(
        name + ("" if field.is_required() else "?") for name, field in model.model_fields.items()
    )
