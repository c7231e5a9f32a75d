"""`loyalty demo`: generate a believable chain, import it through the real path, run the jobs, serve it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="A living demo chain (what `make demo` runs).", invoke_without_command=True)


@app.callback()
def demo(
    members: Annotated[int, typer.Option(help="number of members")] = 20_000,
    months: Annotated[int, typer.Option(help="months of purchase history")] = 18,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same chain)")] = 7,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the REST API afterwards (docs at /docs)")
    ] = True,
    reset: Annotated[
        bool, typer.Option("--reset", help="rebuild even if the database already has a chain")
    ] = False,
    data_dir: Annotated[Path, typer.Option(help="where the generated POS files are written")] = Path(
        "var/demo-data"
    ),
) -> None:
    """Build (or reuse) the demo chain in the configured database, print headline numbers, serve the API.

    The database is the one every `loyalty` command uses (LOYALTY_DATABASE_URL, default var/loyalty.db).
    """
    from loyalty.cli.serve import port_unavailable, require_port

    again = "`make demo PORT={port}` or `loyalty demo --port {port}`"
    if serve:  # before the build, which takes a while: a busy port is said at once, in one line
        require_port(host, port, again=again)
    from loyalty.api.server import PortUnavailable
    from loyalty.demo.chain import DemoOptions, build_demo, print_headlines, serve_demo

    console = Console()
    options = DemoOptions(
        members=members, months=months, seed=seed, reset=reset, data_dir=data_dir, host=host, port=port
    )
    result = build_demo(options, console=console)
    print_headlines(result, options, console)
    if serve:
        try:
            serve_demo(result, options, console)
        except PortUnavailable as exc:  # taken while the chain was being built
            port_unavailable(exc, again)
