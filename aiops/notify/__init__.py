"""Notifications (docs/contracts.md section 13): the outbox's messages delivered to Slack, webhooks, Alertmanager.

The store enqueues (aiops/store/outbox.py); :mod:`aiops.notify.sender` delivers, one sender active
across replicas; each channel module only turns a message into one HTTP request.
"""
