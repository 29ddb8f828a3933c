"""The study driver: one Ray Tune run of a plan.

:func:`.run_study.run_study`, the Tune callbacks (:mod:`.tune_callbacks`), the bundle probe
(:mod:`.bundle_probe`), study options (:mod:`.study_options`), the Ray environment and processes
(:mod:`.ray_env`, :mod:`.ray_processes`, :mod:`.ray_internals`), capacity, signals, the driver
guard, progress and the run summary. It imports the planners, the worker, the store, the plan
and the spec; never :mod:`analysis`.
"""
