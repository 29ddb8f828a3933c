"""What runs inside a Ray worker: a bundle's training and its reports to the driver.

The bundle execution (:mod:`.trainable`), the Ray Tune entry (:mod:`.ray_entry`), data-parallel
trials through Ray Train (:mod:`.data_parallel`), the stall watchdog (:mod:`.watchdog`) and the
typed message a worker reports (:mod:`.bundle_report`). It imports :mod:`tuning.plan` and
:mod:`tuning.spec`, never the planners, the store or the driver.
"""
