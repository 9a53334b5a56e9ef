"""Writes tests/data/案件2024.xls, an Excel 97-2003 workbook as a 数字城管 system exports it:
run once by hand (`pip install xlwt`; xlwt 1.3.0 wrote the committed file), not by the tests.

Sheet 五月: a title row, a blank row, the header, then cases with the class codes, the coordinates
and a component code typed as numbers, the times as date cells. Sheet 六月: header and one case
with a text date. Sheet3: empty, as Excel leaves it."""
import datetime as dt
from pathlib import Path

import xlwt

book = xlwt.Workbook(encoding="utf-8")
when = xlwt.easyxf(num_format_str="yyyy/m/d h:mm")
may = book.add_sheet("五月")
may.write(0, 0, "乌鲁木齐市数字城管案件统计表（2024年5月）")
header = ["案件编号", "案件类型", "大类", "小类", "部件编码", "案件状态", "上报时间", "结案时间", "经度", "纬度", "问题描述"]
for c, h in enumerate(header):
    may.write(2, c, h)
rows = [
    ["X0501", "部件", 1, 1, 6501020101000001, "已结案", dt.datetime(2024, 5, 1, 8, 30), dt.datetime(2024, 5, 2, 17, 5),
     87.6191, 43.7895, "井盖破损"],
    ["X0502", "事件", 1, 2, None, "已上报", dt.datetime(2024, 5, 3, 9, 0), None, 87.6192, 43.7896, "暴露垃圾"],
]
for r, row in enumerate(rows, start=3):
    for c, v in enumerate(row):
        if v is None:
            continue
        if isinstance(v, dt.datetime):
            may.write(r, c, v, when)
        else:
            may.write(r, c, v)
june = book.add_sheet("六月")
for c, h in enumerate(header):
    june.write(0, c, h)
for c, v in enumerate(["X0601", "事件", "01", "02", "", "已上报", "2024-06-01 10:00", "", "87.6193", "43.7894", "占道经营"]):
    if v != "":
        june.write(1, c, v)
book.add_sheet("Sheet3")
book.save(str(Path(__file__).with_name("案件2024.xls")))
