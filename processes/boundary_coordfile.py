"""Reader of the ministry's land-approval coordinate text file (部标准格式, 勘测定界界址点坐标交换格式).

The rules follow config/coordfile/FORMAT.md (sections, §1.10 "parser recommendations"):
decoding BOM -> strict UTF-8 -> GB18030; ``[属性描述]`` key=value lines; in ``[地块坐标]``
a line ending with ``@`` starts a parcel, point lines are ``点号,圈号,X(north),Y(east)`` or
the 增减挂钩 ``点号,X,Y,边长,圈号`` variant; the CRS comes from 坐标系/几度分带/带号 and the
zone prefix of the eastings. Rings are only grouped here (by 圈号, in order of first
appearance); the pipeline decides shell, hole or extra part by containment.
"""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from .boundary_model import (
    Notes,
    RawParcel,
    RawRing,
    SourceCrs,
    VertexBudget,
    declared_ha,
    fail,
    gk_epsg,
    ring_array,
    zone_ok,
)

# Full-width punctuation that Chinese input methods type; the format wants ASCII (FORMAT.md §1.3).
_PUNCT = (("，", ","), ("＝", "="), ("【", "["), ("】", "]"), ("［", "["), ("］", "]"), ("＠", "@"), ("\u3000", " "),
          ("\ufeff", ""))
_SECTION_RE = re.compile(r"^\[\s*(.+?)\s*\]$")
HEADER_FIELDS = ("界址点数", "地块面积", "地块编号", "地块名称", "记录图形属性", "图幅号", "地块用途", "地类编码")


def decode(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding name): BOM, then strict UTF-8, then GB18030 (a superset of GBK)."""
    for bom, enc, name in ((codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
                           (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
                           (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), name
            except UnicodeDecodeError:
                fail(f"the file starts with a {name} byte-order mark but is not valid {name}",
                     f"文件以{name}字节序标记开头，但内容不是有效的{name}")
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030"
    except UnicodeDecodeError as e:
        fail(f"the file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at offset {e.start})",
             f"文件既不是UTF-8也不是GBK/GB18030编码（第{e.start}字节无法解码）")


def ascii_punct(text: str) -> str:
    # str.replace per character: str.translate with a table is ~20x slower on a 100,000-line file
    for a, b in _PUNCT:
        if a in text:
            text = text.replace(a, b)
    return text


def looks_like_coordfile(text: str) -> bool:
    """True when the text has the ``[地块坐标]`` section (the one part every variant shares)."""
    return "[地块坐标]" in ascii_punct(text).replace(" ", "")


def _num(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        # NFKC turns full-width digits, '．' and '－' into ASCII
        v = float(unicodedata.normalize("NFKC", s).strip())
    if not math.isfinite(v):  # float() accepts 'nan' and 'inf'
        raise ValueError(s)
    return v


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return int(unicodedata.normalize("NFKC", s).strip())


class _Block:
    """One parcel block while it is read."""

    def __init__(self, line: int, fields: list[str]) -> None:
        self.line = line
        self.fields = fields
        self.points: list[tuple[int, str, int, float, float]] = []  # line, 点号, 圈号, col X, col Y


def read_coordfile(data: bytes | str, crs_param: SourceCrs | None, budget: VertexBudget,
                   notes: Notes) -> tuple[list[RawParcel], dict[str, Any]]:
    """Parse a coordinate file into parcels (rings in easting,northing) and its header."""
    if isinstance(data, (bytes, bytearray)):
        text, encoding = decode(bytes(data))
    else:
        text, encoding = data, "text"
    lines = ascii_punct(text).splitlines()

    sections: dict[str, dict[str, str]] = {}
    key_lines: dict[str, int] = {}
    blocks: list[_Block] = []
    section: str | None = None
    zjgg_lines = 0
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        m = _SECTION_RE.match(line)
        if m:
            section = m.group(1).replace(" ", "")
            sections.setdefault(section, {})
            continue
        if section is None:
            fail(f"line {no}: text before the first [section]; a coordinate file starts with [属性描述] "
                 "(or another [section])",
                 f"第{no}行：在第一个[节]之前有内容；坐标文件应以[属性描述]等节开头")
        if section != "地块坐标":
            if "=" not in line:
                notes.add(f"line {no} in [{section}] is not key=value; ignored",
                          f"[{section}]第{no}行不是“键=值”格式，已忽略")
                continue
            key, value = line.split("=", 1)  # 转换参数 holds commas and may hold '=' nowhere else
            sections[section][key.strip()] = value.strip()
            key_lines[key.strip()] = no
            continue
        if line.rstrip(" ,\t").endswith("@"):
            fields = [f.strip() for f in line.rstrip(" ,\t")[:-1].split(",")]
            if len(fields) > 1 and not fields[-1]:
                fields.pop()  # the empty field between the last comma and '@'
            blocks.append(_Block(no, fields))
            continue
        if not blocks:
            fail(f"line {no}: a point line before any parcel header (the header line ends with '@')",
                 f"第{no}行：在地块头行（以“@”结尾）之前出现坐标点行")
        fields = [f.strip() for f in line.split(",")]
        while fields and fields[-1] == "":
            fields.pop()
        try:
            if len(fields) == 4:
                label, ring, cx, cy = fields[0], _int(fields[1]), _num(fields[2]), _num(fields[3])
            elif len(fields) == 5:
                # 增减挂钩 (ZJGG) variant: 点号,X,Y,边长,圈号
                label, cx, cy, ring = fields[0], _num(fields[1]), _num(fields[2]), _int(fields[4])
                zjgg_lines += 1
            else:
                fail(f"line {no}: a point line has {len(fields)} fields; expected 点号,圈号,X,Y "
                     "(or 点号,X,Y,边长,圈号 in the 增减挂钩 variant)",
                     f"第{no}行：坐标点行有{len(fields)}个字段；应为“点号,圈号,X,Y”（增减挂钩格式为“点号,X,Y,边长,圈号”）")
        except ValueError:
            fail(f"line {no}: {line[:80]!r} is not a point line (点号,圈号,X,Y with numbers)",
                 f"第{no}行：{line[:80]!r} 不是有效的坐标点行（点号,圈号,X,Y 须为数字）")
        if ring < 1:
            fail(f"line {no}: ring number (圈号) {ring} must be 1 or more", f"第{no}行：圈号{ring}应为正整数")
        blocks[-1].points.append((no, label, ring, cx, cy))
        budget.add(1)

    if "地块坐标" not in sections:
        fail("the file has no [地块坐标] section", "文件缺少[地块坐标]节")
    if not blocks:
        fail("the [地块坐标] section holds no parcel (no header line ending with '@')",
             "[地块坐标]节中没有地块（没有以“@”结尾的头行）")
    for b in blocks:
        if not b.points:
            fail(f"line {b.line}: the parcel has no point lines", f"第{b.line}行：该地块没有坐标点行")
    if zjgg_lines:
        notes.add("point lines in the 增减挂钩 layout (点号,X,Y,边长,圈号) were read",
                  "按增减挂钩格式（点号,X,Y,边长,圈号）读取坐标点行")

    attrs = sections.get("属性描述", {})
    swapped = _swap_columns(blocks, notes)
    crs, zone_info = _crs(attrs, key_lines, blocks, swapped, notes)
    if crs_param is not None and crs_param != crs:
        notes.add(f"the crs parameter {crs_param.name} was ignored: the file itself declares {crs.name}",
                  f"已忽略参数 crs={crs_param.name}：文件本身声明为 {crs.name}")

    parcels = [_parcel(i, b, crs, swapped, notes) for i, b in enumerate(blocks, start=1)]
    sections = {k: v for k, v in sections.items() if k != "地块坐标"}
    header = {"format": "coordfile", "encoding": encoding, "sections": sections, **zone_info}
    return parcels, header


def _swap_columns(blocks: list[_Block], notes: Notes) -> bool:
    """Whether X and Y are swapped, by digit count (FORMAT.md §1.4); refuse a file that mixes both."""
    normal, swapped = [], []
    for b in blocks:
        for no, _, _, cx, cy in b.points:
            if cx < 1e7 <= cy:
                normal.append(no)
            elif cy < 1e7 <= cx:
                swapped.append(no)
    if swapped and normal:
        fail(f"X and Y are swapped on some lines only (e.g. line {swapped[0]}, while line {normal[0]} is in "
             "the usual X=northing, Y=easting order); the order cannot be decided",
             f"部分行的X、Y顺序颠倒（如第{swapped[0]}行，而第{normal[0]}行为正常的X=北坐标、Y=东坐标），无法判断")
    if swapped:
        notes.add("X and Y were swapped in the file (Y held the northing); read them as X=northing, Y=easting",
                  "文件中X、Y坐标列颠倒（Y为北坐标），已按X=北坐标、Y=东坐标读取")
        return True
    return False


def _crs(attrs: dict[str, str], key_lines: dict[str, int], blocks: list[_Block], swapped: bool,
         notes: Notes) -> tuple[SourceCrs, dict[str, Any]]:
    """The CRS from 坐标系, 几度分带, 带号 and the zone prefix, with every inconsistency refused."""
    datum = attrs.get("坐标系", "")
    at = f" (line {key_lines['坐标系']})" if "坐标系" in key_lines else ""
    d = datum.upper()
    if not datum:
        notes.add("坐标系 is not given; taken as CGCS2000 (2000国家大地坐标系)", "未填写坐标系，按2000国家大地坐标系处理")
    elif "2000" in d or "CGCS" in d:
        pass
    elif "80" in d or "西安" in d or "XIAN" in d:
        fail(f"坐标系={datum}{at}: Xian 1980 coordinates cannot be converted to CGCS2000 here (no transformation "
             "parameters are available); convert the file to 2000国家大地坐标系 first",
             f"坐标系={datum}：不支持1980西安坐标系（无可用的转换参数），请先转换为2000国家大地坐标系")
    elif "54" in d or "北京" in d or "BEIJING" in d:
        fail(f"坐标系={datum}{at}: Beijing 1954 coordinates cannot be converted to CGCS2000 here (no transformation "
             "parameters are available); convert the file to 2000国家大地坐标系 first",
             f"坐标系={datum}：不支持1954北京坐标系（无可用的转换参数），请先转换为2000国家大地坐标系")
    else:
        fail(f"坐标系={datum}{at} is not a datum this server knows; only 2000国家大地坐标系 (CGCS2000) is accepted",
             f"无法识别的坐标系“{datum}”；仅支持2000国家大地坐标系")

    width_key = "几度分带" if "几度分带" in attrs else "分带"
    width_s = attrs.get(width_key, "")
    width: int | None = None
    if width_s:
        try:
            width = _int(width_s)
        except ValueError:
            width = None
        if width not in (3, 6):
            fail(f"{width_key}={width_s} (line {key_lines[width_key]}): the zone width must be 3 or 6",
                 f"{width_key}={width_s}：分带只能是3或6")
    zone_s = attrs.get("带号", "")
    zone_hdr: int | None = None
    if zone_s:
        try:
            zone_hdr = _int(zone_s)
        except ValueError:
            fail(f"带号={zone_s} (line {key_lines['带号']}) is not a zone number", f"带号={zone_s} 不是有效的带号")

    prefixed: list[tuple[int, int]] = []  # (line, prefix)
    plain: list[int] = []
    for b in blocks:
        for no, _, _, cx, cy in b.points:
            east = cx if swapped else cy
            if east >= 1e6:
                prefixed.append((no, int(east // 1e6)))
            else:
                plain.append(no)
    if prefixed and plain:
        fail(f"line {plain[0]} has an easting without the zone prefix while line {prefixed[0][0]} has one",
             f"第{plain[0]}行的东坐标没有带号前缀，而第{prefixed[0][0]}行有")
    prefixes = sorted({p for _, p in prefixed})
    if len(prefixes) > 1:
        other = next(no for no, p in prefixed if p != prefixed[0][1])
        fail(f"the eastings carry different zone prefixes ({prefixed[0][1]} on line {prefixed[0][0]}, "
             f"{next(p for no, p in prefixed if no == other)} on line {other})",
             f"东坐标的带号前缀不一致（第{prefixed[0][0]}行为{prefixed[0][1]}，第{other}行不同）")

    if prefixes:
        zone = prefixes[0]
        if zone_hdr is not None and zone_hdr != zone:
            if width is not None and zone_hdr == width and not zone_ok(width, zone_hdr):
                # a legacy exporter writes the 几度分带 value into 带号 (FORMAT.md §1.2)
                notes.add(f"带号={zone_hdr} repeats the zone width (a known exporter fault); used the zone prefix "
                          f"{zone} of the eastings", f"带号={zone_hdr}误填为分带值，已采用东坐标前缀带号{zone}")
            else:
                fail(f"带号={zone_hdr} (line {key_lines['带号']}) disagrees with the zone prefix {zone} of the "
                     f"eastings (line {prefixed[0][0]}: {prefixed[0][1]}xxxxxx.xxx); correct one of them",
                     f"带号={zone_hdr}与东坐标的带号前缀{zone}（第{prefixed[0][0]}行）不一致，请更正")
        is_prefixed = True
    else:
        if zone_hdr is None:
            fail(f"the eastings carry no zone prefix (e.g. line {plain[0]}) and 带号 is empty, so the "
                 "Gauss-Krüger zone cannot be known",
                 f"东坐标没有带号前缀（如第{plain[0]}行）且未填写带号，无法确定投影带")
        zone = zone_hdr
        is_prefixed = False
    if width is None:
        width = 3 if zone_ok(3, zone) else 6 if zone_ok(6, zone) else 3
        notes.add(f"几度分带 is not given; zone {zone} taken as a {width}° zone",
                  f"未填写几度分带，按{width}度带第{zone}带处理")
    if not zone_ok(width, zone):
        rng = "25-45" if width == 3 else "13-23"
        fail(f"zone {zone} is not a {width}° Gauss-Krüger zone of China ({rng})",
             f"第{zone}带不是中国范围内的{width}度带（{rng}）")
    crs = SourceCrs(gk_epsg(width, zone, is_prefixed))
    return crs, {"datum": "CGCS2000", "zone_width": width, "zone": zone, "zone_prefix": is_prefixed}


def _parcel(index: int, b: _Block, crs: SourceCrs, swapped: bool, notes: Notes) -> RawParcel:
    f = b.fields + [""] * max(0, len(HEADER_FIELDS) - len(b.fields))
    ident = f[2]
    en = f"parcel {ident}" if ident else f"parcel {index} (line {b.line})"
    zh = f"地块{ident}" if ident else f"第{index}个地块（第{b.line}行）"
    attributes: dict[str, Any] = dict(zip(HEADER_FIELDS, f))
    if len(b.fields) > len(HEADER_FIELDS):
        attributes["extra"] = b.fields[len(HEADER_FIELDS):]
    elif len(b.fields) < len(HEADER_FIELDS):
        notes.add(f"{en}: the header line (line {b.line}) has {len(b.fields)} fields, not the standard 8; "
                  "read them by position", f"{zh}：头行（第{b.line}行）只有{len(b.fields)}个字段（标准为8个），按位置读取")
    shape = f[4]
    if shape and shape != "面":
        fail(f"{en} (line {b.line}): 记录图形属性={shape}; a boundary must be recorded as 面 (polygon)",
             f"{zh}（第{b.line}行）：记录图形属性为“{shape}”，范围必须为“面”")
    area = declared_ha(f[1], en, zh, notes)

    # rings in order of first appearance of their 圈号 (FORMAT.md §1.4)
    groups: dict[int, list[tuple[int, str, float, float]]] = {}
    for no, label, ring, cx, cy in b.points:
        north, east = (cy, cx) if swapped else (cx, cy)
        groups.setdefault(ring, []).append((no, label, east, north))
    rings: list[RawRing] = []
    for qh, pts in groups.items():
        first = pts[0][0]
        raw = RawRing(ring_array([(e, n) for _, _, e, n in pts], en, zh), f"ring {qh} (from line {first})",
                      f"第{qh}圈（第{first}行起）", qh, [no for no, *_ in pts])
        labels = [lbl for _, lbl, _, _ in pts]
        if len(labels) > 1 and labels[0] == labels[-1] and np.array_equal(raw.xy[0], raw.xy[-1]):
            labels = labels[:-1]
        dup = sorted(lbl for lbl, k in Counter(labels).items() if k > 1)
        if dup:
            notes.add(f"{raw.en} of {en} repeats point number(s) {', '.join(dup[:5])}; point numbers are only labels",
                      f"{zh}{raw.zh}点号重复（{', '.join(dup[:5])}），点号仅作标注")
        rings.append(raw)

    n_lines = len(b.points)
    declared_n = f[0]
    try:
        dn = _int(declared_n) if declared_n else None
    except ValueError:
        dn = None
    if dn is not None and dn not in (n_lines, n_lines - len(rings), n_lines - 1):
        notes.add(f"{en}: 界址点数={dn} matches none of the usual counts ({n_lines} point lines, "
                  f"{n_lines - len(rings)} without the closing points)",
                  f"{zh}：界址点数={dn}与坐标点行数（{n_lines}）或去除闭合点后的点数（{n_lines - len(rings)}）均不符")
    attributes["界址点数"] = dn if dn is not None else declared_n
    attributes["地块面积"] = area if area is not None else f[1]
    info = {"id": ident or None, "name": f[3] or None, "use": f[6] or None, "declared_area_ha": area,
            "line": b.line, "attributes": attributes}
    return RawParcel(en, zh, crs, loose=rings, info=info, declared_area_ha=area, shells_cw=True)
