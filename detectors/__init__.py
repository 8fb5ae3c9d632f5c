"""Detectors: pure code that says how unusual data is and whether a deploy made a metric worse."""
