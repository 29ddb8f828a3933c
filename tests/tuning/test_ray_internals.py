"""The private Ray attributes of tuning/driver/ray_internals.py exist on the installed Ray (checked
without starting Ray): a Ray release that moves one fails here, by name."""

from __future__ import annotations

import ray._private.node
import ray._private.worker
from ray.tune.experiment.trial import _TemporaryTrialState

from tuning.driver.ray_internals import trial_actor


def test_the_session_directory_is_still_where_session_dir_reads_it():
    assert "node" in vars(ray._private.worker.global_worker), "ray._private.worker.global_worker.node is gone"
    assert callable(getattr(ray._private.node.Node, "get_session_dir_path", None)), (
        "ray._private.node.Node.get_session_dir_path is gone"
    )


def test_a_tune_trial_still_holds_its_actor_where_trial_actor_reads_it():
    state = _TemporaryTrialState()
    assert "ray_actor" in vars(state), "Tune's trial.temporary_state.ray_actor is gone"

    class Trial:  # what trial_actor reads of a Tune Trial
        temporary_state = state

    assert trial_actor(Trial()) is None
    state.ray_actor = marker = object()
    assert trial_actor(Trial()) is marker
    assert trial_actor(object()) is None  # a trial without the state: no actor, no error
