"""The solvers: one module or subpackage per job, each a pure function of tables and options.

``density`` (clusters, reach), ``overview`` (accounts by county), ``bases``
(where to station people) over ``pmedian``, ``territories``, ``routing`` (the
day-routing engine) under ``days``, ``expansion`` and ``rotation``,
``targets``. A solver never imports the app layer or the demo.
"""
