"""``tinytext-lstm``: a small character LSTM on a text shipped with optcompare (embedded, CPU-sized).

The text (``workloads/data/tinytext.txt``, about 26 KB, 55 distinct characters) was written for
this project and is in the public domain. Contiguous split: first 80% train, next 10%
validation, last 10% test.
"""

from __future__ import annotations

from pathlib import Path

from ._text import CharLmWorkload, LstmSize

TEXT_PATH = Path(__file__).resolve().parent / "data" / "tinytext.txt"


class TinytextLstm(CharLmWorkload):
    name = "tinytext-lstm"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "1-layer char LSTM (embed 32, hidden 128) on a 26 KB shipped text, windows of 64, batch 32"
    batch_size = 32
    step_budget = 600
    eval_interval = 100
    target_value = 0.455
    """Validation next-character error to reach: the median tuned optimizer's level
    (benchmarks/speed_targets.py, docs/method.md 9.3); ``target_spread`` is its seed spread."""
    target_spread = 0.00576
    data_description = "embedded: workloads/data/tinytext.txt, contiguous split 80/10/10%"
    seq_len = 64
    split_fractions = (0.8, 0.1, 0.1)
    lstm = LstmSize(embed=32, hidden=128, layers=1, dropout=0.0)

    def read_text(self) -> str:
        return TEXT_PATH.read_text(encoding="utf-8")
