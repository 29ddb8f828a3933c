"""optcompare: compare deep-learning optimizers under explicit tuning protocols.

The work lives in the sibling packages ``optimizers``, ``workloads``, ``tuning`` and
``analysis``; this package holds the ``optcompare`` command line and the shared error type.
"""

__version__ = "0.1.0"
