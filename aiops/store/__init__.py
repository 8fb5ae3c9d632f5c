"""Persistence: the :class:`Store` protocol and its SQLite/PostgreSQL implementation."""

from aiops.store.base import MAX_PAGE, DeploymentRow, IncidentFilter, Page, Store, StoreUnavailable
from aiops.store.sql import SqlStore, open_store

__all__ = ["MAX_PAGE", "DeploymentRow", "IncidentFilter", "Page", "SqlStore", "Store", "StoreUnavailable", "open_store"]
