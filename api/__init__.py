"""The HTTP application and the command line: compose geocoder, tiles, ogc and layers."""
