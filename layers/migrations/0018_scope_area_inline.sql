-- The area policies read the caller's outline with the subquery itself instead of through
-- urbangis_scope_area(). A SQL function whose body has a FROM is not inlined: PostgreSQL parsed
-- and planned its query again in every statement under a policy (a scoped items page executed in
-- 0.5-1.0 ms against 0.2-0.35 ms unscoped), while a subquery written in the policy is planned with
-- the statement and kept in its prepared plan (docs/performance.md, issue 21). Same rows, same
-- check on writes; the function stays for the server's own reads of the outline (access/areas.py,
-- layers/scope.py).
DO $$
DECLARE
    p record;
    area constant text := '(SELECT a.geom FROM admin_areas a WHERE a.code = current_setting(''urbangis.area'', true))';
BEGIN
    FOR p IN SELECT schemaname, tablename, policyname FROM pg_policies
             WHERE schemaname = 'public' AND policyname = 'in_area' AND qual LIKE '%urbangis_scope_area()%' LOOP
        EXECUTE format('ALTER POLICY %I ON %I.%I USING (_ST_Intersects(geom, %s)) WITH CHECK (_ST_Intersects(geom, %s))',
                       p.policyname, p.schemaname, p.tablename, area, area);
    END LOOP;
END $$;
