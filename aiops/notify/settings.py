"""Where notifications go, read once from the environment (docs/contracts.md section 13).

>>> s = NotifySettings.from_env({"AIOPS_NOTIFY_WEBHOOK_URL": "http://hook", "AIOPS_NOTIFY_WEBHOOK_SECRET": "s3cret",
...                              "AIOPS_NOTIFY_WEBHOOK_SERVICES": "api, web"})
>>> s.webhook_url, s.routes["webhook"].services
('http://hook', ('api', 'web'))
>>> NotifySettings.from_env({"AIOPS_NOTIFY_SLACK_URL": "ftp://x"})
Traceback (most recent call last):
...
aiops.config.ConfigError: AIOPS_NOTIFY_SLACK_URL: 'ftp://x' is not an http(s) URL
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiops.config import ConfigError

SEVERITIES = {"info": 0, "warning": 1, "critical": 2}
CHANNELS = ("slack", "webhook", "alertmanager")
SLACK_FORMATS = ("slack", "mattermost", "teams")


@dataclass(frozen=True, slots=True)
class Route:
    """Which messages a channel takes: these services (empty: all) at or above this severity."""

    services: tuple[str, ...] = ()
    min_severity: str = "info"

    def wants(self, service: str, severity: str) -> bool:
        """
        >>> Route(("api",), "critical").wants("api", "warning"), Route().wants("db", "info")
        (False, True)
        """
        if self.services and service not in self.services:
            return False
        return SEVERITIES.get(severity, 1) >= SEVERITIES[self.min_severity]


@dataclass(frozen=True, slots=True)
class NotifySettings:
    slack_url: str | None = None
    slack_format: str = "slack"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    alertmanager_url: str | None = None
    public_url: str = "http://127.0.0.1:8080"  # links in messages point at the console here
    routes: Mapping[str, Route] = field(default_factory=dict)
    lease_s: float = 15.0
    poll_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.slack_url or self.webhook_url or self.alertmanager_url)

    def route(self, channel: str) -> Route:
        return self.routes.get(channel, Route())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        source = os.environ if env is None else env

        def url(name: str) -> str | None:
            value = source.get(name, "").strip()
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{name}: {value!r} is not an http(s) URL")
            return value or None

        routes = {}
        for channel in CHANNELS:
            prefix = f"AIOPS_NOTIFY_{channel.upper()}_"
            services = tuple(s.strip() for s in source.get(prefix + "SERVICES", "").split(",") if s.strip())
            severity = source.get(prefix + "MIN_SEVERITY", "info").strip() or "info"
            if severity not in SEVERITIES:
                raise ConfigError(f"{prefix}MIN_SEVERITY: {severity!r} must be info, warning or critical")
            routes[channel] = Route(services, severity)
        slack_format = source.get("AIOPS_NOTIFY_SLACK_FORMAT", "slack").strip() or "slack"
        if slack_format not in SLACK_FORMATS:
            raise ConfigError(f"AIOPS_NOTIFY_SLACK_FORMAT: {slack_format!r} must be one of {', '.join(SLACK_FORMATS)}")
        webhook_url = url("AIOPS_NOTIFY_WEBHOOK_URL")
        secret = source.get("AIOPS_NOTIFY_WEBHOOK_SECRET", "").strip() or None
        if webhook_url and not secret:
            raise ConfigError("AIOPS_NOTIFY_WEBHOOK_SECRET: needed with AIOPS_NOTIFY_WEBHOOK_URL (receivers verify it)")
        return cls(
            slack_url=url("AIOPS_NOTIFY_SLACK_URL"),
            slack_format=slack_format,
            webhook_url=webhook_url,
            webhook_secret=secret,
            alertmanager_url=url("AIOPS_NOTIFY_ALERTMANAGER_URL"),
            public_url=(url("AIOPS_PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/"),
            routes=routes,
            lease_s=_positive(source, "AIOPS_NOTIFY_LEASE_S", 15.0),
            poll_s=_positive(source, "AIOPS_NOTIFY_POLL_S", 1.0),
            max_backoff_s=_positive(source, "AIOPS_NOTIFY_MAX_BACKOFF_S", 60.0),
        )


def _positive(source: Mapping[str, str], name: str, default: float) -> float:
    raw = source.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}: must be positive")
    return value
