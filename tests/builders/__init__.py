"""Builders shared by the test modules (invented data only), so no test module imports another."""
