"""The one error of the read-model.

ViewError    a request the read-model cannot serve (an unknown kind, a reference
             that is not one, an applier that names no source), said in one line a
             person can act on. The CLI prints it and exits 1 (`cli/group.py`).
"""

from __future__ import annotations


class ViewError(Exception):
    """One readable line: what was asked, and what would be valid."""
