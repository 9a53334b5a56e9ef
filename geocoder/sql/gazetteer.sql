-- The geocoder's one bulk read of the gazetteer: one statement per layer, read in this order.
-- Areal features are answered at their point on surface (GEOS interior point, as shapely's
-- representative_point), always inside. It is computed in EPSG:4538, where the project does its
-- metric work: the interior point depends on the projection (it lies on the horizontal bisector
-- of the envelope), and a large polygon's moves by tens of metres between 4490 and 4538.
-- Lines and polygons travel as WKB for shapely; points as plain coordinates.

-- name: origin
SELECT ST_X(c), ST_Y(c) FROM (
    SELECT ST_Centroid(coalesce(
        (SELECT ST_Extent(geom)::geometry FROM admin_areas WHERE level IN ('district', 'street', 'community')),
        (SELECT ST_Extent(geom)::geometry FROM roads),
        (SELECT ST_Extent(geom)::geometry FROM house_numbers))) AS c) s;

-- name: admin_areas
SELECT code, name, level, parent_code, aliases,
       ST_X(p), ST_Y(p), CASE WHEN level IN ('district', 'street', 'community') THEN ST_AsBinary(geom) END
FROM (SELECT *, CASE WHEN geom IS NOT NULL THEN ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM admin_areas) a
ORDER BY code;

-- name: roads
SELECT id, name, aliases, historic_names, kind, district_code,
       left_from, left_to, right_from, right_to, left_parity, right_parity, ST_AsBinary(geom)
FROM roads ORDER BY id;

-- name: place_names
SELECT id, name, aliases, historic_names, kind, district_code, ST_X(p), ST_Y(p),
       CASE WHEN GeometryType(geom) <> 'POINT' THEN ST_AsBinary(geom) END
FROM (SELECT *, CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM place_names) t
ORDER BY id;

-- name: courtyards
SELECT id, name, kind, street_code, community_code, aliases, ST_X(p), ST_Y(p)
FROM (SELECT *, CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM courtyards) t
ORDER BY id;

-- name: organisations
SELECT id, name, aliases, kind, road_id, house_number, ST_X(p), ST_Y(p)
FROM (SELECT *, CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM organisations) t
ORDER BY id;

-- name: storefronts
SELECT id, name, road_id, house_number, category, ST_X(geom), ST_Y(geom) FROM storefronts ORDER BY id;

-- name: house_numbers
SELECT id, parent_kind, parent_id, number, ST_X(geom), ST_Y(geom) FROM house_numbers;

-- name: buildings
SELECT id, parent_kind, parent_id, number, ST_X(p), ST_Y(p)
FROM (SELECT id, parent_kind, parent_id, number,
             CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM buildings) t;

-- name: unit_grids
SELECT code, community_code, ST_X(p), ST_Y(p), ST_AsBinary(geom)
FROM (SELECT *, CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM unit_grids) t
ORDER BY code;

-- name: responsibility_grids
SELECT code, name, district_code, ST_AsBinary(geom) FROM responsibility_grids ORDER BY code;

-- name: components
SELECT code, name, ST_X(p), ST_Y(p)
FROM (SELECT code, name,
             CASE WHEN GeometryType(geom) = 'POINT' THEN geom ELSE ST_Transform(ST_PointOnSurface(ST_Transform(geom, 4538)), 4490) END AS p FROM components) t;
