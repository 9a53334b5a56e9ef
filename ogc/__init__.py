"""ogc package."""
