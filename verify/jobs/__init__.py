"""The jobs that run many checks: random networks as data (:mod:`.networks`), the sweep (:mod:`.sweep`),
the checks of the lab's trained networks (:mod:`.trained`), the one runner that drives the sweep and the lab
(:mod:`.runner`) and where its units run (:mod:`.executors`), and the generated parts of ``paper_notes.md``
(:mod:`.notes`)."""
