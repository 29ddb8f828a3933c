"""``warpeace-lstm``: 2-layer character LSTM on War and Peace (DeepOBS ``tolstoi_char_rnn``,
also Wilson et al. 2017).

Data: one plain-text file, ``war_and_peace.txt`` in ``data_dir`` (Project Gutenberg eBook
#2600, UTF-8). Contiguous split as DeepOBS (first 80% train, last 20% test), with the last
tenth of the training part held out for validation: train/val/test = 72/8/20% of the text.
Windows of 50 characters, batch 50. The 200-epoch budget is converted to steps at a nominal
3.2M characters: 0.72 * 3.2M / (50 * 50) = 921 steps per epoch.
"""

from __future__ import annotations

from ._text import CharLmWorkload, LstmSize

FILE_NAME = "war_and_peace.txt"
NOMINAL_CHARS = 3_200_000


class WarpeaceLstm(CharLmWorkload):
    name = "warpeace-lstm"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "2-layer char LSTM (embed 128, hidden 128, dropout 0.2) on War and Peace, windows of 50, batch 50"
    batch_size = 50
    seq_len = 50
    budget_epochs = 200
    step_budget = 200 * int(0.72 * NOMINAL_CHARS) // (50 * 50)
    eval_interval = 2000
    target_value = 0.42
    """Validation next-character error (unconfirmed; DeepOBS's tuned baselines reach ~0.38-0.40)."""
    split_fractions = (0.72, 0.08, 0.2)
    lstm = LstmSize(embed=128, hidden=128, layers=2, dropout=0.2)
    expected_files = (FILE_NAME,)
    data_description = "plain-text War and Peace; contiguous split train/val/test 72/8/20%"
    data_source = (
        "Get it from Project Gutenberg (eBook #2600, 'Plain Text UTF-8', "
        "https://www.gutenberg.org/ebooks/2600) and save it as war_and_peace.txt."
    )

    def read_text(self) -> str:
        self.check_data()
        assert self.data_dir is not None
        return (self.data_dir / FILE_NAME).read_text(encoding="utf-8-sig")
