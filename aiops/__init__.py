"""aiops: deploy-aware anomaly detection. See README.md and docs/."""

__version__ = "0.1.0"
