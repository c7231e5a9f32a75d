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
        bool, typer.Option("--serve/--no-serve", help="serve the API and console afterwards")
    ] = True,
    reset: Annotated[
        bool, typer.Option("--reset", help="rebuild even if the database already has a chain")
    ] = False,
    data_dir: Annotated[Path, typer.Option(help="where the generated POS files are written")] = Path(
        "var/demo-data"
    ),
) -> None:
    """Build (or reuse) the demo chain in LOYALTY_DATABASE_URL, print headline numbers, then serve it."""
    from loyalty.demo.chain import DemoOptions, build_demo, print_headlines, serve_demo

    console = Console()
    options = DemoOptions(
        members=members, months=months, seed=seed, reset=reset, data_dir=data_dir, host=host, port=port
    )
    result = build_demo(options, console=console)
    print_headlines(result, options, console)
    if serve:
        serve_demo(result, options, console)
