"""The StyleSpace vocabulary: attributes (one coordinate, one direction), the
per-class catalog AttFind writes, and their names."""
