"""`joinedup encode`: run at an agency, it writes the encodings of a file of people instead of
their names (sources.encoding; docs/privacy.md)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_options import parse_roles
from flows.cli_options import stderr_console as console


def read_secret(secret_file: Path | None, secret_block: str | None) -> tuple[bytes, str]:
    """The partnership's encoding secret from a file or a Prefect Secret block: never from
    the command line, where it would stay in the shell's history and the process list."""
    from sources.encoding.schema import EncodingError, check_secret

    if (secret_file is None) == (secret_block is None):
        raise typer.BadParameter("give the secret as --secret-file FILE or --secret-block NAME "
                                 "(one of them)")
    if secret_file is not None:
        if not secret_file.is_file():
            raise typer.BadParameter(f"--secret-file {secret_file}: no such file")
        if secret_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            console.print(f"[yellow]{secret_file} can be read by others: "
                          f"chmod 600 {secret_file}[/yellow]")
        origin = f"the file {secret_file}"
        secret = secret_file.read_bytes().strip()
    else:
        from flows.keys import from_secret_block

        origin = f"the Prefect Secret block '{secret_block}'"
        secret = from_secret_block(secret_block)
        if secret is None:
            raise EncodingError(f"no Prefect Secret block named '{secret_block}'")
    return check_secret(secret, origin), origin


def _supplier_layout(file: Path, kind: str, maps: list[str], id_column: str | None):
    """(id column, roles, withheld columns) of a feed's extract, from the column map that fits
    it or the one `--map M` names."""
    from sources.encoding.encode import encodable_roles
    from sources.encoding.schema import EncodingSchema
    from sources.encoding.supplier_layout import supplier_roles

    if len(maps) > 1 or any("=" in m for m in maps):
        raise typer.BadParameter("with --kind, --map names one column map (a map's name or "
                                 "its .yaml file), not ROLE=COLUMN pairs")
    if id_column is not None:
        raise typer.BadParameter("with --kind, the record id is the map's record_id column: "
                                 "leave out --id")
    found = supplier_roles(file, kind, maps[0] if maps else None,
                           encodable_roles(EncodingSchema.defaults()))
    console.print(f"{file.name}: read as a {kind} extract with the column map {found.map_name}"
                  + (f"; withheld (no encoding for them): {', '.join(found.withheld)}"
                     if found.withheld else ""))
    return found.id_column, found.roles, tuple(found.withheld)


def encode(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of people.")],
    out: Annotated[Path, typer.Option("--out", help="ENCODED.parquet to write (its schema is "
                                                    "written beside it).")],
    id_column: Annotated[str | None, typer.Option(
        "--id", help="Column holding each row's record id (one that identifies no one); with "
                     "--kind, the map's record_id.")] = None,
    roles: Annotated[list[str], typer.Option(
        "--map", help="ROLE=COLUMN, as for `joinedup link`: first_name, middle_names, "
                      "last_name, full_name, dob, postcode, address (Bloom filters), "
                      "nhs_number, upn, la_child_id (keyed HMACs), sex (as it is). With --kind: "
                      "the column map to read the extract with (a name or a .yaml file; "
                      "default: the one that fits its header).")
    ] = [],  # noqa: B006
    kind: Annotated[str | None, typer.Option(
        "--kind", help="The file is a feed's extract of this kind (police, school, "
                       "social_care, yot) in its supplier's layout: its column map says "
                       "which columns to encode.")] = None,
    secret_file: Annotated[Path | None, typer.Option(
        "--secret-file", help="File holding the partnership's encoding secret.")] = None,
    secret_block: Annotated[str | None, typer.Option(
        "--secret-block", help="Prefect Secret block holding it instead.")] = None,
) -> None:
    """Encode a file of people for privacy-preserving linkage: names, date of birth, postcode and
    address become keyed Bloom filters, identifiers keyed HMACs; other columns pass through."""
    from flows.cli_errors import plain_failures
    from sources.encoding.encode import encode_file
    from sources.encoding.schema import EncodingError, schema_path
    from sources.errors import ExtractError

    if kind is None and not roles:
        raise typer.BadParameter("name at least one column to encode with --map ROLE=COLUMN, "
                                 "or give the extract's --kind")
    if kind is None and id_column is None:
        raise typer.BadParameter("give the record id column with --id COLUMN")
    with plain_failures():
        try:
            secret, origin = read_secret(secret_file, secret_block)
            withheld: tuple[str, ...] = ()
            if kind is not None:
                id_column, mapped, withheld = _supplier_layout(file, kind, roles, id_column)
            else:
                mapped = parse_roles(roles)
            schema = encode_file(file, id_column, mapped, secret, out, withhold=withheld)
        except (EncodingError, ExtractError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    del secret
    console.print(f"encoded {schema.records:,} records ({', '.join(schema.fields)}) with the "
                  f"secret from {origin} into {out}; schema: {schema_path(out)}")
