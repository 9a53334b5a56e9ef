-- 0001: the gazetteer layers of ../docs/data-contract.md, cases, and layer change tracking.
-- Geometry is stored in EPSG:4490 (CGCS2000). Codes are text and their formats are checked here,
-- so that no path into the database (loader, psql, another program) can store a malformed code.

CREATE EXTENSION IF NOT EXISTS postgis;

-- Every change to a published table bumps its version: the geocoder index, the tile cache and
-- the OGC collections compare versions to know when to refresh, without polling the tables.
CREATE TABLE layer_state (
    layer      text PRIMARY KEY,
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION urbangis_touch_layer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layer_state AS s (layer) VALUES (TG_TABLE_NAME)
    ON CONFLICT (layer) DO UPDATE SET version = s.version + 1, updated_at = now();
    RETURN NULL;
END $$;

-- Administrative divisions (面-点 area-point model). Province and city rows are optional; a
-- district's parent may be absent, a street's and a community's must exist (checked at commit).
CREATE TABLE admin_areas (
    code        text PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'district', 'street', 'community')),
    parent_code text,
    aliases     text[] NOT NULL DEFAULT '{}',
    attrs       jsonb  NOT NULL DEFAULT '{}',
    geom        geometry(MultiPolygon, 4490),
    CONSTRAINT admin_code_format CHECK (
        (level = 'province'  AND code ~ '^[0-9]{2}0000$') OR
        (level = 'city'      AND code ~ '^[0-9]{4}00$') OR
        (level = 'district'  AND code ~ '^[0-9]{6}$') OR
        (level = 'street'    AND code ~ '^[0-9]{9}$') OR
        (level = 'community' AND code ~ '^[0-9]{12}$')),
    CONSTRAINT admin_parent_prefix CHECK (
        level NOT IN ('street', 'community') OR
        (parent_code IS NOT NULL AND left(code, length(parent_code)) = parent_code))
);
CREATE INDEX admin_areas_geom ON admin_areas USING gist (geom);
CREATE INDEX admin_areas_parent ON admin_areas (parent_code);
CREATE INDEX admin_areas_level ON admin_areas (level);

CREATE FUNCTION urbangis_check_admin_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.level IN ('street', 'community')
       AND NOT EXISTS (SELECT 1 FROM admin_areas WHERE code = NEW.parent_code) THEN
        RAISE EXCEPTION 'admin area % (%): parent_code % does not exist', NEW.code, NEW.name, NEW.parent_code
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER admin_areas_parent_exists AFTER INSERT OR UPDATE ON admin_areas
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION urbangis_check_admin_parent();

-- Unit grids (单元网格, GB/T 30428.1): community code (12) + sequence (3); legacy CJ/T 213 form
-- community code + 2 digits accepted.
CREATE TABLE unit_grids (
    code           text PRIMARY KEY CHECK (code ~ '^[0-9]{14}([0-9])?$'),
    community_code text NOT NULL REFERENCES admin_areas (code) DEFERRABLE INITIALLY DEFERRED,
    attrs          jsonb NOT NULL DEFAULT '{}',
    geom           geometry(MultiPolygon, 4490) NOT NULL,
    CONSTRAINT unit_grid_in_community CHECK (left(code, 12) = community_code)
);
CREATE INDEX unit_grids_geom ON unit_grids USING gist (geom);
CREATE INDEX unit_grids_community ON unit_grids (community_code);

-- Responsibility grids (责任网格) bind supervisors to areas.
CREATE TABLE responsibility_grids (
    code          text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z_-]{1,32}$'),
    name          text NOT NULL CHECK (length(btrim(name)) > 0),
    district_code text CHECK (district_code ~ '^[0-9]{6}$'),
    attrs         jsonb NOT NULL DEFAULT '{}',
    geom          geometry(MultiPolygon, 4490) NOT NULL
);
CREATE INDEX responsibility_grids_geom ON responsibility_grids USING gist (geom);

CREATE TABLE supervisors (
    id    text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name  text NOT NULL CHECK (length(btrim(name)) > 0),
    attrs jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE supervisor_grids (
    supervisor_id text NOT NULL REFERENCES supervisors (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    grid_code     text NOT NULL REFERENCES responsibility_grids (code) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (supervisor_id, grid_code)
);
CREATE INDEX supervisor_grids_grid ON supervisor_grids (grid_code);

-- Roads (线-点 line-point model): address ranges per side with their parity.
CREATE TABLE roads (
    id             text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name           text NOT NULL CHECK (length(btrim(name)) > 0),
    aliases        text[] NOT NULL DEFAULT '{}',
    historic_names text[] NOT NULL DEFAULT '{}',
    kind           text CHECK (kind IN ('main', 'secondary', 'branch', 'lane', 'block')),
    district_code  text CHECK (district_code ~ '^[0-9]{6}$'),
    left_from      integer CHECK (left_from >= 0),
    left_to        integer CHECK (left_to >= 0),
    right_from     integer CHECK (right_from >= 0),
    right_to       integer CHECK (right_to >= 0),
    left_parity    text CHECK (left_parity IN ('odd', 'even', 'all')),
    right_parity   text CHECK (right_parity IN ('odd', 'even', 'all')),
    attrs          jsonb NOT NULL DEFAULT '{}',
    geom           geometry(MultiLineString, 4490) NOT NULL
);
CREATE INDEX roads_geom ON roads USING gist (geom);
CREATE INDEX roads_name ON roads (name);

CREATE TABLE place_names (
    id             text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name           text NOT NULL CHECK (length(btrim(name)) > 0),
    aliases        text[] NOT NULL DEFAULT '{}',
    historic_names text[] NOT NULL DEFAULT '{}',
    kind           text,
    district_code  text CHECK (district_code ~ '^[0-9]{6}$'),
    attrs          jsonb NOT NULL DEFAULT '{}',
    geom           geometry(Geometry, 4490) NOT NULL
        CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON'))
);
CREATE INDEX place_names_geom ON place_names USING gist (geom);
CREATE INDEX place_names_name ON place_names (name);

CREATE TABLE courtyards (
    id             text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name           text NOT NULL CHECK (length(btrim(name)) > 0),
    kind           text CHECK (kind IN ('courtyard', 'compound')),
    street_code    text CHECK (street_code ~ '^[0-9]{9}$'),
    community_code text CHECK (community_code ~ '^[0-9]{12}$'),
    aliases        text[] NOT NULL DEFAULT '{}',
    attrs          jsonb NOT NULL DEFAULT '{}',
    geom           geometry(Geometry, 4490) NOT NULL
        CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON'))
);
CREATE INDEX courtyards_geom ON courtyards USING gist (geom);
CREATE INDEX courtyards_name ON courtyards (name);

-- House numbers (门牌号) hang under a road, a place or a courtyard. The parent is polymorphic, so
-- it is checked by the loader, not by a foreign key.
CREATE TABLE house_numbers (
    id          text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    parent_kind text NOT NULL CHECK (parent_kind IN ('road', 'place', 'courtyard')),
    parent_id   text NOT NULL,
    number      text NOT NULL CHECK (length(btrim(number)) > 0),
    -- leading integer of the number as written ("12附3" -> 12), used for interpolation
    num         integer GENERATED ALWAYS AS ((substring(number FROM '^[0-9]{1,9}'))::integer) STORED,
    attrs       jsonb NOT NULL DEFAULT '{}',
    geom        geometry(Point, 4490) NOT NULL
);
CREATE INDEX house_numbers_geom ON house_numbers USING gist (geom);
CREATE INDEX house_numbers_parent ON house_numbers (parent_kind, parent_id);

CREATE TABLE buildings (
    id          text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    parent_kind text NOT NULL CHECK (parent_kind IN ('house_number', 'road', 'place', 'organisation', 'courtyard')),
    parent_id   text NOT NULL,
    number      text NOT NULL CHECK (length(btrim(number)) > 0),
    attrs       jsonb NOT NULL DEFAULT '{}',
    geom        geometry(Geometry, 4490) NOT NULL
        CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON'))
);
CREATE INDEX buildings_geom ON buildings USING gist (geom);
CREATE INDEX buildings_parent ON buildings (parent_kind, parent_id);

CREATE TABLE organisations (
    id           text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name         text NOT NULL CHECK (length(btrim(name)) > 0),
    aliases      text[] NOT NULL DEFAULT '{}',
    kind         text,
    road_id      text,
    house_number text,
    attrs        jsonb NOT NULL DEFAULT '{}',
    geom         geometry(Geometry, 4490) NOT NULL
        CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON'))
);
CREATE INDEX organisations_geom ON organisations USING gist (geom);
CREATE INDEX organisations_name ON organisations (name);

CREATE TABLE storefronts (
    id           text PRIMARY KEY CHECK (length(btrim(id)) > 0),
    name         text NOT NULL CHECK (length(btrim(name)) > 0),
    road_id      text NOT NULL REFERENCES roads (id) DEFERRABLE INITIALLY DEFERRED,
    house_number text,
    category     text,
    attrs        jsonb NOT NULL DEFAULT '{}',
    geom         geometry(Point, 4490) NOT NULL
);
CREATE INDEX storefronts_geom ON storefronts USING gist (geom);
CREATE INDEX storefronts_road ON storefronts (road_id);

-- City components (部件, GB/T 30428.2): district (6) + major (2) + minor (2) + serial (6).
CREATE TABLE components (
    code          text PRIMARY KEY CHECK (code ~ '^[0-9]{6}(0[1-9]|[1-9][0-9])[0-9]{2}[0-9]{6}$'),
    name          text NOT NULL CHECK (length(btrim(name)) > 0),
    status        text,
    owner_dept    text,
    grid_code     text CHECK (grid_code ~ '^[0-9]{14}([0-9])?$'),
    district_code text GENERATED ALWAYS AS (left(code, 6)) STORED,
    major_class   text GENERATED ALWAYS AS (substring(code FROM 7 FOR 2)) STORED,
    minor_class   text GENERATED ALWAYS AS (substring(code FROM 9 FOR 2)) STORED,
    attrs         jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Geometry, 4490) NOT NULL
);
CREATE INDEX components_geom ON components USING gist (geom);
CREATE INDEX components_class ON components (major_class, minor_class);
CREATE INDEX components_grid ON components (grid_code);

-- Cases (案件): a component or an event problem, reported at a point, through its workflow.
CREATE TABLE cases (
    case_no        text PRIMARY KEY CHECK (case_no ~ '^[0-9A-Za-z_-]{1,40}$'),
    kind           text NOT NULL CHECK (kind IN ('component', 'event')),
    major_class    text NOT NULL CHECK (major_class ~ '^(0[1-9]|[1-9][0-9])$'),
    minor_class    text NOT NULL CHECK (minor_class ~ '^[0-9]{2}$'),
    component_code text CHECK (component_code ~ '^[0-9]{16}$'),
    status         text NOT NULL CHECK (status IN ('reported', 'registered', 'dispatched', 'handling',
                                                   'handled', 'verified', 'closed', 'cancelled')),
    source         text,
    description    text,
    address        text,
    supervisor_id  text,
    grid_code      text CHECK (grid_code ~ '^[0-9]{14}([0-9])?$'),
    district_code  text CHECK (district_code ~ '^[0-9]{6}$'),
    reported_at    timestamptz NOT NULL,
    closed_at      timestamptz CHECK (closed_at IS NULL OR closed_at >= reported_at),
    attrs          jsonb NOT NULL DEFAULT '{}',
    geom           geometry(Point, 4490) NOT NULL,
    CONSTRAINT case_component_code CHECK (kind = 'event' OR component_code IS NULL
                                          OR substring(component_code FROM 7 FOR 4) = major_class || minor_class)
);
CREATE INDEX cases_geom ON cases USING gist (geom);
CREATE INDEX cases_reported_at ON cases (reported_at);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_class ON cases (kind, major_class, minor_class);

-- Change tracking on every published table.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_areas', 'unit_grids', 'responsibility_grids', 'supervisors',
                             'supervisor_grids', 'roads', 'place_names', 'courtyards', 'house_numbers',
                             'buildings', 'organisations', 'storefronts', 'components', 'cases']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION urbangis_touch_layer()', t || '_touch', t);
        INSERT INTO layer_state (layer) VALUES (t);
    END LOOP;
END $$;
