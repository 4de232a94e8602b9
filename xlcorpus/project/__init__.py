"""Label projection (T-Projection style): project span annotations from a source sentence to
its translation. Modules: ``spans`` (CoNLL/BIO and JSON lines I/O), ``candidates``,
``scorers`` (CPU features, NMT translation probability), ``select`` (global assignment),
``evaluate`` (span P/R/F1), ``project`` (the projector), ``pipeline`` and ``cli``."""
