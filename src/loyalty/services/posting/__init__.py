"""Posting sales: from a POS request or an import batch to the ledger.

A purchase walks four hops, each entered once (docs/adr/0006-pos-posting-pipeline.md):

1. the entry point (`api.routers.purchases`, the CLI, an import loader) hands the sale to
2. the posting strategy chosen when the process starts (`strategy`): alone (`alone`), the SQLite
   group commit (`group_commit`) or PostgreSQL's set-based batches (`set_based_batches`), which owns
   the transaction, its retry and the Idempotency-Key (`sale_request`);
3. the posting routine, set-based: a sale alone is checked and its member locked (`one_sale`), then
   posted as a batch of one, and a till's few sales as a batch of a few, on Python's values
   (`few_orders`); an import's batch, and a till's where a member has two sales, in columns
   (`order_batch`, `set_based`, with `member_state`, `window_spend`, `read_ahead` and an import run's
   memory, `import_session`); returns are `returns`;
4. the writers of `db`: `db.ledger_writer` for transfers and postings, `db.rows` for the rest.
"""
