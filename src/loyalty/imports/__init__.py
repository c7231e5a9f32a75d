"""Bulk import of POS exports: read any format, map columns, validate set-based, load in batches."""
