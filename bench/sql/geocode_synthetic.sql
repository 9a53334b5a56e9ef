-- A synthetic grid city for the geocoder speed bench when the sample city at scale is not at
-- hand: 20 x 50 west-east roads of ~4 km, each numbered 1..1000 (odd north, even south, 10 m
-- off the centre line), one district, 20 street offices, 200 communities, 10,000 unit grids,
-- 200 responsibility grids, buildings under every 10th number, components. Parameter: :per_road
-- numbers on each road (1000 gives 1,000,000 house numbers).

INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES
  ('650000', '新疆维吾尔自治区', 'province', NULL, NULL),
  ('650100', '乌鲁木齐市', 'city', '650000', NULL),
  ('650102', '天山区', 'district', '650100', ST_Multi(ST_MakeEnvelope(87.3, 43.598, 88.3, 43.798, 4490)));

INSERT INTO admin_areas (code, name, level, parent_code, geom)
SELECT '650102' || lpad((c + 1)::text, 3, '0'), '第' || (c + 1) || '街道', 'street', '650102',
       ST_Multi(ST_MakeEnvelope(87.3 + c * 0.05, 43.598, 87.35 + c * 0.05, 43.798, 4490))
FROM generate_series(0, 19) c;

INSERT INTO admin_areas (code, name, level, parent_code, geom)
SELECT '650102' || lpad((c + 1)::text, 3, '0') || lpad((b + 1)::text, 3, '0'),
       '街' || (c + 1) || '第' || (b + 1) || '社区居委会', 'community', '650102' || lpad((c + 1)::text, 3, '0'),
       ST_Multi(ST_MakeEnvelope(87.3 + c * 0.05, 43.598 + b * 0.02, 87.35 + c * 0.05, 43.618 + b * 0.02, 4490))
FROM generate_series(0, 19) c, generate_series(0, 9) b;

INSERT INTO unit_grids (code, community_code, geom)
SELECT a.code || lpad((j * 5 + i + 1)::text, 3, '0'), a.code,
       ST_Multi(ST_MakeEnvelope(ST_XMin(a.geom) + i * 0.01, ST_YMax(a.geom) - (j + 1) * 0.002,
                                ST_XMin(a.geom) + (i + 1) * 0.01, ST_YMax(a.geom) - j * 0.002, 4490))
FROM admin_areas a, generate_series(0, 4) i, generate_series(0, 9) j
WHERE a.level = 'community';

INSERT INTO responsibility_grids (code, name, district_code, geom)
SELECT 'RG' || code, name || '责任网格', '650102', geom FROM admin_areas WHERE level = 'community';

-- road names: 50 stems x 20 directions, e.g. 和平东一路
CREATE TEMP TABLE stems AS
SELECT row_number() OVER () - 1 AS k, a || b AS stem
FROM unnest(ARRAY['和','团','胜','友','幸','建','民','新','光','红']) a,
     unnest(ARRAY['平','结','利','好','福']) b;
CREATE TEMP TABLE dirs AS
SELECT row_number() OVER () - 1 AS k, a || b AS dir
FROM unnest(ARRAY['东','西','南','北']) a, unnest(ARRAY['一','二','三','四','五']) b;

INSERT INTO roads (id, name, kind, district_code, left_from, left_to, right_from, right_to, left_parity, right_parity, geom)
SELECT 'R' || (c * 50 + r), s.stem || d.dir || '路', 'main', '650102', 1, :per_road - 1, 2, :per_road, 'odd', 'even',
       ST_Multi(ST_MakeLine(ST_MakePoint(87.3 + c * 0.05, 43.6 + r * 0.004), ST_MakePoint(87.35 + c * 0.05, 43.6 + r * 0.004)))::geometry(MultiLineString, 4490)
FROM generate_series(0, 19) c, generate_series(0, 49) r
JOIN stems s ON s.k = r JOIN dirs d ON true WHERE d.k = c;

INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom)
SELECT 'H' || (c * 50 + r) || '-' || n, 'road', 'R' || (c * 50 + r), n::text,
       ST_SetSRID(ST_MakePoint(87.3 + c * 0.05 + 0.05 * (n - 0.5) / :per_road,
                               43.6 + r * 0.004 + CASE WHEN n % 2 = 1 THEN 0.00009 ELSE -0.00009 END), 4490)
FROM generate_series(0, 19) c, generate_series(0, 49) r, generate_series(1, :per_road) n;

INSERT INTO buildings (id, parent_kind, parent_id, number, geom)
SELECT 'B' || h.id, 'house_number', h.id, '1号楼',
       ST_Translate(h.geom, 0, CASE WHEN (substring(h.id FROM '-([0-9]+)$'))::int % 2 = 1 THEN 0.0002 ELSE -0.0002 END)
FROM house_numbers h WHERE (substring(h.id FROM '-([0-9]+)$'))::int % 10 = 0;

INSERT INTO components (code, name, status, geom)
SELECT '650102' || lpad((1 + k % 6)::text, 2, '0') || '01' || lpad(k::text, 6, '0'), '井盖', '完好',
       ST_SetSRID(ST_MakePoint(87.3 + (k % 1000) * 0.001, 43.6 + (k / 1000) * 0.0019), 4490)
FROM generate_series(1, 100000) k;
