"""CQL2 (text and JSON) to parameterised SQL.

Parsing is pygeofilter's: its CQL2-text grammar and transformer, its CQL2-JSON walker. Where
pygeofilter 0.4 departs from the CQL2 standard we correct it here rather than fork it:
- T_INTERSECTS is parsed as T_OVERLAPS by pygeofilter; CQL2 defines it as NOT T_DISJOINT, and
  T_DISJOINT is missing from its text grammar and JSON operators.
- LIKE is reported with ``.`` as the single-character wildcard; CQL2's is ``_`` (as SQL's).
- CQL2-JSON ``between`` has three arguments (pygeofilter expects the old ``[a, [lo, hi]]``) and
  ``{"bbox": [...]}`` is a minx,miny,maxx,maxy box (pygeofilter reads it as x1,x2,y1,y2).
- CQL2-text gets one-letter property names, the ``BBOX(minx,miny,maxx,maxy)`` literal, ``''`` inside strings, open
  intervals (``INTERVAL('..','2024-01-01')``), array predicates (A_CONTAINS ...) and, as an
  extension, ``S_DWITHIN(a, b, distance[, units])`` with distances in metres.

The AST is then translated by hand into ``psycopg.sql`` with every value a bound parameter: no
library offers a psycopg3 backend (pygeofilter's SQL backend inlines values into the string).
Only queryable properties may be named; anything else is a 400 naming the property.
"""
from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import orjson
from lark import Lark, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.parsers import cql2_text as _text_pkg
from pygeofilter.parsers.cql2_json import parse as _parse_json
from pygeofilter.parsers.cql2_text.parser import CQLTransformer

from . import crs as crsmod
from .collections import Field, Layout
from .errors import InvalidParameter
from .params import coerce_value, naive_zone, parse_datetime
from .sqlparts import Params, to_storage

GEOMETRY_NAMES = ("geometry",)

# Our corrections and additions to pygeofilter's CQL2-text grammar (see the module docstring).
_GRAMMAR_EXTENSION = r"""
%override SINGLE_QUOTED: /'(?:[^']|'')*'/
%override attribute: /[a-zA-Z_][a-zA-Z_:0-9.]*/ | DOUBLE_QUOTED

%override ?spatial_predicate: _binary_spatial_predicate_func "(" expression "," expression ")" \
        -> binary_spatial_predicate
    | "RELATE"i "(" expression "," expression "," SINGLE_QUOTED ")" -> relate_spatial_predicate
    | "S_DWITHIN"i "(" expression "," expression "," full_number ("," SINGLE_QUOTED)? ")" -> dwithin_predicate
    | _array_func "(" expression "," array_arg ")" -> array_predicate

!_array_func: "A_EQUALS"i | "A_CONTAINS"i | "A_CONTAINEDBY"i | "A_OVERLAPS"i

?array_arg: expression
    | "(" expression ("," expression)+ ")" -> array_literal
    | "(" ")" -> array_literal

%extend _binary_temporal_predicate_func: "T_DISJOINT"i

%override ?interval: "INTERVAL"i "(" SINGLE_QUOTED "," SINGLE_QUOTED ")" -> interval_literal

%extend ?literal: "BBOX"i "(" full_number "," full_number "," full_number "," full_number ")" -> bbox_literal
    | "BBOX"i "(" full_number "," full_number "," full_number "," full_number "," full_number "," full_number ")" \
        -> bbox_literal
"""

_ARRAY_OPS = {"a_equals": ast.ArrayEquals, "a_contains": ast.ArrayContains,
              "a_containedby": ast.ArrayContainedBy, "a_overlaps": ast.ArrayOverlaps}


class DWithin(ast.Predicate):
    """S_DWITHIN(a, b, distance metres) (an extension: not in CQL2 1.0)."""

    def __init__(self, lhs, rhs, distance: float, units: str = "meters") -> None:
        self.lhs, self.rhs, self.distance, self.units = lhs, rhs, distance, units

    def get_sub_nodes(self):
        return [self.lhs, self.rhs]

    def get_template(self) -> str:
        return "S_DWITHIN({}, {}, %s)" % self.distance


def _bbox_geometry(nums) -> values.Geometry:
    nums = [float(n) for n in nums]
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4:
        raise ValueError(f"a bbox has 4 or 6 numbers, got {len(nums)}")
    x1, y1, x2, y2 = nums
    ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
    return values.Geometry({"type": "Polygon", "coordinates": [ring]})


def _interval_end(text: str, upper: bool):
    """One end of an INTERVAL literal: ``..`` is open; a date as the end means its whole day."""
    if text in ("..", ""):
        return None
    r = parse_datetime(text, "filter")
    return r.last() if upper else r.lower


@v_args(meta=False, inline=True)
class _Transformer(CQLTransformer):
    def SINGLE_QUOTED(self, token):
        return token[1:-1].replace("''", "'")

    def binary_temporal_predicate(self, lhs, op, rhs):
        if op.lower() == "t_intersects":
            return ast.Not(ast.TimeDisjoint(lhs, rhs))
        if op.lower() == "t_disjoint":
            return ast.TimeDisjoint(lhs, rhs)
        return super().binary_temporal_predicate(lhs, op, rhs)

    def dwithin_predicate(self, lhs, rhs, distance, units="meters"):
        return DWithin(lhs, rhs, float(distance), str(units))

    def array_predicate(self, op, lhs, rhs):
        return _ARRAY_OPS[op.lower()](lhs, rhs)

    def array_literal(self, *items):
        return list(items)

    def interval_literal(self, start, end):
        return values.Interval(_interval_end(start, False), _interval_end(end, True))

    def bbox_literal(self, *nums):
        return _bbox_geometry(nums)


@lru_cache(maxsize=1)
def _text_parser() -> Lark:
    folder = os.path.dirname(_text_pkg.__file__)
    with open(os.path.join(folder, "grammar.lark"), encoding="utf-8") as fh:
        grammar = fh.read() + _GRAMMAR_EXTENSION
    return Lark(
        grammar,
        parser="lalr",
        maybe_placeholders=False,
        transformer=_Transformer(),
        import_paths=[os.path.dirname(folder)],
        source_path=os.path.join(folder, "grammar.lark"),
    )


# -- CQL2-JSON: bring the standard's forms to what pygeofilter reads ----------------------------

_JSON_OPS = {"and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "like", "between", "in", "isNull", "casei",
             "s_intersects", "s_equals", "s_disjoint", "s_touches", "s_within", "s_overlaps", "s_crosses",
             "s_contains", "s_dwithin", "t_before", "t_after", "t_meets", "t_metby", "t_overlaps",
             "t_overlappedby", "t_starts", "t_startedby", "t_during", "t_contains", "t_finishes",
             "t_finishedby", "t_equals", "t_disjoint", "t_intersects", "a_equals", "a_contains",
             "a_containedby", "a_overlaps", "+", "-", "*", "/"}
_JSON_RENAMES = {"t_starts": "t_begins", "t_startedby": "t_begunby", "t_finishes": "t_ends",
                 "t_finishedby": "t_endedby"}


def _prepare_json(node):
    if isinstance(node, list):
        return [_prepare_json(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and "op" not in node:
        return _bbox_geometry(node["bbox"])
    if "op" in node:
        op = node["op"]
        if op not in _JSON_OPS:
            raise ValueError(f"unsupported operator {op!r}")
        args = node.get("args", [])
        if not isinstance(args, list):
            args = [args]
        args = _prepare_json(args)
        if op in ("t_intersects", "t_disjoint"):
            if len(args) != 2:
                raise ValueError(f"{op} takes two arguments")
            disjoint = ast.TimeDisjoint(_parse_json(args[0]), _parse_json(args[1]))
            return ast.Not(disjoint) if op == "t_intersects" else disjoint
        if op == "between" and len(args) == 3:
            args = [args[0], [args[1], args[2]]]
        if op == "s_dwithin":
            if len(args) not in (3, 4):
                raise ValueError("s_dwithin takes a geometry, a geometry, a distance and optional units")
            return DWithin(_parse_json(args[0]), _parse_json(args[1]), float(args[2]),
                           str(args[3]) if len(args) == 4 else "meters")
        return {"op": _JSON_RENAMES.get(op, op), "args": args}
    return node


def parse(text: str, lang: str) -> ast.Node:
    """Parse a CQL2 filter; a syntax error is a 400 that says where."""
    try:
        if lang == "cql2-json":
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InvalidParameter(f"filter: not valid JSON ({exc})", parameter="filter", value=text) from None
            return _parse_json(_prepare_json(doc))
        return _text_parser().parse(text)
    except InvalidParameter:
        raise
    except UnexpectedInput as exc:
        near = text[max(exc.pos_in_stream or 0, 0):][:20] if getattr(exc, "pos_in_stream", None) is not None else ""
        raise InvalidParameter(
            f"filter: CQL2 syntax error at column {exc.column}" + (f" near {near!r}" if near else ""),
            parameter="filter", value=text,
        ) from None
    except VisitError as exc:
        raise InvalidParameter(f"filter: {exc.orig_exc}", parameter="filter", value=text) from None
    except (LarkError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidParameter(f"filter: malformed {lang} ({exc})", parameter="filter", value=text) from None


# -- translation to SQL -------------------------------------------------------------------------

_COMPARISON = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
               ast.GreaterThan: ">", ast.GreaterEqual: ">="}
_SPATIAL = {ast.GeometryIntersects: "ST_Intersects", ast.GeometryDisjoint: "ST_Disjoint",
            ast.GeometryContains: "ST_Contains", ast.GeometryWithin: "ST_Within",
            ast.GeometryTouches: "ST_Touches", ast.GeometryCrosses: "ST_Crosses",
            ast.GeometryOverlaps: "ST_Overlaps", ast.GeometryEquals: "ST_Equals"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}
_ARRAY = {ast.ArrayEquals: "=", ast.ArrayContains: "@>", ast.ArrayContainedBy: "<@", ast.ArrayOverlaps: "&&"}
_UNITS = {"meters": 1.0, "meter": 1.0, "metres": 1.0, "metre": 1.0, "m": 1.0,
          "kilometers": 1000.0, "kilometres": 1000.0, "km": 1000.0}
_NEG_INF = sql.SQL("'-infinity'::timestamptz")
_POS_INF = sql.SQL("'infinity'::timestamptz")


class _Operand:
    """A translated operand: SQL plus what is known of its type."""

    def __init__(self, expr: sql.Composable, kind: str, field: Field | None = None) -> None:
        self.expr, self.kind, self.field = expr, kind, field  # kind: field|literal|geometry|expr|time


class Translator:
    """Translate one parsed filter against one collection's queryables."""

    def __init__(self, layout: Layout, params: Params, filter_crs: crsmod.Crs) -> None:
        self.layout, self.params, self.crs = layout, params, filter_crs

    # entry point
    def condition(self, node) -> sql.Composable:
        """``node`` as a SQL condition."""
        if isinstance(node, ast.And):
            return sql.SQL("({} AND {})").format(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Or):
            return sql.SQL("({} OR {})").format(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Not):
            return sql.SQL("(NOT {})").format(self.condition(node.sub_node))
        if isinstance(node, ast.Include):
            return sql.SQL("FALSE" if node.not_ else "TRUE")
        if isinstance(node, bool):
            return sql.SQL("TRUE" if node else "FALSE")
        return self._predicate(node)

    def _predicate(self, node) -> sql.Composable:
        """``node``, no AND, OR, NOT nor constant, as a SQL condition."""
        if type(node) in _COMPARISON:
            return self._comparison(node.lhs, _COMPARISON[type(node)], node.rhs)
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.Between):
            return self._between(node)
        if isinstance(node, ast.In):
            return self._in(node)
        if isinstance(node, ast.IsNull):
            return sql.SQL("({} IS {}NULL)").format(self.operand(node.lhs).expr, sql.SQL("NOT " if node.not_ else ""))
        if type(node) in _SPATIAL:
            a, b = self._geometry(node.lhs), self._geometry(node.rhs)
            test = sql.SQL("{}({}, {})").format(sql.SQL(_SPATIAL[type(node)]), a, b)
            if type(node) is ast.GeometryDisjoint:
                return test
            # every other predicate implies that the boxes meet: `&&` said first is what the
            # spatial index is used with under a row-level security policy (migration 0013)
            return sql.SQL("({} && {} AND {})").format(a, b, test)
        if isinstance(node, ast.Relate):
            a, b = self._geometry(node.lhs), self._geometry(node.rhs)
            return sql.SQL("ST_Relate({}, {}, {})").format(a, b, self.params.add(str(node.pattern)))
        if isinstance(node, DWithin):
            return self._dwithin(node)
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        if type(node) in _ARRAY:
            return self._array(node)
        if isinstance(node, ast.Attribute):
            return self._boolean_property(node)
        raise InvalidParameter(f"filter: unsupported expression {_describe(node)}", parameter="filter")

    def _between(self, node: ast.Between) -> sql.Composable:
        """``a [NOT] BETWEEN low AND high``, the bounds typed after ``a``."""
        lhs = self.operand(node.lhs)
        low, high = self.operand(node.low, lhs), self.operand(node.high, lhs)
        return sql.SQL("({} {}BETWEEN {} AND {})").format(
            lhs.expr, sql.SQL("NOT " if node.not_ else ""), low.expr, high.expr)

    def _in(self, node: ast.In) -> sql.Composable:
        """``a [NOT] IN (v, ...)``, the values typed after ``a``; the list may not be empty."""
        if not isinstance(node.sub_nodes, list) or not node.sub_nodes:
            raise InvalidParameter("filter: IN takes a non-empty list of values", parameter="filter")
        lhs = self.operand(node.lhs)
        items = sql.SQL(", ").join(self.operand(v, lhs).expr for v in node.sub_nodes)
        return sql.SQL("({} {}IN ({}))").format(lhs.expr, sql.SQL("NOT " if node.not_ else ""), items)

    def _boolean_property(self, node: ast.Attribute) -> sql.Composable:
        """A property standing alone as a condition: only a boolean one may."""
        f = self._field(node.name)
        if f.typname != "bool":
            raise InvalidParameter(f"filter: property {node.name!r} is not boolean and cannot stand alone as a "
                                   "condition", parameter="filter")
        return sql.Identifier(f.name)

    # operands
    def _field(self, name: str) -> Field:
        f = self.layout.fields.get(name)
        if f is None:
            raise InvalidParameter(
                f"filter: unknown property {name!r}; queryables of {self.layout.spec.id!r}: "
                f"{', '.join([*self.layout.fields, *GEOMETRY_NAMES])}",
                parameter="filter", property=name,
            )
        return f

    def _is_geometry_name(self, name: str) -> bool:
        return name in GEOMETRY_NAMES or name == self.layout.spec.geometry_column

    def operand(self, node, other: _Operand | None = None) -> _Operand:
        """``node`` as a SQL operand (literals typed after ``other``)."""
        if isinstance(node, ast.Attribute):
            if self._is_geometry_name(node.name):
                return _Operand(sql.Identifier(self.layout.spec.geometry_column), "geometry")
            f = self._field(node.name)
            return _Operand(sql.Identifier(f.name), "time" if f.is_temporal else "field", f)
        if isinstance(node, ast.Function):
            name = node.name.lower()
            if name in ("lower", "casei") and len(node.arguments) == 1:
                inner = self.operand(node.arguments[0])
                expr = inner.expr if inner.kind != "literal" else sql.SQL("{}::text").format(inner.expr)
                return _Operand(sql.SQL("lower({})").format(expr), "expr")
            raise InvalidParameter(f"filter: unsupported function {node.name!r} (supported: CASEI)", parameter="filter")
        if type(node) in _ARITH:
            a, b = self.operand(node.lhs), self.operand(node.rhs)
            for side in (a, b):
                if side.field is not None and not side.field.is_numeric:
                    raise InvalidParameter(f"filter: arithmetic on non-numeric property {side.field.name!r}",
                                           parameter="filter")
            return _Operand(sql.SQL("({} {} {})").format(a.expr, sql.SQL(_ARITH[type(node)]), b.expr), "expr")
        if isinstance(node, (values.Geometry, values.Envelope)):
            return _Operand(self._literal_geometry(node), "geometry")
        if isinstance(node, values.Interval):
            raise InvalidParameter("filter: an INTERVAL can only be used with a temporal operator (T_...)",
                                   parameter="filter")
        if isinstance(node, ast.Node):
            raise InvalidParameter(f"filter: unsupported expression {_describe(node)}", parameter="filter")
        return _Operand(self._literal(node, other.field if other else None), "literal")

    def _literal(self, value, field: Field | None) -> sql.Composable:
        """A bound literal, converted to the type of the property it is compared with."""
        if isinstance(value, list):
            raise InvalidParameter("filter: a list is only allowed with IN or an array operator", parameter="filter")
        if field is None:
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=naive_zone())
            return self.params.add(value)
        value = coerce_value(value, field, "filter")
        typ = sql.SQL(field.sql_type if not field.is_array else field.sql_type[:-2])
        return sql.SQL("{}::{}").format(self.params.add(value), typ)

    def _literal_geometry(self, node) -> sql.Composable:
        gj = node.geometry if isinstance(node, (values.Geometry, values.Envelope)) else node
        gj = {k: v for k, v in gj.items() if k != "crs"}
        geom = sql.SQL("ST_GeomFromGeoJSON({})").format(self.params.add(orjson.dumps(gj).decode()))
        return to_storage(geom, self.crs, self.layout.storage_srid)

    def _geometry(self, node) -> sql.Composable:
        op = self.operand(node)
        if op.kind != "geometry":
            raise InvalidParameter(f"filter: spatial operators compare geometries; {_describe(node)} is not one",
                                   parameter="filter")
        return op.expr

    # predicates
    def _comparison(self, lhs_node, op: str, rhs_node) -> sql.Composable:
        lhs = self.operand(lhs_node)
        rhs = self.operand(rhs_node, lhs)
        if lhs.kind == "literal" and rhs.field is not None:
            lhs = self.operand(lhs_node, rhs)
        for side in (lhs, rhs):
            if side.kind == "geometry":
                raise InvalidParameter("filter: geometries are compared with spatial operators (S_INTERSECTS ...)",
                                       parameter="filter")
            if side.field is not None and side.field.is_array:
                raise InvalidParameter(
                    f"filter: {side.field.name!r} is an array; compare it with A_CONTAINS, A_OVERLAPS ...",
                    parameter="filter")
        return sql.SQL("({} {} {})").format(lhs.expr, sql.SQL(op), rhs.expr)

    def _like(self, node: ast.Like) -> sql.Composable:
        lhs = self.operand(node.lhs)
        if lhs.kind == "geometry" or (lhs.field is not None and lhs.field.is_array):
            raise InvalidParameter("filter: LIKE applies to text properties", parameter="filter")
        expr = lhs.expr if (lhs.field is None or lhs.field.is_text) else sql.SQL("{}::text").format(lhs.expr)
        pattern = node.pattern
        if isinstance(pattern, ast.Function):
            pat = self.operand(pattern).expr
        elif isinstance(pattern, str):
            # CQL2 patterns use % and _ with backslash escapes, exactly as PostgreSQL's LIKE.
            pat = self.params.add(pattern)
        else:
            raise InvalidParameter("filter: the LIKE pattern must be a string", parameter="filter")
        op = "ILIKE" if node.nocase else "LIKE"
        return sql.SQL("({} {}{} {})").format(expr, sql.SQL("NOT " if node.not_ else ""), sql.SQL(op), pat)

    def _dwithin(self, node: DWithin) -> sql.Composable:
        a, b = self._geometry(node.lhs), self._geometry(node.rhs)
        factor = _UNITS.get(str(node.units).lower())
        if factor is None:
            raise InvalidParameter(f"filter: S_DWITHIN units {node.units!r} not supported (use meters or km)",
                                   parameter="filter")
        metres = float(node.distance) * factor
        if metres < 0:
            raise InvalidParameter("filter: S_DWITHIN distance must not be negative", parameter="filter")
        d = self.params.add(metres)
        exact = sql.SQL("ST_DWithin({}::geography, {}::geography, {})").format(a, b, d)
        if self.layout.storage_srid not in (4326, crsmod.STORAGE_SRID):
            return exact
        # Index-assisted prefilter in degrees: a degree of longitude is at least 111320*cos(lat) m.
        bound = sql.SQL(
            "({} / (111320 * cos(radians(least(85, greatest(abs(ST_YMin({})), abs(ST_YMax({}))))))))"
        ).format(d, b, b)
        return sql.SQL("({} && ST_Expand({}, {}) AND {})").format(a, b, bound, exact)

    def _time_bounds(self, node) -> tuple[sql.Composable, sql.Composable]:
        """(start, end), both inclusive, of a temporal operand."""
        if isinstance(node, ast.Attribute):
            op = self.operand(node)
            if op.kind != "time":
                raise InvalidParameter(
                    f"filter: temporal operators need a date or time property; {node.name!r} is not one",
                    parameter="filter",
                )
            return op.expr, op.expr
        if isinstance(node, values.Interval):
            start = self.params.add(_as_datetime(node.start, False)) if node.start is not None else _NEG_INF
            end = self.params.add(_as_datetime(node.end, True)) if node.end is not None else _POS_INF
            return sql.SQL("{}::timestamptz").format(start) if node.start is not None else start, \
                sql.SQL("{}::timestamptz").format(end) if node.end is not None else end
        if isinstance(node, (datetime, date)):
            lo = sql.SQL("{}::timestamptz").format(self.params.add(_as_datetime(node, False)))
            hi = sql.SQL("{}::timestamptz").format(self.params.add(_as_datetime(node, True)))
            return lo, hi
        if isinstance(node, str):
            r = parse_datetime(node, "filter")
            return (sql.SQL("{}::timestamptz").format(self.params.add(r.lower)),
                    sql.SQL("{}::timestamptz").format(self.params.add(r.last())))
        raise InvalidParameter(f"filter: {_describe(node)} is not a time, a date, an interval or a time property",
                               parameter="filter")

    def _temporal(self, node) -> sql.Composable:
        (as_, ae), (bs, be) = self._time_bounds(node.lhs), self._time_bounds(node.rhs)
        t = type(node)
        f = sql.SQL
        rules = {
            ast.TimeAfter: f("{as_} > {be}"),
            ast.TimeBefore: f("{ae} < {bs}"),
            ast.TimeContains: f("({as_} < {bs} AND {ae} > {be})"),
            ast.TimeDisjoint: f("({as_} > {be} OR {ae} < {bs})"),
            ast.TimeDuring: f("({as_} > {bs} AND {ae} < {be})"),
            ast.TimeEquals: f("({as_} = {bs} AND {ae} = {be})"),
            ast.TimeEndedBy: f("({as_} < {bs} AND {ae} = {be})"),
            ast.TimeEnds: f("({as_} > {bs} AND {ae} = {be})"),
            ast.TimeMeets: f("({ae} = {bs})"),
            ast.TimeMetBy: f("({as_} = {be})"),
            ast.TimeOverlappedBy: f("({as_} > {bs} AND {as_} < {be} AND {ae} > {be})"),
            ast.TimeOverlaps: f("({as_} < {bs} AND {ae} > {bs} AND {ae} < {be})"),
            ast.TimeBegunBy: f("({as_} = {bs} AND {ae} > {be})"),
            ast.TimeBegins: f("({as_} = {bs} AND {ae} < {be})"),
        }
        rule = rules.get(t)
        if rule is None:
            raise InvalidParameter(f"filter: unsupported temporal operator {t.__name__}", parameter="filter")
        return rule.format(as_=as_, ae=ae, bs=bs, be=be)

    def _array(self, node) -> sql.Composable:
        def side(n, other: _Operand | None) -> _Operand:
            if isinstance(n, ast.Attribute):
                op = self.operand(n)
                if op.field is None or not op.field.is_array:
                    raise InvalidParameter(f"filter: array operators need an array property; {n.name!r} is not one",
                                           parameter="filter")
                return op
            items = n if isinstance(n, list) else [n]
            if any(isinstance(i, ast.Node) for i in items):
                raise InvalidParameter("filter: array literals may hold only values", parameter="filter")
            f = other.field if other is not None else None
            vals = [coerce_value(i, f, "filter", element=True) for i in items] if f is not None else items
            typ = sql.SQL(f.sql_type) if f is not None else sql.SQL("text[]")
            return _Operand(sql.SQL("{}::{}").format(self.params.add(vals), typ), "literal")

        if isinstance(node.lhs, ast.Attribute):
            a = side(node.lhs, None)
            b = side(node.rhs, a)
        else:
            b = side(node.rhs, None)
            a = side(node.lhs, b)
        return sql.SQL("({} {} {})").format(a.expr, sql.SQL(_ARRAY[type(node)]), b.expr)


def _as_datetime(v, upper: bool) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=naive_zone())
    if isinstance(v, date):
        start = datetime.combine(v, time(0), tzinfo=naive_zone())
        return start + timedelta(days=1) - timedelta(microseconds=1) if upper else start
    raise InvalidParameter(f"filter: {v!r} is not a date or a time", parameter="filter")


def _describe(node) -> str:
    if isinstance(node, ast.Node):
        return type(node).__name__
    return repr(node)


def to_sql(text: str, lang: str, layout: Layout, params: Params, filter_crs: crsmod.Crs) -> sql.Composable:
    """Parse ``text`` and translate it into a WHERE condition for ``layout``'s table."""
    node = parse(text, lang)
    try:
        return Translator(layout, params, filter_crs).condition(node)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as exc:
        # A parse tree of an unexpected shape (CQL2-JSON is free-form): the client's filter, not us.
        raise InvalidParameter(f"filter: cannot translate this {lang} filter ({exc})", parameter="filter",
                               value=text) from None
