"""HTTP API (FastAPI) for POS terminals, member self-service and the back office, under /api/v1."""
