"""Great Expectations suites for canonical extracts, and turning their results into quarantine.

Suites are built as code from the canonical kind specifications, so every column a kind gains is
validated without a second list to keep in step.
"""
