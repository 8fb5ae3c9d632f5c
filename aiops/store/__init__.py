"""Persistence: the :class:`Store` protocol and its SQLite/PostgreSQL implementation."""

from aiops.store.base import MAX_PAGE, DeploymentRow, IncidentFilter, Page, Store, StoreError, StoreUnavailable
from aiops.store.sql import SqlStore, StoreConfigError, open_store

__all__ = [
    "MAX_PAGE",
    "DeploymentRow",
    "IncidentFilter",
    "Page",
    "SqlStore",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]
