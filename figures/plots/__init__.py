"""One module per figure, named after its claim id (``-`` becomes ``_``), each with ``fig_<name>`` and
``CAPTION``. A figure function takes the list of results records (the lab's figures: a
:class:`.lab_data.LabResults`) and returns a matplotlib Figure; it selects and draws saved values and computes
no claim. Two modules are not figures but what the figures share: :mod:`.sweep_data` (selecting
the sweep's records) and :mod:`.lab_data` (reading the training lab's)."""
