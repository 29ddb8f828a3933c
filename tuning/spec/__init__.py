"""tuning's bottom layer: what a user writes, parsed and checked.

YAML with line marks (:mod:`.yaml_io`), search spaces (:mod:`.search`, :mod:`.default_search`),
protocols (:mod:`.protocol`, :mod:`.protocol_files`), the experiment config (:mod:`.config`),
plugins (:mod:`.plugins`), and the config halves of the concepts that the planners run: stages
(:mod:`.stages`), the refine rule (:mod:`.refine_rule`), samplers (:mod:`.samplers`), inclusion
pairs (:mod:`.probe_pairs`) and rerun rules (:mod:`.rerun_rules`). It imports no other layer.
"""
