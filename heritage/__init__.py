"""Heritage-site monitoring: change detection between two image epochs and footprint comparison."""
