"""`latest.json` (what tools read) and `latest.md` (what a person reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results import Case
from bench.scenario import Scenario

SCHEMA_VERSION = 2
"""2: `db_cpu_s` counts backends that exited during a run (`db_cpu_live_s` is schema 1's
figure); `db_sessions` counts the PostgreSQL sessions opened during a run."""


@dataclass
class Report:
    started_at: str
    finished_at: str = ""
    status: str = "running"
    machine: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    scenarios: list[Scenario] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def verdicts(self) -> list[tuple[Case, Any]]:
        by_name = {s.name: s for s in self.scenarios}
        found = []
        for case in self.cases:
            for target in by_name[case.scenario].targets:
                verdict = case.check(target)
                if verdict is not None and case.rounds:
                    found.append((case, verdict))
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
            "scenarios": [
                {
                    "name": s.name,
                    "summary": s.summary,
                    "limit_app": s.limit_app,
                    "limit_summary": s.limit_summary,
                    "profiles": list(s.profiles),
                    "targets": [t.describe() for t in s.targets],
                }
                for s in self.scenarios
            ],
            "cases": [
                {
                    "scenario": c.scenario,
                    "profile": c.profile,
                    "connections": c.connections,
                    "median": c.summary_json(),
                    "rounds": [r.to_json() for r in c.rounds],
                }
                for c in self.cases
            ],
            "targets": [
                {
                    "scenario": case.scenario,
                    "profile": case.profile,
                    "connections": case.connections,
                    "target": v.target.describe(),
                    "measured": v.measured,
                    "met": v.met,
                }
                for case, v in self.verdicts()
            ],
            "notes": self.notes,
        }

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "latest.json"
        md_path = directory / "latest.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        md_path.write_text(self.to_markdown())
        return md_path, json_path

    def to_markdown(self) -> str:
        s = self.settings
        rounds = s.get("rounds", "?")
        out = [
            "# Waymark benchmark: latest run",
            "",
            f"{self.started_at} → {self.finished_at or '(unfinished)'} · "
            f"status **{self.status}** · commit `{self.machine.get('commit') or 'none'}` · "
            "written by `bench/` (see bench/README.md)",
            "",
            "Each scenario ran beside its limit (a framework-free ASGI app under the same Granian "
            f"settings), alternating app/limit, {rounds} rounds. Figures are medians over the "
            "rounds; *ratio* is app req/s ÷ limit req/s, per round then the median; "
            "*req/CPU-s* is requests per second of server CPU (server process and its "
            "children), steadier than req/s on a machine shared with the load generator. "
            "*Unaccepted conns* is the listener's accept queue half-way through a run (the most "
            "seen over the rounds): connections that wrk opened but the server never took, "
            "because Granian stops accepting while `--backpressure` requests are in flight; "
            "their requests are in no figure. *Other CPU* is the machine's busy CPU that is "
            "neither the server, wrk nor PostgreSQL (kernel softirq for loopback traffic, Redis, "
            "other processes); *machine busy* is the share of all cores in use: well under 100% "
            "means the run was bound by waiting (pool, round trips), not by CPU. *DB CPU* is "
            "PostgreSQL's CPU during the run, backends that exited during it included (*of it, "
            "exited*: their share, which a count of live processes misses); *new DB sessions* "
            "is how many sessions were opened on the bench database during the measured runs "
            "(`pg_stat_database.sessions`, read from the maintenance database): a pool that "
            "keeps its connections shows 0. *Other DBs' new sessions* are those opened on the "
            "same server's other databases meanwhile (another user of the server): their "
            "backends' CPU is in *DB CPU* too.",
            "",
        ]
        if s.get("quick"):
            out += ["> **Smoke run (`--quick`)**: runs too short to quote.", ""]
        verdicts = self.verdicts()
        if verdicts:
            out += ["## Targets", "", "| scenario | profile | conns | target | measured | met |"]
            out.append("|---|---|---:|---|---|---|")
            for case, v in verdicts:
                out.append(
                    f"| {case.scenario} | {case.profile} | {case.connections} | "
                    f"{v.target.describe()} | {v.measured} | {'✅ yes' if v.met else '❌ no'} |"
                )
            out.append("")
        out += [
            "## Summary (medians)",
            "",
            "| scenario | profile | conns | app req/s | limit req/s | ratio | app p50 / p99 ms "
            "| limit p50 / p99 ms | app req/CPU-s | limit req/CPU-s | CPU ratio | errors app/limit "
            "| unaccepted conns app/limit | DB CPU s app / limit | new DB sessions app / limit |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in self.cases:
            if not c.rounds:
                continue
            errors = c.errors
            out.append(
                f"| {c.scenario} | {c.profile} | {c.connections} "
                f"| {c.median('app', 'rps'):,.0f} | {c.median('limit', 'rps'):,.0f} "
                f"| **{c.ratio:.2f}** "
                f"| {c.median('app', 'p50_ms'):.1f} / {c.median('app', 'p99_ms'):.1f} "
                f"| {c.median('limit', 'p50_ms'):.1f} / {c.median('limit', 'p99_ms'):.1f} "
                f"| {c.median('app', 'req_per_cpu_s'):,.0f} "
                f"| {c.median('limit', 'req_per_cpu_s'):,.0f} | {c.cpu_ratio:.2f} "
                f"| {errors['app']} / {errors['limit']} "
                f"| {_opt(c.max_unaccepted('app'))} / {_opt(c.max_unaccepted('limit'))} "
                f"| {_db_cpu_median(c, 'app')} / {_db_cpu_median(c, 'limit')} "
                f"| {_opt(c.db_sessions('app'))} / {_opt(c.db_sessions('limit'))} |"
            )
        out += [
            "",
            "## Rounds",
            "",
            "| scenario | profile | conns | round | app req/s | limit req/s | ratio "
            "| app p99 ms | limit p99 ms | app CPU s | limit CPU s | app req/CPU-s "
            "| limit req/CPU-s | CPU ratio | DB CPU s app / limit | of it, exited app / limit "
            "| new DB sessions app / limit | other DBs' new sessions app / limit "
            "| other CPU s app / limit "
            "| machine busy app / limit | bytes/resp app / limit |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
            "|---:|---:|---:|---:|---:|",
        ]
        for c in self.cases:
            for r in c.rounds:
                out.append(
                    f"| {c.scenario} | {c.profile} | {c.connections} | {r.number} "
                    f"| {r.app.rps:,.0f} | {r.limit.rps:,.0f} | {r.ratio:.2f} "
                    f"| {r.app.p99_ms:.1f} | {r.limit.p99_ms:.1f} "
                    f"| {r.app.server_cpu_s:.2f} | {r.limit.server_cpu_s:.2f} "
                    f"| {r.app.req_per_cpu_s:,.0f} | {r.limit.req_per_cpu_s:,.0f} "
                    f"| {r.cpu_ratio:.2f} "
                    f"| {_cpu(r.app.db_cpu_s)} / {_cpu(r.limit.db_cpu_s)} "
                    f"| {_cpu(r.app.db_cpu_exited_s)} / {_cpu(r.limit.db_cpu_exited_s)} "
                    f"| {_opt(r.app.db_sessions)} / {_opt(r.limit.db_sessions)} "
                    f"| {_opt(r.app.db_sessions_elsewhere)} "
                    f"/ {_opt(r.limit.db_sessions_elsewhere)} "
                    f"| {r.app.other_cpu_s:.2f} / {r.limit.other_cpu_s:.2f} "
                    f"| {100 * r.app.machine_busy:.0f}% / {100 * r.limit.machine_busy:.0f}% "
                    f"| {r.app.bytes_per_response:,.0f} / {r.limit.bytes_per_response:,.0f} |"
                )
        split_cases = [c for c in self.cases if c.by_status]
        if split_cases:
            out += [
                "",
                "## Answers by status",
                "",
                "Cases driven by `bench/loadgen.py` (`--by-status`, `--overload`), which times "
                "every answer: for each status, the answers over all rounds and their share, "
                "answers per second (median over the rounds), latency percentiles of those "
                "answers alone (medians over the rounds), and how many carried `Retry-After`. "
                "A server that sheds load answers 503 quickly and the rest 200 in time; one "
                "that does not shows only slow 200s, or timeouts (*errors*).",
                "",
                "| scenario | profile | conns | side | status | answers | share | per s "
                "| p50 ms | p90 ms | p99 ms | max ms | with Retry-After |",
                "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for c in split_cases:
                for side in ("app", "limit"):
                    split = c.status_split(side)
                    # Always a 503 row: "none shed" is an answer too.
                    split.setdefault("503", {"responses": 0, "share": 0.0, "rps": 0.0})
                    split.get("503", {}).setdefault("retry_after", 0)
                    for status, row in split.items():
                        out.append(
                            f"| {c.scenario} | {c.profile} | {c.connections} | {side} "
                            f"| {status} | {row['responses']:,.0f} | {100 * row['share']:.1f}% "
                            f"| {row['rps']:,.0f} | {_ms(row.get('p50_ms'))} "
                            f"| {_ms(row.get('p90_ms'))} | {_ms(row.get('p99_ms'))} "
                            f"| {_ms(row.get('max_ms'))} | {row['retry_after']:,.0f} |"
                        )
                    timeouts = sum(getattr(r, side).errors.get("timeout", 0) for r in c.rounds)
                    if timeouts:
                        out.append(
                            f"| {c.scenario} | {c.profile} | {c.connections} | {side} "
                            f"| unanswered > {s.get('wrk_timeout_s', '?')} s | {timeouts:,} "
                            "| | | | | | | |"
                        )
        out += ["", "## Scenarios and limits", ""]
        for sc in self.scenarios:
            targets = "; ".join(t.describe() for t in sc.targets) or "none set"
            out.append(
                f"- **{sc.name}** ({', '.join(sc.profiles)}): {sc.summary}. "
                f"Limit `{sc.limit_app}`: {sc.limit_summary}. Targets: {targets}."
            )
        m = self.machine
        out += [
            "",
            "## Machine",
            "",
            f"- {m.get('cores')} cores, {m.get('cpu_model')}, {m.get('memory_gib')} GiB, "
            f"Linux {m.get('kernel')}",
            f"- {m.get('python_implementation')} {m.get('python')}; "
            + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
            f"- PostgreSQL {s.get('postgresql_version') or 'not used'}; {s.get('wrk_version')}",
            "",
            "## Settings",
            "",
        ]
        for key, value in s.items():
            if key not in ("postgresql_version", "wrk_version"):
                out.append(f"- {key}: `{value}`")
        if self.notes:
            out += ["", "## Notes", ""]
            out += [f"- {note}" for note in self.notes]
        out.append("")
        return "\n".join(out)


def _opt(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _db_cpu_median(case: Case, side: str) -> str:
    return _cpu(case.median(side, "db_cpu_s")) if case.has_db_cpu else "n/a"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
