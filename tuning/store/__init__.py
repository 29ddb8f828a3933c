"""Where a study's results live: the Parquet sink (:mod:`.sink`), its rows (:mod:`.rows`), the
experiment directory and experiment.json (:mod:`.experiment`) and the lease that gives one driver
an experiment (:mod:`.lease`). It imports :mod:`tuning.plan` and :mod:`tuning.spec`, never the
planners, the worker or the driver.
"""
