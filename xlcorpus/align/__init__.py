"""Word alignment of bitext: eflomal (CPU) and SimAlign-style neural alignment, symmetrization,
evaluation, lexical tables, alignment-based code-switching and interlinear views."""
