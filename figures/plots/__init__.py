"""One module per figure, named after its claim id (``-`` becomes ``_``), each with ``fig_<name>`` and
``CAPTION``. A figure function takes the list of results records (the lab's figures: a
:class:`._lab.LabResults`) and returns a matplotlib Figure; it selects and draws saved values and computes
no claim."""
