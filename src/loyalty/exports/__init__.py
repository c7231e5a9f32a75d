"""Exports of members, segments, statements and purchase history, with PII masked by role."""
