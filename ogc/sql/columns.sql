-- Columns of one published table (or view): name, SQL type, type category, array element
-- category, and for geometry columns the type and SRID from the column's typmod.
SELECT a.attname                                   AS name,
       format_type(a.atttypid, a.atttypmod)        AS sql_type,
       t.typname                                   AS typname,
       t.typcategory                               AS category,
       et.typname                                  AS elem_typname,
       et.typcategory                              AS elem_category,
       CASE WHEN t.typname = 'geometry' THEN postgis_typmod_type(a.atttypmod) END AS geom_type,
       CASE WHEN t.typname = 'geometry' THEN postgis_typmod_srid(a.atttypmod) END AS geom_srid,
       NOT a.attnotnull                            AS nullable
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = to_regclass(%(table)s)
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attnum
