"""Writes tests/data/部件_domains.gdb.zip, a File Geodatabase as ArcGIS delivers a component survey:
fields whose values are codes of coded-value domains (部件状态: 1 完好, 2 破损, 3 丢失; 权属单位:
SZ 市政局, GA 公安局), and one value no domain names (9). Run once by hand with the system Python
and its GDAL bindings (`/usr/bin/python3 tests/data/make_coded_gdb.py`, python3-gdal 3.6.2 wrote
the committed file): pyogrio, which the tests use, cannot write domains."""
import shutil
import tempfile
from pathlib import Path

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
here = Path(__file__).resolve().parent
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "部件_domains.gdb"
    ds = gdal.GetDriverByName("OpenFileGDB").Create(str(path), 0, 0, 0, gdal.GDT_Unknown)
    ds.AddFieldDomain(ogr.CreateCodedFieldDomain("部件状态", "component status", ogr.OFTInteger, ogr.OFSTNone,
                                                 {1: "完好", 2: "破损", 3: "丢失"}))
    ds.AddFieldDomain(ogr.CreateCodedFieldDomain("权属单位", "owner", ogr.OFTString, ogr.OFSTNone,
                                                 {"SZ": "市政局", "GA": "公安局"}))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4490)
    layer = ds.CreateLayer("部件", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("code", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    status = ogr.FieldDefn("status", ogr.OFTInteger)
    status.SetDomainName("部件状态")
    layer.CreateField(status)
    owner = ogr.FieldDefn("owner_dept", ogr.OFTString)
    owner.SetDomainName("权属单位")
    layer.CreateField(owner)
    rows = [("6501020101000701", "上水井盖", 1, "SZ", 87.6188), ("6501020101000702", "雨水井盖", 2, "SZ", 87.6190),
            ("6501020101000703", "路灯", 3, "GA", 87.6192), ("6501020101000704", "垃圾箱", 9, None, 87.6194)]
    for code, name, st, dept, x in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("code", code)
        f.SetField("name", name)
        f.SetField("status", st)
        if dept:
            f.SetField("owner_dept", dept)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} 43.7894)"))
        layer.CreateFeature(f)
    ds = None
    shutil.make_archive(str(here / "部件_domains.gdb"), "zip", tmp, path.name)
print(here / "部件_domains.gdb.zip")
