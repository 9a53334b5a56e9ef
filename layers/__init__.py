"""PostGIS side of urbangis: settings, the embedded cluster, the schema and its migrations."""
