"""Plumbing every layer may import: JSON-lines files, SQL-file loading, HTML rendering, fault
points (checkpoints), period/date rules and settings merging."""
