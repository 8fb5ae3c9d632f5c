-- The change each labelled metric showed when a person judged it: what calibration learns from.
ALTER TABLE feedback ADD COLUMN changes TEXT NOT NULL DEFAULT '{}'
