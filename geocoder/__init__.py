"""geocoder package."""
