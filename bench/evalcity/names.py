"""Naming habits of the evaluation town: a southern-Xinjiang county seat.

All names are invented for this test town (a few stems are real words or places of the region:
龟兹 is Kuqa's ancient name, 热斯坦 / 萨克萨克 / 库木巴扎 are Uyghur words and quarter names used in
many old towns). The habits, deliberately unlike the project's sample city:

- numbered roads with the number inside the name (天山一路 … 天山五路) and numbered side lanes
  east and west of a road (文化东一巷, 文化西二巷), lanes numbered off a street (热斯坦一巷);
- Uyghur-transliterated lanes and roads (萨克萨克巷, 吐格曼巷, 墩阔坦路), fruit-named village lanes
  (葡萄巷, 杏花巷) and a few 胡同; suffixes 大道 / 大街 / 街 / 路 / 巷 / 胡同;
- 巴扎 / 广场 / 公园 / 桥 places; courtyards as 家属院, compounds as 小区 / 花园 / 公寓;
- organisations named with the county (库车市第二中学, alias 库车二中), banks with one branch per
  brand (中国银行库车支行) and one brand with branches named by their road (中国农业银行天山一路支行);
- two lane names repeated in two street offices (新村巷, 果园巷), two courtyard names repeated.
"""
from __future__ import annotations

import numpy as np

CN_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """12 -> 十二, 20 -> 二十, 105 -> 一百零五, 110 -> 一百一十 (0 < n < 10000)."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            if zero and out:
                out += "零"
            out += CN_DIGITS[d] + unit
            zero = False
        elif out:
            zero = True
    return out


# -- roads ------------------------------------------------------------------------------------
# (name, aliases, historic names); kinds come from the layout family.
OLD_LANES = [
    ("萨克萨克巷", "", ""), ("吐格曼巷", "", "打铁巷"), ("喀拉墩巷", "", ""), ("阔纳巷", "", ""),
    ("艾日克巷", "", ""), ("花帽巷", "", ""), ("木卡姆巷", "", ""), ("托格拉克巷", "", ""),
    ("恰其巷", "", ""), ("克其克巷", "", ""), ("阿依丁巷", "", ""), ("卡瓦克巷", "", ""),
    ("铜匠巷", "", ""), ("馕坑巷", "", ""), ("库都克巷", "", "水井巷"), ("博依巷", "", ""),
    ("其曼巷", "", ""), ("阿热勒巷", "", ""), ("英艾日克巷", "", ""), ("加依巷", "", ""),
    ("玉苏甫巷", "", ""), ("巴格其巷", "", ""), ("吾斯塘巷", "", ""), ("阿克塔什巷", "", ""), ("奥依巷", "", ""),
    ("库尔巴格巷", "", ""), ("亚喀巷", "", ""), ("色格孜巷", "", ""), ("塔格巷", "", "古井巷"),
]
RING = ("老城环路", "环城路", "")
RESTAN = ("热斯坦路", "热斯坦街", "老街")
RADIALS = [
    ("库木巴扎路", "", ""), ("比西巴格路", "", ""), ("阿拉哈格路", "", ""), ("墩阔坦路", "", ""),
    ("玉奇吾斯塘路", "玉奇路", ""), ("牙哈路", "", "牙哈公路"),
]
LONG_WE = ("龟兹大道", "", "东风大道")
LONG_NS = ("友谊大街", "友谊街", "")
CANAL_ROAD = ("渠边路", "", "乌恰渠路")
GRID_U_STEM = "天山"  # 天山一路, 天山二路 …
GRID_U_HISTORIC = {1: "建设一路", 3: "建设三路"}
GRID_V_STEM = "文化"  # 文化路, 文化东一巷, 文化西一巷 …
SW_NS = [("林基路", "", "南大街"), ("棉麻街", "", ""), ("五一大街", "五一街", ""), ("光华街", "", ""),
         ("银河街", "", "")]
SW_EW = [("英巴扎街", "", ""), ("农机街", "", ""), ("南关大街", "南关街", ""), ("育才街", "", ""),
         ("园艺街", "", ""), ("兴业街", "", "")]
HUTONGS = [("粮站胡同", "", ""), ("邮电胡同", "", ""), ("油坊胡同", "", "")]
VILLAGE_LANES = [("新村巷", "", ""), ("果园巷", "", ""), ("葡萄巷", "", ""), ("杏花巷", "", ""),
                 ("桑园巷", "", ""), ("核桃巷", "", ""), ("巴旦木巷", "", "")]
SE_NS = [("胡杨路", "", ""), ("红柳路", "", ""), ("沙枣路", "", ""), ("白水路", "", "")]
SE_EW = [("迎宾路", "", "城南路"), ("南苑路", "", "")]
SE_LANES = [("新村巷", "", ""), ("果园巷", "", ""), ("石榴巷", "", ""), ("枸杞巷", "", "")]
NORTH_NS = [("昆仑路", "", ""), ("金桥路", "", "")]
NORTH_EW = [("丝路大道", "", "北环路")]
DUPLICATED_ROADS = ("新村巷", "果园巷")
ROAD_SUFFIXES = ("胡同", "大道", "大街", "路", "街", "巷")


def numbered(stem: str, n: int, suffix: str = "路") -> str:
    return f"{stem}{cn_number(n)}{suffix}"


# -- admin ------------------------------------------------------------------------------------
STREET_OLD_TOWN = "热斯坦街道"
STREETS = ["萨克萨克街道", "新城街道", "东城街道", "林基路街道", "团结新村街道", "天山街道"]
COMMUNITIES = [
    "阔纳巴扎", "博斯坦", "英巴格", "喀拉墩", "托克拉克", "恰克玛克", "兰干", "苏盖提", "阿亚格", "塔什",
    "吾斯塘博依", "克然木", "东门", "西门", "北门", "南关", "石油基地", "金沙", "铁路", "农机", "银河",
    "园艺", "棉纺", "水电", "昆仑", "雪莲", "丝路", "安居", "幸福里", "龙口", "阿恰", "城南", "城北",
    "白杨", "玉泉", "金桥", "长青", "建新",
]

# -- places -----------------------------------------------------------------------------------
# (name, kind, aliases, historic names)
PLACE_OLD_TOWN = ("老城片区", "area", "老城区", "龟兹古城")
PLACE_VILLAGE = ("萨依巴格", "village", "", "萨依巴格村")  # no road 萨依巴格路
PLACE_NEW_QUARTER = ("天山新区", "area", "", "")
PLACE_SOUTH = ("南关片区", "area", "", "")
MARKETS = [("库木巴扎", "market", "", ""), ("老城大巴扎", "market", "大巴扎", ""),
           ("牲畜巴扎", "market", "", "牛羊巴扎"), ("英巴扎", "market", "", ""),
           ("东城农贸市场", "market", "菜市场", ""), ("小商品市场", "market", "", "")]
SQUARES = [("龟兹广场", "square", "", "人民广场"), ("文化广场", "square", "", "")]
PARKS = [("博斯坦公园", "park", "湖心公园", ""), ("胡杨公园", "park", "", ""),
         ("儿童公园", "park", "", "红旗公园"), ("渭干河湿地公园", "park", "湿地公园", "")]
POINT_PLACES = [("城南客运站", "station", "", "老汽车站"), ("阿克吾斯塘", "village", "", ""),
                ("团结新村", "village", "", ""), ("铁匠铺", "area", "", "")]
BRIDGE_HISTORIC = "红桥"  # the historic name of one bridge over the canal

# -- courtyards and compounds -----------------------------------------------------------------
COURTYARD_OWNERS = ["粮食局", "电力公司", "水利局", "棉麻公司", "农机厂", "供销社", "税务局", "石油公司",
                    "教育局", "邮电局", "气象局", "糖厂", "水泥厂", "地毯厂", "林业局", "交通局", "法院",
                    "检察院", "武装部", "卫生局", "畜牧局", "物资公司", "建筑公司", "自来水公司", "老干部局"]
COMPOUND_STEMS = ["胡杨", "石榴", "丝路", "雪莲", "昆仑", "塔里木", "白水", "金桥", "安居", "富民",
                  "阳光", "绿洲", "天泽", "龟兹", "银杏", "紫荆", "玉泉", "长青", "盛世", "锦绣",
                  "和园", "明珠", "博雅", "康宁", "瑞丰", "嘉禾", "翠湖", "润泽", "祥和", "恒源",
                  "金穗", "馨园", "怡和", "春晖", "东方", "世纪", "振兴", "华庭", "景苑", "青松"]
COMPOUND_SUFFIXES = ["小区", "花园", "公寓"]
DUPLICATED_COURTYARDS = ("供销社家属院", "安居小区")

# -- organisations: name templates; {c} the county name, {s} its short form ----------------------
SCHOOLS = [("{c}第" + cn_number(i) + "中学", "{s}" + cn_number(i) + "中") for i in range(1, 7)] + \
          [("{c}第" + cn_number(i) + "小学", "{s}" + cn_number(i) + "小") for i in range(1, 9)] + \
          [("{c}实验小学", ""), ("{c}高级中学", "{s}高中"), ("{c}职业技术学校", "{s}职校"),
           ("{c}第一幼儿园", ""), ("{c}第三幼儿园", ""), ("{c}双语幼儿园", "")]
HOSPITALS = [("{c}人民医院", ""), ("{c}维吾尔医医院", "维医院"), ("{c}中医医院", ""),
             ("{c}妇幼保健院", ""), ("{c}疾病预防控制中心", "{s}疾控中心")]
GOVERNMENT = [("{c}人民政府", "{gov}"), ("{c}公安局", ""), ("{c}市场监督管理局", ""), ("{c}自然资源局", ""),
              ("{c}住房和城乡建设局", "{s}住建局"), ("{c}城市管理局", "{s}城管局"), ("{c}税务局", ""),
              ("{c}教育局", ""), ("{c}卫生健康委员会", "{s}卫健委"), ("{c}人民法院", ""),
              ("{c}人民检察院", ""), ("{c}图书馆", ""), ("{c}文化馆", ""), ("{c}体育馆", "")]
BANKS = ["中国银行", "中国工商银行", "中国建设银行", "中国邮政储蓄银行", "{s}农村商业银行"]
BRANCH_BANK = "中国农业银行"  # three branches, each named by its road
COMPANIES = [("国网{s}供电公司", "供电公司"), ("中国电信{s}分公司", ""), ("中国移动{s}分公司", ""),
             ("{s}自来水公司", ""), ("{s}新华书店", ""), ("{s}邮政分公司", ""), ("龟兹宾馆", ""),
             ("天山大酒店", ""), ("友谊商场", "友谊百货"), ("{s}棉麻公司", ""), ("{s}汽车站", ""),
             ("{s}热力公司", ""), ("{s}燃气有限公司", "燃气公司")]

# -- storefronts -------------------------------------------------------------------------------
SHOP_OWNERS = ["艾山江", "热合曼", "努尔兰", "阿布拉", "库尔班", "苏里坦", "依明", "克然木", "塔依尔",
               "买合木提", "如孜", "阿迪力", "老马", "老杨", "兴盛", "顺达", "鑫源", "红柳", "沙枣",
               "雪莲", "石榴", "龟兹", "丝路", "天香", "金穗"]
SHOP_TRADES = [("馕店", "food"), ("烤包子店", "food"), ("抓饭馆", "food"), ("拉条子馆", "food"),
               ("干果店", "shop"), ("五金店", "shop"), ("手机维修", "service"), ("药店", "pharmacy"),
               ("理发店", "service"), ("超市", "shop"), ("民族服饰", "shop"), ("铜器店", "shop"),
               ("花帽店", "shop"), ("乐器店", "shop"), ("茶馆", "food"), ("烤肉店", "food"),
               ("酸奶店", "food"), ("粮油店", "shop"), ("布匹店", "shop"), ("诊所", "clinic")]

# -- made-up names: things the town does not have ----------------------------------------------
FAKE_ROADS = ["卫星路", "金山大道", "雪松路", "光辉巷", "青松路", "向阳街", "长青大道", "银川路",
              "白杨胡同", "胜利大街", "朝阳巷", "解放大道", "黄河路", "长江路", "北京大道", "和平巷",
              "建国路", "跃进街", "红星路", "东风巷", "永安路", "太平街", "民主路", "前进巷",
              "天池路", "博格达路", "克孜尔路", "阿瓦提巷", "托木尔路", "铁门关路", "塔河大道",
              "苏巴什路", "依格孜巷", "喀赞其巷", "阔孜其亚贝希巷", "乌恰路", "齐满路", "哈尼喀巷"]
FAKE_PLACES = ["天鹅湖广场", "红星巴扎", "人民公园", "东湖公园", "西大桥", "金沙滩", "苏巴什广场",
               "克孜尔巴扎", "月亮湾", "世纪广场", "银滩公园", "北门巴扎"]
FAKE_COURTYARDS = ["金色家园小区", "翡翠花园", "碧水公寓", "外贸公司家属院", "化肥厂家属院", "天鹅小区",
                   "滨湖花园", "丽景公寓", "铁路局家属院", "幸福家园小区"]
FAKE_ORGS = ["{c}第十五中学", "{c}第十二小学", "{c}档案馆", "{c}博物馆", "招商银行{s}支行",
             "中国光大银行{s}支行", "{c}第二人民医院", "{c}气象台", "{s}国际大酒店", "{c}审计局"]
FAKE_BRANCH_ROADS = 3  # 中国农业银行<a real road>支行 where there is no such branch


def pick(rng: np.random.Generator, items: list, k: int | None = None):
    """One item (k None) or k distinct items of a list, in random order."""
    if k is None:
        return items[int(rng.integers(len(items)))]
    idx = rng.permutation(len(items))[:k]
    return [items[i] for i in idx]
