"""Label projection (T-Projection style): project span annotations from a source sentence to
its translation. Modules: ``spans`` (CoNLL/BIO and JSON lines I/O), ``candidates``,
``scorers`` (CPU features and scoring models, NMT translation probability), ``fit`` (fitting a
scoring model on gold projections, calibration), ``select`` (global assignment),
``evaluate`` (span P/R/F1), ``project`` (the projector), ``pipeline`` and ``cli``."""
