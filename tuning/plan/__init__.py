"""tuning's pure layer: trials and plans computed from a parsed config, deterministic and free of
Ray and of results on disk.

Planned trials and bundle tasks (:mod:`.trial`), a trial's track (:mod:`.tracks`), the plan
(:mod:`.resolve`), quasi-random points (:mod:`.quasirandom`), adaptive searches
(:mod:`.adaptive_search`), probe trials (:mod:`.probe_trials`), the refine rule applied
(:mod:`.refine`), space inclusion and covering (:mod:`.space_inclusion`, :mod:`.cover`) and the
plan in words (:mod:`.message`). It imports only :mod:`tuning.spec`.
"""
