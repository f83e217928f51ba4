"""The DuckDB warehouse: schema, loading, indicator derivation, marts, publication, build-and-swap.

Nothing here imports Prefect: every step is a plain function on a DuckDB connection.
"""
