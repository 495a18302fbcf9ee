"""The report: details per section, then one table of every ratio with its target."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from benchmarks.common import TARGET_EXTRA_MIB, TARGET_IMPORT_MS, TARGET_VS_FLOOR, TARGET_VS_RECIPE


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the final table. ``target`` None: shown for context, not judged."""

    section: str
    what: str
    value: float
    unit: str  # "x", "MiB", "ms", "round trips"
    target: str | None = None
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "MISS"

    def shown(self) -> str:
        if isinstance(self.value, float) and math.isnan(self.value):
            return "n/a"
        if self.unit == "x":
            return f"{self.value:.3f}x"
        if self.unit == "round trips":
            return f"{self.value:+.2f} RT"
        if self.unit == "count":
            return f"{self.value:.0f}"
        return f"{self.value:+.2f} {self.unit}" if self.unit == "MiB" else f"{self.value:.1f} ms"


def at_most(value: float, limit: float) -> bool:
    return not math.isnan(value) and value <= limit


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    cold = results.get("cold")
    if cold:
        for group, g in cold["groups"].items():
            out.append(
                Row(
                    "cold",
                    f"{group}: ours / floor, fresh process (cache warm: 2nd+ process)",
                    g["ours_vs_floor"],
                    "x",
                    f"<= {TARGET_VS_FLOOR}",
                    at_most(g["ours_vs_floor"], TARGET_VS_FLOOR),
                )
            )
            out.append(
                Row(
                    "cold",
                    f"{group}: ours / recipe, fresh process",
                    g["ours_vs_recipe"],
                    "x",
                    "< 1 (follows)",
                )
            )
            out.append(
                Row("cold", f"{group}: recipe / floor, fresh process", g["recipe_vs_floor"], "x")
            )
            out.append(
                Row("cold", f"{group}: ours / floor, child CPU time", g["ours_cpu_vs_floor"], "x")
            )
            out.append(
                Row(
                    "cold",
                    f"{group}: ours / floor, very first process (empty cache)",
                    g["ours_first_vs_floor"],
                    "x",
                )
            )
        for group, g in cold["groups"].items():
            out.append(
                Row(
                    "memory",
                    f"{group}: peak RSS ours - floor (2nd+ process)",
                    g["ours_extra_mib"],
                    "MiB",
                    f"<= {TARGET_EXTRA_MIB:g} MiB",
                    at_most(g["ours_extra_mib"], TARGET_EXTRA_MIB),
                )
            )
            out.append(
                Row(
                    "memory",
                    f"{group}: peak RSS ours - floor (very first process)",
                    g["ours_first_extra_mib"],
                    "MiB",
                )
            )
    for group, entry in results.get("ratios", {}).items():
        if "ours_vs_floor" in entry:
            out.append(
                Row(
                    "warm",
                    f"{group}: ours / floor, new connection",
                    entry["ours_vs_floor"],
                    "x",
                    f"<= {TARGET_VS_FLOOR}",
                    at_most(entry["ours_vs_floor"], TARGET_VS_FLOOR),
                )
            )
        if "ours_vs_recipe" in entry:
            out.append(
                Row(
                    "warm",
                    f"{group}: ours / recipe, new connection",
                    entry["ours_vs_recipe"],
                    "x",
                    f"<= {TARGET_VS_RECIPE}",
                    at_most(entry["ours_vs_recipe"], TARGET_VS_RECIPE),
                )
            )
    imp = results.get("import")
    if imp:
        out.append(
            Row(
                "import",
                "import aurora_ssl over a bare interpreter",
                imp["over_bare_ms"],
                "ms",
                f"<= {TARGET_IMPORT_MS:g} ms",
                at_most(imp["over_bare_ms"], TARGET_IMPORT_MS),
            )
        )
    rt = results.get("round_trips")
    if rt:
        high = rt["rtts_ms"][1]
        for label, c in rt["comparisons"].items():
            timed = c[f"at_{high:g}ms"]
            # Judged by the proxy's exact count; the wall-time figure beside it is the same
            # fact measured in time (about +-0.5 RT of noise on a busy machine).
            ok = c["counted"] == c["expected"]
            out.append(
                Row(
                    "round trips",
                    f"{label}: counted {c['counted']}, from wall at {high:g} ms",
                    timed,
                    "round trips",
                    f"= {c['expected']:+d}",
                    ok,
                )
            )
    check = results.get("check")
    if check:
        n = check["round_trips_libpq_trace"]
        out.append(
            Row(
                "round trips",
                "server_tls(): queries sent (libpq protocol trace)",
                float(n),
                "count",
                "= 1",
                n == 1,
            )
        )
        command = check.get("round_trips_django_command")
        if command is not None:
            out.append(
                Row(
                    "round trips",
                    "manage.py check_aurora_ssl: round trips after connect",
                    float(command["round_trips"]),
                    "count",
                    "= 1",
                    command["round_trips"] == 1,
                )
            )
    aws = results.get("aws_wrapper")
    if aws and "skipped" not in aws:
        for name in ("default", "minimal"):
            out.append(
                Row(
                    "aws wrapper",
                    f"wrapper ({name} plugins) / psycopg 3 floor, warm",
                    aws[f"{name}_vs_floor"],
                    "x",
                )
            )
        out.append(
            Row(
                "aws wrapper",
                "import: psycopg + wrapper / psycopg alone",
                aws["import_wrapper_vs_driver"],
                "x",
            )
        )
        out.append(
            Row(
                "aws wrapper",
                "import: psycopg + aurora_ssl connect path / psycopg alone",
                aws["import_ours_vs_driver"],
                "x",
            )
        )
    st = results.get("storm")
    if st:
        for metric in ("wall", "cpu"):
            value = st[f"ours_vs_floor_{metric}"]
            out.append(
                Row(
                    "storm",
                    f"{st['size']} concurrent connections: ours / floor, "
                    f"{'wall' if metric == 'wall' else 'client CPU'}",
                    value,
                    "x",
                    f"<= {TARGET_VS_FLOOR}",
                    at_most(value, TARGET_VS_FLOOR),
                )
            )
    return out


def table(all_rows: list[Row]) -> str:
    lines = [f"{'section':<12} {'measure':<78} {'value':>10}  {'target':<14} verdict"]
    for row in all_rows:
        target = row.target or "-"
        lines.append(
            f"{row.section:<12} {row.what:<78} {row.shown():>10}  {target:<14} {row.verdict}"
        )
    return "\n".join(lines)


def markdown(all_rows: list[Row]) -> str:
    lines = ["| section | measure | value | target | verdict |", "|---|---|---|---|---|"]
    for row in all_rows:
        lines.append(
            f"| {row.section} | {row.what} | {row.shown()} | {row.target or '-'} | {row.verdict} |"
        )
    return "\n".join(lines)
