"""Results: the :class:`~verify.results.gap.Gap` record of every check, the JSON-lines files that carry
them, what a run records about itself, summaries of a sweep and the merge of its shards.

- :mod:`.gap`: one record per checked sub-statement (:class:`~verify.results.gap.Gap`);
- :mod:`.records`: reading and writing the results files;
- :mod:`.provenance`: the facts a results line records about its run;
- :mod:`.summary`: the per-claim table and the blocks under it;
- :mod:`.merge`: joining a sharded sweep's files.
"""
