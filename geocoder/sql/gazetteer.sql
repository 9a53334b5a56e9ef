-- The geocoder's one bulk read of the gazetteer: one statement per layer, read in this order;
-- the index reads every row by its column names.
-- Areal features are answered at their point on surface (GEOS interior point, as shapely's
-- representative_point), always inside. It is computed in the CGCS2000 Gauss-Kruger zone of the
-- feature's own longitude (urbangis_inner_point, layers/migrations/0007_metric_zones.sql), where
-- the project does its metric work: the interior point depends on the projection (it lies on the
-- horizontal bisector of the envelope), and a large polygon's moves by tens of metres between
-- 4490 and a metric CRS.
-- Lines and polygons travel as WKB for shapely; points as plain coordinates.

-- name: regions
-- Each city's extent (its districts, streets and communities, by the first 4 digits of their
-- codes): the index measures each city in a plane of its own (geocoder/plane.py).
SELECT left(code, 4) AS region, ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax
FROM (SELECT code, ST_Extent(geom) OVER (PARTITION BY left(code, 4)) AS e,
             row_number() OVER (PARTITION BY left(code, 4) ORDER BY code) AS n
      FROM admin_areas WHERE level IN ('district', 'street', 'community') AND geom IS NOT NULL) a
WHERE n = 1
ORDER BY region;

-- name: origin
SELECT ST_X(c) AS lon, ST_Y(c) AS lat FROM (
    SELECT ST_Centroid(coalesce(
        (SELECT ST_Extent(geom)::geometry FROM roads),
        (SELECT ST_Extent(geom)::geometry FROM house_numbers))) AS c) s;

-- name: admin_areas
SELECT code, name, level, parent_code, aliases, ST_X(p) AS lon, ST_Y(p) AS lat,
       CASE WHEN level IN ('district', 'street', 'community') THEN ST_AsBinary(geom) END AS wkb
FROM (SELECT *, urbangis_inner_point(geom) AS p FROM admin_areas) a
ORDER BY code;

-- name: roads
SELECT id, name, aliases, historic_names, kind, district_code,
       left_from, left_to, right_from, right_to, left_parity, right_parity, ST_AsBinary(geom) AS wkb
FROM roads ORDER BY id;

-- name: place_names
SELECT id, name, aliases, historic_names, kind, district_code, ST_X(p) AS lon, ST_Y(p) AS lat,
       CASE WHEN GeometryType(geom) <> 'POINT' THEN ST_AsBinary(geom) END AS wkb
FROM (SELECT *, urbangis_inner_point(geom) AS p FROM place_names) t
ORDER BY id;

-- name: courtyards
SELECT id, name, kind, street_code, community_code, aliases, ST_X(p) AS lon, ST_Y(p) AS lat
FROM (SELECT *, urbangis_inner_point(geom) AS p FROM courtyards) t
ORDER BY id;

-- name: organisations
SELECT id, name, aliases, kind, road_id, house_number, ST_X(p) AS lon, ST_Y(p) AS lat
FROM (SELECT *, urbangis_inner_point(geom) AS p FROM organisations) t
ORDER BY id;

-- name: storefronts
SELECT id, name, road_id, house_number, category, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM storefronts ORDER BY id;

-- name: house_numbers
SELECT id, parent_kind, parent_id, number, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM house_numbers;

-- name: buildings
SELECT id, parent_kind, parent_id, number, ST_X(p) AS lon, ST_Y(p) AS lat
FROM (SELECT id, parent_kind, parent_id, number, urbangis_inner_point(geom) AS p FROM buildings) t;

-- name: unit_grids
SELECT code, community_code, ST_X(p) AS lon, ST_Y(p) AS lat, ST_AsBinary(geom) AS wkb
FROM (SELECT *, urbangis_inner_point(geom) AS p FROM unit_grids) t
ORDER BY code;

-- name: responsibility_grids
SELECT code, name, district_code, ST_AsBinary(geom) AS wkb FROM responsibility_grids ORDER BY code;

-- name: components
SELECT code, name, ST_X(p) AS lon, ST_Y(p) AS lat
FROM (SELECT code, name, urbangis_inner_point(geom) AS p FROM components) t;
