"""`loyalty feedback …`: members' ratings of their purchases, listed newest first, and a low one
marked handled once the store has followed it up (audited as the CLI's, `system:cli`).

The same service as `/api/v1/feedback` and the console's feedback page (`services.feedback`); the
output is JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(
    help="Members' ratings of their purchases: list them, mark one handled.", no_args_is_help=True
)

#: a service field → the option that sets it
OPTION_OF_FIELD = {"limit": "--limit", "cursor": "--cursor", "note": "--note"}


def _actor() -> Any:
    from loyalty.domain.actors import Actor

    return Actor(kind="system", id="cli", role="system")


@app.command("list")
def list_(
    store: Annotated[
        str | None, typer.Option(help="Only this store (its code or id); default every store.")
    ] = None,
    low: Annotated[
        bool, typer.Option("--low", help="Only low ratings (2 or less), the ones to follow up.")
    ] = False,
    open_: Annotated[bool, typer.Option("--open", help="Only ratings not handled yet.")] = False,
    limit: Annotated[int, typer.Option(help="How many to list (1 to 200).")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a page: the next_cursor it printed.")
    ] = None,
) -> None:
    """Members' ratings of their purchases, newest first, with the sale, the comment and the follow-up."""
    from loyalty.cli._core import bad_parameter, context, run
    from loyalty.cli.kpis import store_id_of
    from loyalty.domain.errors import InvalidInput
    from loyalty.services import feedback

    ctx = context()
    store_id = None if store is None else store_id_of(ctx, store, "--store")

    def listed() -> feedback.FeedbackPage:
        try:
            return feedback.list_feedback(
                ctx, store_id=store_id, low=low, handled=False if open_ else None, cursor=cursor, limit=limit
            )
        except InvalidInput as exc:
            raise bad_parameter(exc, OPTION_OF_FIELD) from exc

    run(listed)


@app.command("handle")
def handle(
    feedback_id: Annotated[int, typer.Argument(help="The rating's id (as listed).")],
    note: Annotated[str | None, typer.Option(help="What was done (a call, a voucher).")] = None,
) -> None:
    """Mark a rating handled once its follow-up is done (once; audited)."""
    from loyalty.cli._core import bad_parameter, context, run
    from loyalty.domain.errors import InvalidInput
    from loyalty.services import feedback

    ctx = context()

    def handled() -> feedback.Feedback:
        try:
            return feedback.handle_feedback(ctx, feedback_id, _actor(), note=note)
        except InvalidInput as exc:
            raise bad_parameter(exc, OPTION_OF_FIELD) from exc

    run(handled)
