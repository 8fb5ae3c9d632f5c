"""`aiops score` (docs/contracts.md 5) and the NAB scorer on hand-checked cases."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiops.eval.nab import NabFile, scaled_sigmoid, sweep

PROFILE = {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11}


def series_csv(path: Path, n: int = 1500, jump_at: int = 1200) -> Path:
    rng = np.random.default_rng(0)
    values = 10 + rng.normal(0, 1, n)
    values[jump_at:] += 8
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for i, v in enumerate(values):
            w.writerow([f"2014-04-{1 + i // 288:02d} {(i % 288) // 12:02d}:{(i % 12) * 5:02d}:00", f"{v:.5f}"])
    return path


def score(path: Path, out: Path) -> list[list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "score", str(path), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as fh:
        return list(csv.reader(fh))


def test_score_writes_one_row_per_input_row_with_scores_in_range(tmp_path: Path) -> None:
    rows = score(series_csv(tmp_path / "s.csv"), tmp_path / "o.csv")
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == 1501
    scores = [float(r[2]) for r in rows[1:]]
    assert all(0.0 <= s <= 1.0 for s in scores)
    # After warm-up (NAB's probationary period is 15 %), the jump is the most anomalous row.
    assert int(np.argmax(scores[225:])) + 225 in range(1200, 1210)


def test_score_has_no_look_ahead(tmp_path: Path) -> None:
    full = series_csv(tmp_path / "full.csv")
    lines = full.read_text().splitlines()
    prefix = tmp_path / "prefix.csv"
    prefix.write_text("\n".join(lines[:1101]) + "\n")
    a = score(full, tmp_path / "a.csv")
    b = score(prefix, tmp_path / "b.csv")
    assert a[:1101] == b


def test_score_rejects_a_bad_file_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2014-04-01 00:00:00,abc\n")
    done = subprocess.run([sys.executable, "-m", "aiops.cli", "score", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "line 2: value 'abc' is not a number" in done.stderr


def nab_file(n: int, windows: list[tuple[int, int]]) -> NabFile:
    return NabFile("f.csv", [""] * n, np.arange(n, dtype=float), np.zeros(n), windows)


def test_detection_at_window_start_scores_perfectly() -> None:
    f = nab_file(1000, [(500, 599)])
    scores = np.zeros(1000)
    scores[500] = 1.0
    result = sweep([f], [scores], PROFILE)
    assert result.normalized == pytest.approx(100.0, abs=1e-6)
    assert (result.tp, result.fp, result.fn) == (1, 0, 0)


def test_late_detection_earns_less_and_misses_cost_a_window() -> None:
    f = nab_file(1000, [(500, 599)])
    late = np.zeros(1000)
    late[590] = 1.0
    r = sweep([f], [late], PROFILE)
    expected_raw = scaled_sigmoid(-(599 - 590 + 1) / 100) / scaled_sigmoid(-1.0)
    assert r.raw == pytest.approx(expected_raw)
    assert sweep([f], [np.zeros(1000)], PROFILE).normalized == pytest.approx(0.0)


def test_false_positive_before_any_window_costs_fp_weight_and_probation_is_ignored() -> None:
    f = nab_file(1000, [(800, 899)])
    scores = np.zeros(1000)
    scores[100] = 1.0  # inside the probationary period (150 rows): ignored
    scores[300] = 0.9  # a false positive before the window
    scores[800] = 0.8
    r = sweep([f], [scores], PROFILE)
    assert r.threshold == 0.8 and r.fp == 1
    assert r.raw == pytest.approx(1.0 - 0.11)
    assert math.isclose(r.normalized, 100 * (r.raw + 1) / 2)


def test_evaluate_nab_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "nab"
    (corpus / "cat").mkdir(parents=True)
    series_csv(corpus / "cat" / "a.csv")
    windows = {"cat/a.csv": [["2014-04-05 04:00:00.000000", "2014-04-05 10:00:00.000000"]]}
    (corpus / "combined_windows.json").write_text(json.dumps(windows))
    done = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "evaluate", "nab", str(corpus)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert set(scores) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert scores["standard"] > 50


def test_score_rejects_an_infinite_value_and_leaves_the_output_file_alone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,inf\n")
    out = tmp_path / "scores.csv"
    out.write_text("an earlier run's scores\n")
    done = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "score", str(bad), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "line 3: value 'inf' is infinite" in done.stderr
    assert out.read_text() == "an earlier run's scores\n"


def test_a_missing_value_is_a_gap_not_a_blindfold() -> None:
    from aiops.eval.scoring import score_series

    epoch = np.arange(600) * 60.0
    values = 10.0 + np.random.default_rng(4).normal(0, 1, 600)
    values[550] = 40.0
    clean = score_series(epoch, values)
    values[300] = np.nan
    gapped = score_series(epoch, values)
    assert gapped[300] == 0.0
    assert gapped[550] > 0.5 and gapped[550] == pytest.approx(clean[550], abs=0.1)
    assert np.isfinite(gapped).all()


def test_halves_benchmark_compares_with_and_without_a_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.nab_halves import main

    corpus = tmp_path / "nab"
    (corpus / "cat").mkdir(parents=True)
    series_csv(corpus / "cat" / "a.csv")
    series_csv(corpus / "cat" / "b.csv", jump_at=1000)
    windows = {
        "cat/a.csv": [["2014-04-05 04:00:00.000000", "2014-04-05 10:00:00.000000"]],
        "cat/b.csv": [["2014-04-04 12:00:00.000000", "2014-04-04 20:00:00.000000"]],
    }
    (corpus / "combined_windows.json").write_text(json.dumps(windows))
    assert main([str(corpus), "--without", "novelty", "--splits", "3", "--processes", "1"]) == 0
    whole, halves = capsys.readouterr().out.splitlines()
    assert whole.startswith("whole corpus (2 files), standard: ")
    found = re.match(r"(\d+) halves: better with novelty in (\d+), worse in (\d+), same in (\d+);", halves)
    assert found is not None, halves
    total, better, worse, same = map(int, found.groups())
    assert total == 6 and better + worse + same == 6  # 3 splits x 2 halves, every one counted
