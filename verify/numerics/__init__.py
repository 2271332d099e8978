"""The float numerics under every check: rounding-error bounds (:mod:`.bounds`), the layer engine with its
closed-form adjoints (:mod:`.engine`), the batched linearization (:mod:`.linearize`) and the re-decision of
points within rounding of a kink (:mod:`.kinks`)."""
