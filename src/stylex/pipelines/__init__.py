"""Whole jobs over a trained run: AttFind, evaluation and the report (the `stylex` commands
of the same names parse flags, call these, and print)."""
