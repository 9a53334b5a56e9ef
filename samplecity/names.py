"""Name vocabularies of the sample city: real Urumqi road and place names, and generators for
plausible synthetic ones (roads, compounds, organisations, shops, people).

Real names are used where the city has them; aliases and historic names are partly real
(克西路 for 克拉玛依西路, 虎头峰 for 红山, 迪化, 米泉) and partly invented for testing.
"""
from __future__ import annotations

import numpy as np

TIANSHAN, SAYBAG, XINSHI, SHUIMOGOU, TOUTUNHE, DABANCHENG, MIDONG, URUMQI_COUNTY = (
    "650102", "650103", "650104", "650105", "650106", "650107", "650109", "650121")

# Real road names by district: (name, kind, aliases, historic names)
REAL_ROADS: dict[str, list[tuple[str, str, str, str]]] = {
    TIANSHAN: [
        ("解放北路", "main", "解放路北段", ""), ("解放南路", "main", "解放路南段", ""),
        ("人民路", "main", "", "迪化大街"), ("新华北路", "main", "新华路北段", ""),
        ("新华南路", "main", "新华路南段", ""), ("中山路", "main", "", ""), ("光明路", "secondary", "", ""),
        ("建设路", "secondary", "", ""), ("和平南路", "main", "和平路南段", ""), ("和平北路", "secondary", "", ""),
        ("大湾路", "secondary", "", ""), ("延安路", "main", "", ""), ("胜利路", "main", "", ""),
        ("团结路", "main", "", ""), ("东风路", "secondary", "", ""), ("幸福路", "secondary", "", ""),
        ("青年路", "secondary", "", ""), ("龙泉街", "branch", "", ""), ("明德路", "secondary", "", ""),
        ("文艺路", "branch", "", ""), ("红旗路", "main", "", ""), ("民主路", "branch", "", ""),
        ("燕儿窝路", "secondary", "", ""), ("碱泉街", "branch", "", ""), ("天池路", "branch", "", ""),
        ("跃进街", "branch", "", ""), ("山西巷", "lane", "", ""), ("东环路", "main", "", ""),
    ],
    SAYBAG: [
        ("友好南路", "main", "友好路南段", ""), ("友好北路", "main", "友好路北段", ""),
        ("西虹东路", "main", "西虹路东段", ""), ("西虹西路", "secondary", "西虹路西段", ""),
        ("克拉玛依西路", "main", "克西路", "克拉玛依西街"), ("克拉玛依东路", "main", "克东路", ""),
        ("黄河路", "main", "", "黄河街"), ("长江路", "main", "", ""), ("红山路", "secondary", "", ""),
        ("扬子江路", "secondary", "", ""), ("珠江路", "secondary", "", ""), ("西北路", "main", "", ""),
        ("钱塘江路", "secondary", "", ""), ("奇台路", "secondary", "", ""), ("阿勒泰路", "secondary", "", ""),
        ("和田街", "branch", "", ""), ("炉院街", "branch", "", ""), ("仓房沟路", "secondary", "", ""),
        ("雅山路", "branch", "", ""), ("八一路", "secondary", "", ""),
    ],
    XINSHI: [
        ("北京南路", "main", "北京路南段", ""), ("北京中路", "main", "北京路中段", ""),
        ("喀什东路", "main", "", ""), ("喀什西路", "secondary", "", ""), ("苏州路", "main", "", ""),
        ("昆明路", "secondary", "", ""), ("卫星路", "secondary", "", ""), ("长春南路", "main", "", ""),
        ("长春中路", "main", "", ""), ("银川路", "secondary", "", ""), ("杭州路", "secondary", "", ""),
        ("迎宾路", "main", "", ""), ("河北东路", "secondary", "", ""), ("天津南路", "branch", "", ""),
        ("南纬路", "branch", "", ""), ("鲤鱼山路", "secondary", "", ""), ("河滩北路", "main", "河滩快速路", ""),
    ],
    SHUIMOGOU: [
        ("南湖路", "main", "", ""), ("南湖东路", "main", "", ""), ("新民路", "main", "", ""),
        ("温泉路", "secondary", "", ""), ("温泉东路", "secondary", "", ""), ("七道湾路", "secondary", "", ""),
        ("六道湾路", "secondary", "", ""), ("华光街", "branch", "", ""), ("振安街", "branch", "", ""),
        ("水磨沟路", "secondary", "", ""), ("安居南路", "main", "", ""), ("会展大道", "main", "", ""),
        ("红光山路", "secondary", "", ""), ("河滩路", "main", "河滩快速路", ""),
    ],
    TOUTUNHE: [
        ("乌昌路", "main", "乌昌公路", ""), ("中亚北路", "main", "", ""), ("中亚南路", "main", "", ""),
        ("嵩山街", "secondary", "", ""), ("北站西路", "secondary", "", ""), ("北站东路", "secondary", "", ""),
        ("维泰南路", "secondary", "", ""), ("上海路", "secondary", "", ""), ("头屯河路", "branch", "", ""),
    ],
    DABANCHENG: [("盐湖路", "main", "", ""), ("艾维尔沟路", "secondary", "", ""), ("达坂城大道", "main", "", "")],
    MIDONG: [
        ("古牧地东路", "main", "", ""), ("古牧地西路", "main", "", ""), ("米东南路", "main", "", "米泉南路"),
        ("米东北路", "main", "", "米泉北路"), ("永祥街", "branch", "", ""), ("盛达东路", "secondary", "", ""),
        ("卡子湾路", "secondary", "", ""), ("石化路", "secondary", "", ""),
    ],
    URUMQI_COUNTY: [("水西沟路", "main", "", ""), ("板房沟路", "secondary", "", ""), ("永丰路", "secondary", "", "")],
}

_PLACES_CN = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 广西 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 宁夏 南京 广州 深圳 成都 武汉 长沙 郑州 西安 兰州 西宁 拉萨 贵阳 南宁 "
    "福州 厦门 南昌 合肥 济南 青岛 太原 沈阳 哈尔滨 大连 宁波 温州 无锡 扬州 徐州 洛阳 开封 "
    "伊犁 阿克苏 哈密 吐鲁番 和田 喀什 库尔勒 昌吉 石河子 奎屯 博乐 塔城 阿图什 库车 轮台 鄯善 托克逊 "
    "伊宁 精河 乌苏 沙湾 玛纳斯 呼图壁 阜康 吉木萨尔 木垒 巴里坤 伊吾 焉耆 和静 和硕 博湖 尉犁 若羌 "
    "且末 温宿 拜城 新和 沙雅 乌什 阿瓦提 柯坪 疏附 疏勒 英吉沙 泽普 莎车 叶城 麦盖提 伽师 巴楚 墨玉 "
    "皮山 洛浦 策勒 于田 民丰 霍城 巩留 新源 昭苏 特克斯 尼勒克 额敏 裕民 布尔津 富蕴 福海 青河 "
    "嘉陵江 汉江 松花江 澜沧江 塔里木 昆仑 阿尔泰 博格达 祁连 太行 泰山 华山 衡山 峨眉 庐山 黄山 "
    "武夷 赛里木 博斯腾 喀纳斯 天山 雪莲 丝路 金桥 银桥 朝阳 红光 星光 曙光 振兴 繁荣 前进 育才 文明 "
    "和谐 安居 康宁 长安 永安 安宁 吉祥 兴业 创业 科技 腾飞 丰收 惠民 利民 益民 富民 新兴 华山 明园 "
    "翠泉 碧水 绿洲 葡萄 石榴 白杨 胡杨 红柳 沙枣 苜蓿 榆树 杏花 梨园 桃园 枣园 果园 林荫 向阳 "
    "光华 中环 外环 滨河 河坝 南梁 北梁 东梁 西梁 高新 会展 锦绣 宏大 恒昌 金源 汇通 顺通 四平 八达"
).split()
_DIRS = ["", "", "", "东", "西", "南", "北", "中"]
_TYPES = {"main": ["路", "路", "大道", "路"], "secondary": ["路", "路", "街"], "branch": ["路", "街", "街", "路"]}
CN_DIGITS = "〇一二三四五六七八九"


def cn_number(n: int) -> str:
    """0..99999 in Chinese numerals as read aloud (一, 十二, 一百零五, 一千二百三十)."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n - 10] if n > 10 else "")
    out, zero = "", False
    for value, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, value)
        if digit:
            if zero and out:
                out += "零"
            out += CN_DIGITS[digit] + unit
            zero = False
        elif out:
            zero = True
    return out


cn_ordinal = cn_number


class RoadNamer:
    """Unique road names per district from the real list first, then generated ones."""

    def __init__(self, r: np.random.Generator):
        self.r = r
        self.used_city: set[str] = set()
        self.used: dict[str, set[str]] = {}

    def real(self, district: str) -> list[tuple[str, str, str, str]]:
        return list(REAL_ROADS.get(district, []))

    def claim(self, district: str, name: str) -> None:
        self.used.setdefault(district, set()).add(name)
        self.used_city.add(name)

    def generated(self, district: str, kind: str) -> str:
        used = self.used.setdefault(district, set())
        for attempt in range(10000):
            name = (self.r.choice(_PLACES_CN) + self.r.choice(_DIRS) + self.r.choice(_TYPES[kind]))
            # names are unique in the district; across districts a few repeat, as in real cities
            if name in used or (name in self.used_city and self.r.random() > 0.03):
                continue
            if any(name in real for names in REAL_ROADS.values() for real, *_ in names):
                continue
            self.claim(district, name)
            return name
        raise RuntimeError("road names exhausted")


# Real places with (kind, aliases, historic names); positions are synthetic.
REAL_PLACES: list[tuple[str, str, str, str, str, tuple[float, float]]] = [
    # name, district, kind, aliases, historic, (lon, lat)
    ("二道桥", TIANSHAN, "area", "二道桥市场片区", "二道桥子", (87.630, 43.777)),
    ("大小十字", TIANSHAN, "area", "大十字|小十字", "十字街", (87.618, 43.795)),
    ("红山", SAYBAG, "mountain", "红山公园", "虎头峰", (87.607, 43.806)),
    ("大巴扎", TIANSHAN, "market", "国际大巴扎|新疆国际大巴扎", "", (87.628, 43.773)),
    ("南门", TIANSHAN, "area", "南门广场", "南关", (87.621, 43.785)),
    ("北门", TIANSHAN, "area", "", "北关", (87.614, 43.803)),
    ("大西门", TIANSHAN, "area", "", "西大门", (87.608, 43.797)),
    ("小西门", TIANSHAN, "area", "", "", (87.611, 43.789)),
    ("人民广场", TIANSHAN, "square", "", "", (87.626, 43.792)),
    ("西大桥", SAYBAG, "bridge", "", "", (87.603, 43.799)),
    ("碾子沟", SAYBAG, "area", "碾子沟客运站", "", (87.596, 43.812)),
    ("八楼", SAYBAG, "area", "昆仑宾馆", "", (87.604, 43.827)),
    ("友好", SAYBAG, "area", "友好商圈", "", (87.596, 43.824)),
    ("铁路局", SAYBAG, "area", "", "", (87.578, 43.838)),
    ("火车南站", SAYBAG, "area", "南站", "乌鲁木齐站老站", (87.556, 43.781)),
    ("明园", SAYBAG, "area", "", "", (87.566, 43.833)),
    ("雅山", SAYBAG, "mountain", "雅玛里克山", "", (87.575, 43.795)),
    ("燕儿窝", TIANSHAN, "area", "", "", (87.625, 43.735)),
    ("红雁池", TIANSHAN, "lake", "红雁池水库", "", (87.612, 43.713)),
    ("鲤鱼山", XINSHI, "mountain", "鲤鱼山公园", "", (87.555, 43.865)),
    ("南湖", SHUIMOGOU, "area", "南湖广场", "", (87.642, 43.822)),
    ("七道湾", SHUIMOGOU, "area", "", "", (87.668, 43.850)),
    ("六道湾", SHUIMOGOU, "area", "", "", (87.655, 43.845)),
    ("水磨沟公园", SHUIMOGOU, "park", "水磨沟", "水磨河", (87.668, 43.830)),
    ("红光山", SHUIMOGOU, "mountain", "", "", (87.665, 43.870)),
    ("三屯碑", SAYBAG, "area", "", "", (87.577, 43.812)),
    ("王家梁", SHUIMOGOU, "area", "", "", (87.690, 43.837)),
    ("石人子沟", SHUIMOGOU, "area", "", "", (87.720, 43.855)),
    ("地窝堡", XINSHI, "area", "地窝堡机场", "", (87.475, 43.905)),
    ("安宁渠", XINSHI, "village", "", "", (87.520, 44.020)),
    ("青格达湖", XINSHI, "lake", "", "", (87.500, 44.040)),
    ("白鸟湖", TOUTUNHE, "lake", "", "", (87.380, 43.960)),
    ("八钢", TOUTUNHE, "area", "八一钢铁", "", (87.335, 43.905)),
    ("三坪", TOUTUNHE, "area", "", "", (87.300, 43.960)),
    ("古牧地", MIDONG, "area", "", "米泉", (87.650, 43.960)),
    ("卡子湾", MIDONG, "area", "", "", (87.640, 43.920)),
    ("铁厂沟", MIDONG, "village", "", "", (87.850, 43.970)),
    ("达坂城古镇", DABANCHENG, "area", "达坂城", "", (88.310, 43.360)),
    ("柴窝堡湖", DABANCHENG, "lake", "", "", (87.950, 43.500)),
    ("盐湖", DABANCHENG, "lake", "达坂城盐湖", "", (88.100, 43.420)),
    ("乌拉泊", DABANCHENG, "area", "乌拉泊古城", "", (87.620, 43.650)),
    ("南山", URUMQI_COUNTY, "area", "南山牧场", "", (87.330, 43.450)),
    ("水西沟", URUMQI_COUNTY, "village", "", "", (87.430, 43.510)),
    ("板房沟", URUMQI_COUNTY, "village", "", "", (87.360, 43.560)),
    ("天山大峡谷", URUMQI_COUNTY, "area", "照壁山", "", (87.250, 43.380)),
]

_PLACE_WORDS = _PLACES_CN
_PLACE_KINDS = [("市场", "market"), ("广场", "square"), ("公园", "park"), ("桥", "bridge"), ("片区", "area"),
                ("商业街", "area"), ("批发市场", "market"), ("夜市", "market")]

COMPOUND_PREFIX = (
    "阳光 幸福 金色 华源 锦绣 和谐 天山 博格达 雪莲 丝路 明珠 翡翠 紫金 书香 景苑 康乐 华凌 美居 中天 绿城 "
    "融合 鸿福 祥和 富康 嘉和 瑞祥 长青 青松 丽景 湖畔 山水 西域 昆仑 天润 宏源 星河 恒信 润泽 盛世 "
    "永盛 新城 南湖 北园 东方 东城 西城 金都 银都 华庭 汇嘉 友好 天誉 泰和 安泰 万和 兴盛 百花 雅居 清华 "
    "水岸 碧桂 枫林 梧桐 白桦 雪松 红枫 金桂 玉兰 丁香 海棠 芙蓉 春天 秋月 朝晖 彩虹 天宇 天缘 天成"
).split()
COMPOUND_SUFFIX = "小区 花园 家园 苑 公寓 新村 嘉园 华庭 名邸 雅居 城 佳苑".split()
COURTYARD_OWNERS = (
    "自治区水利厅 自治区交通厅 自治区林业厅 自治区地矿局 市政府 市公安局 市供电公司 市自来水公司 铁路局 "
    "新疆军区 新疆大学 新疆医科大学 石油管理局 邮电局 煤炭局 建工集团 八钢 电信公司 市一建 市二建 农业厅 "
    "气象局 地震局 粮食局 税务局 物资局 外贸公司 纺织厂 毛纺厂 棉纺厂 水泥厂 化工厂 机械厂 汽车修理厂 "
    "运输公司 百货公司 报社 电视台 广播电台 文联 科委 教委 卫生局 人民银行 工商银行 建设银行"
).split()

SHOP_BRANDS = (
    "老马 丝路 天天 美美 华联 好又多 友好 汇嘉 百家 金牛 一品 老地方 阿凡提 巴扎 新疆 天山 雪莲 金泉 "
    "古丽 帕米尔 和田 喀什 伊力 红柳 胡杨 大盘 小蜜蜂 顺心 便民 惠民 家乐 乐家 万家 聚福 福满 鑫源 "
    "盛源 金鼎 佳佳 乐乐 大众 平安 吉祥 如意 东方 西域 楼兰 玉龙 昆仑 雅丹 绿洲 阳光 甜甜 香香 "
).split()
SHOP_KINDS = [
    ("拉面馆", "餐饮"), ("抓饭馆", "餐饮"), ("烤肉店", "餐饮"), ("大盘鸡", "餐饮"), ("馕坑", "餐饮"),
    ("超市", "零售"), ("便利店", "零售"), ("水果店", "零售"), ("干果店", "零售"), ("药房", "医药"),
    ("发廊", "生活服务"), ("洗衣店", "生活服务"), ("五金店", "零售"), ("手机店", "零售"), ("茶叶店", "零售"),
    ("服装店", "零售"), ("鞋店", "零售"), ("面包房", "餐饮"), ("奶茶店", "餐饮"), ("书店", "文化"),
    ("文具店", "文化"), ("眼镜店", "零售"), ("烟酒店", "零售"), ("粮油店", "零售"), ("诊所", "医药"),
]

HOSPITALS = [
    ("新疆医科大学第一附属医院", "医大一附院|医大一院"), ("新疆医科大学第二附属医院", "医大二附院"),
    ("新疆维吾尔自治区人民医院", "自治区人民医院|省人民医院"), ("新疆维吾尔自治区中医医院", "自治区中医院"),
    ("乌鲁木齐市第一人民医院", "市一院|儿童医院"), ("乌鲁木齐市友谊医院", "市三院"),
    ("乌鲁木齐市中医医院", "市中医院"), ("乌鲁木齐市第四人民医院", "市四院"),
    ("新疆军区总医院", "军区总院"), ("乌鲁木齐市口腔医院", "市口腔医院"),
    ("乌鲁木齐市妇幼保健院", "市妇幼"), ("新疆维吾尔自治区肿瘤医院", "肿瘤医院|医大附属肿瘤医院"),
]
COMPANY_WORDS = (
    "天山 昆仑 博格达 丝路 西域 楼兰 金风 特变 广汇 天业 中泰 八一 宏远 恒通 汇通 华凌 美克 友好 "
    "新捷 天富 金圣 亚欧 大陆桥 雪峰 天润 西部 绿原 准噶尔 塔里木 天马 亚心 红山 雅山 南湖 北园"
).split()
COMPANY_TRADES = "科技 能源 建设 物流 商贸 农业 信息 环保 置业 餐饮 文化 医药 机电 化工 纺织 物业".split()

_SURNAMES = ("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
             "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅鹏飞斌波辉宇浩凯健俊帆琳晨欣悦雪峰志国建新春燕萍海云"
_UYGHUR = ("阿依古丽 买买提 艾力 古丽娜尔 热依拉 阿不都 吐尔逊 米娜瓦尔 努尔 帕提古丽 艾尔肯 迪丽拜尔 "
           "阿布力孜 热合曼 沙吾提 玉苏甫 依明 阿力木 再努尔 祖丽皮亚 哈力旦 古力巴哈尔 木合塔尔 伊力哈木").split()


def person_name(r: np.random.Generator) -> str:
    """A plausible Urumqi resident's name (Han or Uyghur)."""
    if r.random() < 0.35:
        return str(r.choice(_UYGHUR)) + "·" + str(r.choice(_UYGHUR))
    given = "".join(r.choice(list(_GIVEN), size=int(r.integers(1, 3))))
    return str(r.choice(list(_SURNAMES))) + given


# GB/T 30428.2 component classes used here: major -> (name, [(minor, name, weight, geometry)]).
COMPONENT_CLASSES: dict[str, tuple[str, list[tuple[str, str, float, str]]]] = {
    "01": ("公用设施", [("01", "上水井盖", 6, "point"), ("02", "污水井盖", 6, "point"), ("03", "雨水井盖", 5, "point"),
                       ("04", "雨水箅子", 5, "point"), ("05", "电力井盖", 3, "point"), ("06", "路灯井盖", 2, "point"),
                       ("07", "通讯井盖", 3, "point"), ("10", "热力井盖", 3, "point"), ("11", "燃气井盖", 2, "point"),
                       ("14", "消防栓", 2, "point"), ("17", "路灯", 8, "point"), ("16", "通讯交接箱", 1, "point"),
                       ("20", "报刊亭", 0.5, "point"), ("22", "变压器", 0.5, "point")]),
    "02": ("道路交通", [("01", "停车场", 0.5, "polygon"), ("03", "公交站亭", 1.5, "point"),
                       ("05", "过街天桥", 0.2, "point"), ("09", "交通标志牌", 3, "point"),
                       ("10", "交通信号灯", 1, "point"), ("13", "道路护栏", 2, "line"), ("14", "防撞墩", 1, "point"),
                       ("15", "路名牌", 2, "point"), ("08", "跨河桥", 0.1, "point")]),
    "03": ("市容环境", [("01", "公共厕所", 0.5, "point"), ("04", "广告牌匾", 3, "point"),
                       ("06", "垃圾中转站", 0.2, "point"), ("07", "垃圾箱", 4, "point"), ("08", "废物箱", 4, "point"),
                       ("09", "户外广告屏", 0.5, "point")]),
    "04": ("园林绿化", [("01", "古树名木", 0.2, "point"), ("02", "行道树", 8, "point"), ("03", "护树设施", 2, "point"),
                       ("05", "绿地", 0.8, "polygon"), ("06", "城市雕塑", 0.2, "point"),
                       ("07", "街头坐椅", 1.5, "point"), ("08", "绿地护栏", 1, "line"), ("10", "喷泉", 0.1, "point")]),
    "05": ("房屋土地", [("01", "宣传栏", 1, "point"), ("02", "人防工事", 0.2, "point"), ("04", "工地", 0.3, "polygon"),
                       ("05", "公房", 0.3, "point")]),
    "06": ("其他设施", [("01", "重大危险源", 0.1, "point"), ("04", "河堤", 0.1, "line"), ("06", "健身设施", 1, "point"),
                       ("07", "加油站", 0.2, "point"), ("08", "监控电子眼", 1.5, "point")]),
}
COMPONENT_OWNERS = {"01": "市政公用局", "02": "交通运输局", "03": "城市管理局", "04": "园林局",
                    "05": "住房和城乡建设局", "06": "应急管理局"}

# Event classes (事件): major -> (name, [(minor, name, weight)])
EVENT_CLASSES: dict[str, tuple[str, list[tuple[str, str, float]]]] = {
    "01": ("市容环境", [("01", "私搭乱建", 2), ("02", "暴露垃圾", 8), ("03", "积存垃圾渣土", 4), ("04", "道路不洁", 5),
                       ("05", "水域不洁", 0.5), ("06", "绿地脏乱", 2), ("07", "废弃家具设备", 1.5),
                       ("08", "道路积雪", 3)]),
    "02": ("宣传广告", [("01", "非法小广告", 6), ("02", "违章张贴悬挂广告牌匾", 2), ("03", "占道广告牌", 1.5),
                       ("04", "街头散发广告", 1)]),
    "03": ("施工管理", [("01", "施工扰民", 1), ("02", "工地扬尘", 2), ("03", "道路遗撒", 1.5), ("04", "施工占道", 1),
                       ("05", "无证掘路", 0.3)]),
    "04": ("突发事件", [("01", "路面塌陷", 0.3), ("02", "自来水管破裂", 0.5), ("03", "燃气管道破裂", 0.1),
                       ("04", "下水道堵塞或破损", 1.5), ("05", "供暖管线破损", 0.5), ("06", "道路积水", 1)]),
    "05": ("街面秩序", [("01", "无照经营游商", 5), ("02", "流浪乞讨", 0.5), ("03", "占道废品收购", 1),
                       ("04", "店外经营", 6), ("05", "机动车乱停放", 6), ("06", "非机动车乱停放", 3),
                       ("07", "黑车拉客", 0.5), ("08", "露天烧烤", 2)]),
    "06": ("其他事件", [("01", "违法建设", 1), ("02", "油烟污染", 1), ("03", "噪声扰民", 1)]),
}
