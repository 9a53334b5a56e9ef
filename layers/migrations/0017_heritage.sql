-- 0017: heritage-change monitoring (heritage/, docs/heritage.md): historic sites, their protection
-- zones with the zones' rules, historic streets (contract layers, loaded by the loaders), imagery
-- epochs (GeoTIFFs registered as Cloud-Optimized GeoTIFFs), and the change patches (图斑) found
-- between two epochs, which an inspector reviews (待核查 -> 属实 / 不属实).
-- The enumerations (site kinds, levels, zone kinds, patch classes) are the contract's
-- (layers/contract.py); layers/migrate.py keeps the field checks in step after the migrations.

CREATE TABLE heritage_sites (
    id            text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name          text NOT NULL CHECK (length(btrim(name)) > 0),
    kind          text NOT NULL,
    level         text NOT NULL,
    district_code text,
    provenance    text NOT NULL,
    attrs         jsonb NOT NULL DEFAULT '{}',
    geom          geometry(MultiPolygon, 4490) NOT NULL
);
CREATE INDEX heritage_sites_geom ON heritage_sites USING gist (geom);

-- A zone's rules: new construction forbidden or not (a core protection area's default), the
-- highest a building may be, and the most a building's footprint may change (per cent).
CREATE TABLE protection_zones (
    id                   text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    site_id              text NOT NULL REFERENCES heritage_sites (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name                 text NOT NULL CHECK (length(btrim(name)) > 0),
    zone_kind            text NOT NULL,
    new_construction     text,
    max_height_m         integer CHECK (max_height_m > 0),
    max_footprint_change integer CHECK (max_footprint_change >= 0),
    provenance           text NOT NULL,
    attrs                jsonb NOT NULL DEFAULT '{}',
    geom                 geometry(MultiPolygon, 4490) NOT NULL
);
CREATE INDEX protection_zones_geom ON protection_zones USING gist (geom);
CREATE INDEX protection_zones_site ON protection_zones (site_id);

CREATE TABLE historic_streets (
    id         text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    site_id    text NOT NULL REFERENCES heritage_sites (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name       text NOT NULL CHECK (length(btrim(name)) > 0),
    provenance text NOT NULL,
    attrs      jsonb NOT NULL DEFAULT '{}',
    geom       geometry(MultiLineString, 4490) NOT NULL
);
CREATE INDEX historic_streets_geom ON historic_streets USING gist (geom);

-- An epoch of imagery: a GeoTIFF of an area at a date, kept as a COG in the server's imagery
-- folder (path relative to it), its footprint in CGCS2000, its pixel size in metres.
CREATE TABLE imagery_epochs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(btrim(name)) > 0),
    acquired      date NOT NULL,
    site_id       text REFERENCES heritage_sites (id) ON DELETE SET NULL,
    path          text NOT NULL UNIQUE,
    source        text NOT NULL,
    source_crs    text NOT NULL,
    bands         integer NOT NULL CHECK (bands > 0),
    band_names    text[] NOT NULL DEFAULT '{}',
    pixel_m       real NOT NULL CHECK (pixel_m > 0),
    width         integer NOT NULL,
    height        integer NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    attrs         jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Polygon, 4490) NOT NULL
);
CREATE INDEX imagery_epochs_geom ON imagery_epochs USING gist (geom);
CREATE INDEX imagery_epochs_site ON imagery_epochs (site_id, acquired);

-- Change patches: one polygon each, its class, area (m², in its own metric zone), confidence,
-- the zone it lies in (the first by strictness when zones overlap), the rules it breaks, and the
-- review an inspector gives it.
CREATE TABLE change_patches (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      text REFERENCES heritage_sites (id) ON DELETE CASCADE,
    zone_id      text REFERENCES protection_zones (id) ON DELETE SET NULL,
    before_epoch bigint REFERENCES imagery_epochs (id) ON DELETE CASCADE,
    after_epoch  bigint REFERENCES imagery_epochs (id) ON DELETE CASCADE,
    before_date  date NOT NULL,
    after_date   date NOT NULL,
    class        text NOT NULL CHECK (class IN ('new_construction', 'demolition', 'alteration', 'vegetation_loss',
                                                'vegetation_gain', 'water_change', 'other')),
    area_m2      double precision NOT NULL CHECK (area_m2 >= 0),
    confidence   real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    violations   text[] NOT NULL DEFAULT '{}',
    review       text NOT NULL DEFAULT '待核查' CHECK (review IN ('待核查', '属实', '不属实')),
    reviewed_by  text,
    reviewed_at  timestamptz,
    review_note  text,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    run          text NOT NULL,
    attrs        jsonb NOT NULL DEFAULT '{}',
    geom         geometry(MultiPolygon, 4490) NOT NULL,
    CHECK (before_date < after_date)
);
CREATE INDEX change_patches_geom ON change_patches USING gist (geom);
CREATE INDEX change_patches_site ON change_patches (site_id, after_date);
CREATE INDEX change_patches_run ON change_patches (run);

-- Change tracking (layer_state) and area scoping (row-level security, as 0013 does for the
-- other spatial tables); the API's role reads them all and sets only a patch's review.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['heritage_sites', 'protection_zones', 'historic_streets', 'imagery_epochs',
                             'change_patches'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION urbangis_touch_layer()', t || '_touch', t);
        INSERT INTO layer_state_slots (layer) VALUES (t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY in_area ON %I TO urbangis_api '
                       'USING (_ST_Intersects(geom, (SELECT urbangis_scope_area()))) '
                       'WITH CHECK (_ST_Intersects(geom, (SELECT urbangis_scope_area())))', t);
        EXECUTE format('GRANT SELECT ON %I TO urbangis_api', t);
    END LOOP;
END $$;
GRANT UPDATE (review, reviewed_by, reviewed_at, review_note) ON change_patches TO urbangis_api;
