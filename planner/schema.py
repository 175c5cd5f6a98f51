"""Canonical tables: one schema per entity, column names as constants.

Every other module refers to columns through these constants. A table is a
plain ``pandas.DataFrame`` with exactly these columns (plus ``source_row``, the
row number in the user's file, after import); coordinates are WGS-84 degrees.

Each ``Field`` also lists header aliases (English and the Chinese headers of
common CRM exports) so a file loads unedited, and value aliases for the coded
fields (``公海`` is the public pool, ``成交客户`` a customer, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "str", "float", "int", "enum", "date", "datetime", "bool", "lon", "lat", "list"]

# --- column names -----------------------------------------------------------
ID = "id"
NAME = "name"
LON = "lon"
LAT = "lat"
SOURCE_ROW = "source_row"
SYNTHETIC = "synthetic"

# accounts
STATUS = "status"
OWNER = "owner"
CLASS = "account_class"
INDUSTRY = "industry"
POTENTIAL_CNY = "potential_cny"
STAGE = "stage"
LAST_VISIT = "last_visit"
APPT_START = "appt_start"
APPT_END = "appt_end"

# reps
TEAM = "team"
LEVEL = "level"
BASE_OFFICE = "base_office"
START_DATE = "start_date"
MANAGER = "manager"
EXPERIENCED = "experienced"

# offices
DESKS = "desks"
OFFICE_STATUS = "office_status"
MONTHLY_COST_CNY = "monthly_cost_cny"
OFFICE_KIND = "office_kind"
ADCODE = "adcode"

# markets
TIER = "tier"
COASTAL = "coastal"
REGION = "region"

# cadres
CURRENT_CITY = "current_city"
MARKETS_SERVED = "markets_served"
REVIEW_SCORE = "review_score"
READY_IN_QUARTERS = "ready_in_quarters"
WILLING_TO_RELOCATE = "willing_to_relocate"

# --- coded values -------------------------------------------------------------
PUBLIC_POOL = "pool"
STATUSES = ("customer", "prospect")
CLASSES = ("A", "B", "C")
STAGES = ("new", "follow-up", "closing")
REP_LEVELS = ("sales", "M0", "M1", "M1.5", "M2", "M3", "M4")  # M3 regional, M4 national
OFFICE_STATUSES = ("current", "candidate")
OFFICE_KINDS = ("office", "county_seat", "town")
COASTAL_VALUES = ("coastal", "inland")

# --- the domain's figures (DOMAIN.md), written once -------------------------------
DAY_START_MIN = 8 * 60  # visits start after the morning meeting (早启动), about 8:00
DAY_END_MIN = 18 * 60  # back at the office for the evening review (晚效率), about 18:00
VISITS_PER_DAY = 8  # the daily standard: eight visits
VISIT_KINDS = ("new", "follow-up", "closing")
VISIT_MIX = {"new": 4, "follow-up": 2, "closing": 2}  # 4 first visits, 2 follow-ups, 2 closings
VISIT_MIN = 45.0  # a visit, on average (minutes)
BETWEEN_VISITS_MIN = 15.0  # parking and walking between two visits (minutes)
CLASS_WEIGHTS = {"A": 3.0, "B": 2.0, "C": 1.0}  # an account's weight by class
VISITS_PER_MONTH = {"A": 2.0, "B": 1.0, "C": 0.5}  # how often each class is seen
SELLER_LEVELS = ("sales", "M0")  # people who own accounts (reserve managers still sell)
SUPERVISOR_LEVELS = ("M1", "M1.5", "M2")  # people who ride along with reps (陪访)

_TRUE = {"true", "1", "yes", "y", "t", "是", "有", "√", "x"}
_FALSE = {"false", "0", "no", "n", "f", "否", "无", ""}


@dataclass(frozen=True)
class Field:
    """One column of a canonical table and how to read it from a user's file."""

    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    value_aliases: dict[str, str] = field(default_factory=dict)
    min_value: float | None = None
    max_value: float | None = None
    default: object = None


@dataclass(frozen=True)
class Schema:
    entity: str
    fields: tuple[Field, ...]
    id_field: str = ID

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def has_coordinates(self) -> bool:
        names = self.columns
        return LON in names and LAT in names


_LON_ALIASES = ("lon", "lng", "long", "longitude", "x", "经度", "经度坐标")
_LAT_ALIASES = ("lat", "latitude", "y", "纬度", "纬度坐标")
_NAME_ALIASES = ("name", "company", "company_name", "名称", "客户名称", "公司名称", "企业名称", "姓名")
_SYN = Field(SYNTHETIC, "bool", default=False, aliases=("is_synthetic", "合成数据"))

ACCOUNTS = Schema("accounts", (
    Field(ID, "id", required=True, aliases=("account_id", "customer_id", "客户编号", "客户id", "客户ID", "编号")),
    Field(NAME, "str", aliases=_NAME_ALIASES),
    Field(LON, "lon", required=True, aliases=_LON_ALIASES),
    Field(LAT, "lat", required=True, aliases=_LAT_ALIASES),
    Field(STATUS, "enum", choices=STATUSES, default="prospect",
          aliases=("customer_status", "客户状态", "状态", "客户类型"),
          value_aliases={"客户": "customer", "成交客户": "customer", "已签约": "customer", "签约客户": "customer",
                         "潜在客户": "prospect", "意向客户": "prospect", "准客户": "prospect", "lead": "prospect"}),
    Field(OWNER, "str", default=PUBLIC_POOL, aliases=("owner_rep", "rep", "rep_id", "sales_rep", "负责人", "归属销售",
                                                       "销售", "所属销售", "跟进人"),
          value_aliases={"": PUBLIC_POOL, "公海": PUBLIC_POOL, "public pool": PUBLIC_POOL, "public": PUBLIC_POOL}),
    Field(CLASS, "enum", choices=CLASSES, default="C",
          aliases=("class", "grade", "客户等级", "等级", "客户分级", "分级"),
          value_aliases={"A类": "A", "B类": "B", "C类": "C", "a": "A", "b": "B", "c": "C"}),
    Field(INDUSTRY, "str", aliases=("行业", "所属行业", "sector")),
    Field(POTENTIAL_CNY, "float", min_value=0.0, default=0.0,
          aliases=("potential", "potential_cny", "潜力", "潜在金额", "预计金额", "潜力金额")),
    Field(STAGE, "enum", choices=STAGES, default="new", aliases=("销售阶段", "阶段", "跟进阶段"),
          value_aliases={"新客户": "new", "首次拜访": "new", "陌拜": "new", "跟进": "follow-up",
                         "二次拜访": "follow-up",
                         "followup": "follow-up", "follow up": "follow-up", "签约": "closing", "逼单": "closing",
                         "待签约": "closing", "close": "closing"}),
    Field(LAST_VISIT, "date", aliases=("last_visit_date", "最后拜访", "最近拜访日期", "最后拜访日期", "上次拜访")),
    Field(APPT_START, "datetime", aliases=("appointment_start", "预约开始", "预约时间")),
    Field(APPT_END, "datetime", aliases=("appointment_end", "预约结束")),
    _SYN,
))

REPS = Schema("reps", (
    Field(ID, "id", required=True, aliases=("rep_id", "员工编号", "工号")),
    Field(NAME, "str", aliases=_NAME_ALIASES),
    Field(TEAM, "str", aliases=("团队", "小组", "所属团队")),
    Field(LEVEL, "enum", choices=REP_LEVELS, default="sales", aliases=("职级", "级别"),
          value_aliases={"销售": "sales", "rep": "sales", "主管": "M1", "储备主管": "M0", "储备经理": "M1.5",
                         "经理": "M2", "m1": "M1", "m2": "M2", "m0": "M0", "m1.5": "M1.5", "大区经理": "M3",
                         "m3": "M3", "m4": "M4"}),
    Field(BASE_OFFICE, "str", aliases=("office", "base", "办公室", "驻点")),
    Field(MANAGER, "str", aliases=("supervisor", "reports_to", "上级", "直属上级", "汇报对象")),
    Field(START_DATE, "date", aliases=("入职日期", "hire_date")),
    Field(EXPERIENCED, "bool", default=False, aliases=("老销售", "资深")),
    _SYN,
))

OFFICES = Schema("offices", (
    Field(ID, "id", required=True, aliases=("office_id", "编号")),
    Field(NAME, "str", aliases=_NAME_ALIASES),
    Field(LON, "lon", required=True, aliases=_LON_ALIASES),
    Field(LAT, "lat", required=True, aliases=_LAT_ALIASES),
    Field(DESKS, "int", min_value=0, default=0, aliases=("工位", "工位数", "capacity")),
    Field(OFFICE_STATUS, "enum", choices=OFFICE_STATUSES, default="candidate", aliases=("status", "状态"),
          value_aliases={"现有": "current", "open": "current", "在用": "current", "已有": "current",
                         "候选": "candidate", "备选": "candidate", "拟选": "candidate"}),
    Field(MONTHLY_COST_CNY, "float", min_value=0.0, default=0.0, aliases=("monthly_cost", "月成本", "租金")),
    Field(OFFICE_KIND, "enum", choices=OFFICE_KINDS, default="office", aliases=("kind", "类型"),
          value_aliases={"办公室": "office", "办事处": "office", "分公司": "office", "写字楼": "office",
                         "县城": "county_seat", "县城驻点": "county_seat", "县": "county_seat",
                         "镇": "town", "乡镇": "town", "镇区": "town", "county seat": "county_seat"}),
    Field(ADCODE, "str", aliases=("county_adcode", "区划代码")),
    _SYN,
))

MARKETS = Schema("markets", (
    Field(ADCODE, "id", required=True, aliases=("区划代码", "城市代码", "city_code")),
    Field(NAME, "str", aliases=("city", "城市", *_NAME_ALIASES)),
    Field(TIER, "int", min_value=1, max_value=6, aliases=("城市等级", "city_tier")),
    Field(COASTAL, "enum", choices=COASTAL_VALUES, aliases=("沿海",),
          value_aliases={"沿海": "coastal", "内陆": "inland", "true": "coastal", "false": "inland"}),
    Field(REGION, "str", aliases=("大区", "区域")),
    _SYN,
), id_field=ADCODE)

CADRES = Schema("cadres", (
    Field(ID, "id", required=True, aliases=("cadre_id", "员工编号", "工号")),
    Field(NAME, "str", aliases=_NAME_ALIASES),
    Field(LEVEL, "enum", choices=REP_LEVELS, required=True, aliases=("职级", "级别"),
          value_aliases={"销售": "sales", "主管": "M1", "储备主管": "M0", "储备经理": "M1.5", "经理": "M2",
                         "m1": "M1", "m2": "M2", "m0": "M0", "m1.5": "M1.5"}),
    Field(CURRENT_CITY, "str", required=True, aliases=("city", "所在城市")),
    Field(MARKETS_SERVED, "list", aliases=("served", "经历市场")),
    Field(REVIEW_SCORE, "float", min_value=0.0, max_value=100.0, aliases=("score", "考核分")),
    Field(READY_IN_QUARTERS, "int", min_value=0, default=0, aliases=("readiness", "就绪季度")),
    Field(WILLING_TO_RELOCATE, "bool", default=False, aliases=("willing", "愿意外派")),
    _SYN,
))

# --- the targets job's tables (a person's monthly figures) ---------------------------
PERSON = "rep"
MONTH = "month"
FORECAST_CNY = "forecast_cny"
ACTUAL_CNY = "actual_cny"
DEALS = "deals"
TARGET_CNY = "target_cny"
MARKET_STAGE = "market_stage"
MARKET_STAGES = ("sowing", "cultivating", "growing", "harvesting")

_PERSON_ALIASES = ("rep_id", "person", "person_id", "id", "员工编号", "工号", "销售", "姓名编号")
_MONTH_ALIASES = ("period", "月份", "月", "年月")

# people: the whole reporting tree (reps and every manager up to the national head)
PEOPLE = Schema("people", tuple(f for f in REPS.fields if f.name != LEVEL) + (
    Field(LEVEL, "str", aliases=("职级", "级别")),))
FORECASTS = Schema("forecasts", (
    Field(PERSON, "id", required=True, aliases=_PERSON_ALIASES),
    Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
    Field(FORECAST_CNY, "str", required=True, aliases=("forecast", "预测", "预测业绩", "预测金额")),
    _SYN,
), id_field="")
ACTUALS = Schema("actuals", (
    Field(PERSON, "id", required=True, aliases=_PERSON_ALIASES),
    Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
    Field(ACTUAL_CNY, "str", required=True, aliases=("actual", "result", "业绩", "实际业绩", "到账")),
    Field(DEALS, "str", required=True, aliases=("deal_count", "orders", "单数", "签单数")),
    _SYN,
), id_field="")
TARGETS = Schema("targets", (
    Field(PERSON, "id", required=True, aliases=_PERSON_ALIASES),
    Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
    Field(TARGET_CNY, "str", required=True, aliases=("target", "目标", "目标业绩", "任务")),
    _SYN,
), id_field="")
TERRITORIES = Schema("territories", (
    Field(ID, "id", required=True, aliases=("territory", "territory_id", "adcode", "区划代码", "编号")),
    Field(NAME, "str", aliases=("city", "城市", "名称")),
    Field(POTENTIAL_CNY, "str", required=True, aliases=("potential", "潜力", "月潜力")),
    Field(MARKET_STAGE, "str", required=True, aliases=("stage", "阶段", "市场阶段")),
    _SYN,
))

# --- the audit's visit log (a check-in per visit or call, as the CRM app records it) ----------
VISIT_REP = "rep"
ACCOUNT = "account"
CHECK_IN = "check_in"
CHECK_OUT = "check_out"
VISIT_KIND = "kind"
CONTACT_ROLE = "contact_role"
NOTES = "notes"
LOG_KINDS = ("visit", "call")  # what a visit-log record is

VISITS = Schema("visits", (
    Field(ID, "id", required=True, aliases=("visit_id", "拜访编号", "记录编号", "记录ID", "编号")),
    Field(VISIT_REP, "str", required=True, aliases=("rep_id", "sales_rep", "员工编号", "工号", "销售", "拜访人")),
    Field(ACCOUNT, "str", required=True, aliases=("account_id", "customer", "客户编号", "客户ID", "客户")),
    Field(CHECK_IN, "datetime", required=True, aliases=("checkin", "start", "签到时间", "到达时间", "开始时间")),
    Field(CHECK_OUT, "datetime", aliases=("checkout", "end", "签退时间", "离开时间", "结束时间")),
    Field(LON, "lon", aliases=(*_LON_ALIASES, "签到经度")),
    Field(LAT, "lat", aliases=(*_LAT_ALIASES, "签到纬度")),
    Field(VISIT_KIND, "enum", choices=LOG_KINDS, default="visit", aliases=("type", "类型", "拜访方式", "方式"),
          value_aliases={"拜访": "visit", "上门": "visit", "面访": "visit", "上门拜访": "visit", "陌拜": "visit",
                         "电话": "call", "电访": "call", "电话拜访": "call", "phone": "call"}),
    Field(CONTACT_ROLE, "str", aliases=("role", "联系人职务", "对方职务", "拜访对象职务")),
    Field(NOTES, "str", aliases=("note", "备注", "拜访记录", "拜访内容", "内容")),
    _SYN,
))

SCHEMAS: dict[str, Schema] = {s.entity: s for s in (ACCOUNTS, REPS, OFFICES, MARKETS, CADRES,
                                                    PEOPLE, FORECASTS, ACTUALS, TARGETS, TERRITORIES, VISITS)}


def parse_bool(text: str) -> bool | None:
    """``True``/``False`` for a recognised spelling, ``None`` otherwise."""
    t = str(text).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None
