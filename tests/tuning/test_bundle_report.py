"""The worker-to-driver message (tuning/worker/bundle_report.py): one definition of the dict Tune
carries, read back exactly, its keys removed from the result; the buffer sends on its interval
and hands the rest over whole."""

from __future__ import annotations

from tuning.worker.bundle_report import KEYS, BundleReport, ReportBuffer


def test_a_report_survives_the_trip_through_a_tune_result():
    report = BundleReport(
        curve=[{"trial_id": "a", "step": 10, "val_error": 0.5}],
        finals={"a": {"status": "completed"}}, checkpointed={"a": 10, "b": 20}, final=True,
    )
    result = {**report.as_result(), "training_iteration": 3, "train_checkpoint_path": "/x"}
    assert BundleReport.pop_from(result) == report
    assert result == {"training_iteration": 3, "train_checkpoint_path": "/x"}  # Tune's and Train's keys stay
    assert set(report.as_result()) <= set(KEYS)


def test_a_failure_report_holds_only_the_message_and_plain_reports_no_extras():
    assert BundleReport(failure="boom").as_result() == {"failure": "boom"}
    assert BundleReport.pop_from({"failure": "boom", "curve": []}).failure == "boom"
    assert BundleReport().as_result() == {"curve": [], "finals": {}}  # no checkpoint, not final
    assert BundleReport.pop_from({}) == BundleReport()


def test_the_buffer_sends_on_its_interval_and_take_hands_over_the_rest():
    now = [0.0]
    sent: list[BundleReport] = []
    buffer = ReportBuffer(sent.append, every_s=10.0, clock=lambda: now[0])
    buffer.add_row("a", {"step": 1})
    now[0] = 5.0
    buffer.add_final("b", {"status": "diverged"})
    assert sent == []  # 5 s < 10 s
    now[0] = 10.0
    buffer.add_row("a", {"step": 2})
    assert sent == [BundleReport([{"trial_id": "a", "step": 1}, {"trial_id": "a", "step": 2}],
                                 {"b": {"status": "diverged"}})]
    now[0] = 15.0
    buffer.add_row("a", {"step": 3})  # 5 s after the last report: kept
    last = buffer.take(checkpointed={"a": 3}, final=True)
    assert last == BundleReport([{"trial_id": "a", "step": 3}], {}, {"a": 3}, True)
    assert (buffer.rows, buffer.finals, buffer.last) == ([], {}, 15.0)
