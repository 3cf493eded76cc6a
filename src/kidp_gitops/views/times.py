"""Times as people read them, the same in the CLI's tables and on the dashboard's page:
Kubernetes timestamps parsed, and kubectl's short ages (45s, 5m30s, 4h12m, 3d4h)."""

from __future__ import annotations

import datetime


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: str | None, now: datetime.datetime | None = None) -> str:
    """kubectl's short age: 45s, 5m30s, 42m, 4h12m, 20h, 3d4h, 40d, 2y."""
    when = parse_time(value)
    if when is None:
        return "-"
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = max(0, int((now - when).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"
