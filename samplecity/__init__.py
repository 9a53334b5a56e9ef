"""The sample city: Urumqi's real administrative skeleton with a seeded synthetic gazetteer.

``samplecity.city.build_city`` builds the in-memory model (admin areas, grids, roads, places);
``samplecity.generate.generate`` streams a whole gazetteer in the data contract to a folder;
``samplecity.queries`` derives the geocoder's evaluation set from the same model.
"""
