"""Use cases: one function per use case, one database transaction per call."""
