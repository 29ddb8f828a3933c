"""tuning's top layer: the command-line handlers (:mod:`.cli`), resume (:mod:`.resume`), submit
(:mod:`.submit`), ``optcompare refine`` (:mod:`.refine_experiment`) and the run summary's lines
read from results (:mod:`.lost_ground_lines`). The only layer of tuning that imports
:mod:`analysis`.
"""
