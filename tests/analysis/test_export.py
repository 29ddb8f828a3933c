"""``export optuna``: the studies read back with Optuna (RDB and journal), served by
optuna-dashboard, and the storage errors."""

from __future__ import annotations

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest

from analysis.export import export_optuna, open_storage, study_name
from analysis.load import load_results
from optcompare.errors import ParameterError
from optcompare.schema import SearchKey
from tests.analysis.optuna_rows import KEY, SPACE, one_coordinate_experiment, sampler_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return one_coordinate_experiment(tmp_path_factory.mktemp("export") / "exp", n=40)


def _storages(tmp_path):
    return {"rdb": f"sqlite:///{tmp_path / 'studies.db'}", "journal": str(tmp_path / "studies.log")}


@pytest.mark.parametrize("kind", ["rdb", "journal"])
def test_exported_study_reads_back_with_optuna(experiment, tmp_path, kind):
    target = _storages(tmp_path)[kind]
    result = export_optuna(str(experiment), target)
    name = study_name("exp", SearchKey(*KEY), 0, "final", staged=False)
    assert [s.name for s in result.studies] == [name] == ["exp/w/p/adam"]
    study = optuna.load_study(study_name=name, storage=open_storage(target))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 40
    states = [t.state.name for t in trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 39
    exp = load_results(str(experiment))
    rows = {r["trial_id"]: r for r in exp.trials.to_pylist()}
    worst = max(r["final_val_error"] for r in rows.values() if r["status"] == "completed")
    for t in trials:
        row = rows[t.user_attrs["trial_id"]]
        assert t.user_attrs["status"] == row["status"] and t.user_attrs["study"] == 0
        assert t.user_attrs["trial_index"] == row["trial_index"]
        assert set(t.params) == set(SPACE)
        assert t.params["learning_rate"] == pytest.approx(row["tuned_learning_rate"])
        if row["status"] == "completed":
            assert t.value == pytest.approx(row["final_val_error"])
            assert t.intermediate_values[100] == pytest.approx(row["final_val_error"])
            assert sorted(t.intermediate_values) == [20, 40, 60, 80, 100]
        elif row["status"] == "diverged":
            assert t.value == pytest.approx(worst)
    assert trials[0].distributions["learning_rate"].log
    assert study.user_attrs == {"experiment": "exp", "workload": "w", "protocol": "p",
                                "optimizer": "adam", "study": 0, "stage": "final",
                                "search": "quasirandom", "select": "val_error"}


def test_one_study_per_search_and_study(tmp_path):
    path = sampler_experiment(tmp_path / "exp")
    result = export_optuna(str(path), str(tmp_path / "s.log"))
    assert [s.name for s in result.studies] == [
        "exp/w/qr/adam", "exp/w/qr/adam/s1", "exp/w/qr/adam/s2",
        "exp/w/tpe/adam", "exp/w/tpe/adam/s1", "exp/w/tpe/adam/s2"]
    assert {s.n_trials for s in result.studies} == {8}
    study = optuna.load_study(study_name="exp/w/tpe/adam/s2", storage=open_storage(str(tmp_path / "s.log")))
    assert study.user_attrs["search"] == "tpe" and study.user_attrs["study"] == 2
    assert [t.user_attrs["trial_index"] for t in study.trials] == list(range(8))


def test_existing_study_is_refused_unless_overwrite(experiment, tmp_path):
    target = str(tmp_path / "s.log")
    export_optuna(str(experiment), target)
    with pytest.raises(ParameterError, match="already holds 1 of these studies") as err:
        export_optuna(str(experiment), target)
    assert err.value.parameter == "overwrite"
    result = export_optuna(str(experiment), target, overwrite=True)
    assert result.replaced == ("exp/w/p/adam",)
    assert len(optuna.load_study(study_name="exp/w/p/adam", storage=open_storage(target)).trials) == 40


@pytest.mark.parametrize(("target", "message"), [
    ("nosuchdialect://x", "NoSuchModuleError"),
    ("{tmp}/missing/s.log", "does not exist"),
    ("{tmp}", "it is a directory"),
    ("{tmp}/s.db", "looks like an SQLite file"),
])
def test_a_storage_that_cannot_be_opened_names_it_and_what_is_allowed(tmp_path, target, message):
    target = target.format(tmp=tmp_path)
    with pytest.raises(ParameterError) as err:
        open_storage(target)
    assert err.value.parameter == "storage"
    assert message in str(err.value) and repr(target) in str(err.value)
    assert "sqlite:///studies.db" in str(err.value) and "journal file path" in str(err.value)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@pytest.mark.parametrize("kind", ["rdb", "journal"])
def test_optuna_dashboard_lists_the_exported_studies(tmp_path, kind):
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    path = sampler_experiment(tmp_path / "exp")
    target = _storages(tmp_path)[kind]
    names = [s.name for s in export_optuna(str(path), target).studies]
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(open_storage(target)), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/studies"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.loads(response.read())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    listed = sorted(s["study_name"] for s in body["study_summaries"])
    assert listed == sorted(names)
