"""tuning's planners: state that turns finished trials into the next ones during a run.

Stages (:mod:`.stages`), adaptive samplers (:mod:`.adaptive`), reruns (:mod:`.reruns`), inclusion
probes (:mod:`.probes`), and the book of running bundles that tells them about each finished
trial (:mod:`.bundles`). They import :mod:`tuning.plan` and :mod:`tuning.spec`, never the worker,
the store or the driver.
"""
