"""Fuzzing of the parsers a repository author or a webhook sender controls (issue 12)."""
