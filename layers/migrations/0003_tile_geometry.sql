-- 0003: geometry kept ready for Web Mercator vector tiles (tiles/mvt.py), in generated columns so
-- that no loader, UPDATE or other program can leave it out of step with `geom`.
--
-- * `geom_3857`, an EPSG:3857 copy, on the polygon and line layers: a tile clips it with no
--   ST_Transform per row. It has no index of its own: tiles keep finding their rows on the
--   storage column's GiST index (as fast, measured, and a tile over its feature limit keeps the
--   same features), so a load builds no second index. Point layers (cases, house numbers, ...)
--   get nothing: one point is cheap to transform, and their bulk loads stay as fast as they were.
-- * `tile_z10` .. `tile_z13` on unit_grids, the densest polygon layer (a z10-z11 tile holds up to
--   20,000 of them): each grid as ST_AsMVTGeom makes it for a tile of that zoom, simplified by
--   the registry's default 1 pixel, in tile units of the whole zoom level (x right, y down), i.e.
--   snapped to the MVT grid and validated once, at load time. A grid lying wholly inside a tile
--   only needs translating by the tile's offset, which gives the very bytes ST_AsMVTGeom would;
--   grids crossing the tile's edge are still clipped per tile. Measured: docs/performance.md.
--
-- `tile_geometry` says what each column holds; the tile code uses a zoom column only while the
-- registry asks for the same simplification at that zoom, and falls back to clipping otherwise.
CREATE TABLE tile_geometry (
    table_name    text NOT NULL,
    column_name   text NOT NULL,
    source_column text NOT NULL DEFAULT 'geom',
    zoom          integer,            -- NULL: the source geometry in EPSG:3857
    tolerance     double precision,   -- ST_Simplify tolerance (EPSG:3857 units) before ST_AsMVTGeom
    extent        integer,            -- tile units per tile side
    PRIMARY KEY (table_name, column_name),
    CHECK ((zoom IS NULL) = (extent IS NULL))
);

ALTER TABLE admin_areas ADD COLUMN geom_3857 geometry(MultiPolygon, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
ALTER TABLE responsibility_grids ADD COLUMN geom_3857 geometry(MultiPolygon, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
ALTER TABLE roads ADD COLUMN geom_3857 geometry(MultiLineString, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;

-- One ALTER TABLE: the table is rewritten once. The tolerance of zoom z is 1 pixel of a 256-pixel
-- tile, 2 x 20037508.342789244 / (256 x 2^z) metres; 4096 << z is the zoom's width in tile units.
ALTER TABLE unit_grids
    ADD COLUMN geom_3857 geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    ADD COLUMN tile_z10 geometry GENERATED ALWAYS AS (ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857),
        40075016.685578488 / (256 << 10), true), ST_TileEnvelope(0, 0, 0)::box2d, 4096 << 10, 0, false)) STORED,
    ADD COLUMN tile_z11 geometry GENERATED ALWAYS AS (ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857),
        40075016.685578488 / (256 << 11), true), ST_TileEnvelope(0, 0, 0)::box2d, 4096 << 11, 0, false)) STORED,
    ADD COLUMN tile_z12 geometry GENERATED ALWAYS AS (ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857),
        40075016.685578488 / (256 << 12), true), ST_TileEnvelope(0, 0, 0)::box2d, 4096 << 12, 0, false)) STORED,
    ADD COLUMN tile_z13 geometry GENERATED ALWAYS AS (ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857),
        40075016.685578488 / (256 << 13), true), ST_TileEnvelope(0, 0, 0)::box2d, 4096 << 13, 0, false)) STORED;

INSERT INTO tile_geometry (table_name, column_name) VALUES
    ('admin_areas', 'geom_3857'), ('unit_grids', 'geom_3857'),
    ('responsibility_grids', 'geom_3857'), ('roads', 'geom_3857');
INSERT INTO tile_geometry (table_name, column_name, zoom, tolerance, extent)
SELECT 'unit_grids', 'tile_z' || z, z, 40075016.685578488 / (256 << z), 4096 FROM generate_series(10, 13) z;
