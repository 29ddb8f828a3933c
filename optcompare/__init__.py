"""optcompare: compare deep-learning optimizers under explicit tuning protocols.

The work lives in the sibling packages ``optimizers``, ``workloads``, ``tuning`` and
``analysis``; this package holds what they share, importable without torch or ray: the results
layout (:mod:`optcompare.schema`), the error types (:mod:`optcompare.errors`), intervals of
valid values (:mod:`optcompare.intervals`), the validation helpers of every file format
(:mod:`optcompare.validation`, pydantic), search spaces and their coordinates
(:mod:`optcompare.space`, :mod:`optcompare.coordinates`), and the ``optcompare`` command line
with its demo (which alone imports the other packages).
"""

__version__ = "0.1.0"
