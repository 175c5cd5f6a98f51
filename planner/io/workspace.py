"""A workspace: where a job's data comes from, and the one loader every job uses.

A workspace is a data folder, explicit files, or both. In a folder each table
is a file named after its entity (``accounts.csv``, ``reps.xlsx``,
``offices.gpkg``, ...; any format ``planner.io.read`` reads). An optional
``planner.toml`` in the folder declares what the names and the files do not
say::

    crs = "gcj02"                      # coordinate system of every file that declares none

    [accounts]
    file = "crm_export_2026-11.xlsx"   # instead of accounts.*
    sheet = "客户"
    crs = "bd09"
    columns = { id = "客户ID", lon = "X", lat = "Y" }

    [travel]                           # how every job measures travel (see planner.geo.backends)
    backend = "roads:roads/fujian"     # model (default), osrm:http://HOST:PORT, roads:DIR, amap
    cache = ".cache/travel"            # where road matrices are kept (default ~/.cache/planner/travel)

Precedence: an explicit file (``Workspace.open(files=...)``, the CLI's
``--accounts FILE``) over ``planner.toml``'s ``file`` over ``<entity>.*``;
for the coordinate system, the file's own entry in ``planner.toml`` over the
``crs`` given when opening (the CLI's ``--crs``) over ``planner.toml``'s
top-level ``crs`` over WGS-84; for travel, the ``travel`` given when opening
(the CLI's ``--travel``, the notebooks' travel control) over ``[travel]`` over
the built-in model with the workspace's calibrated profile, if any.

One policy for bad rows, whatever the job: the good rows load; every
rejected row is kept with its row number, field and reason
(``Tables.rejected``), written to ``<entity>_rejected.csv`` by
``Tables.write_rejected`` and counted in ``Tables.summary()``; the job goes on
unless a table it needs has no usable row left (``Tables.require_usable``
raises ``InputError``). With ``strict=True`` any rejected row refuses the job
instead.

A job asks only for the tables it needs: ``ws.load(["accounts", "reps"],
optional=["offices"])``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from planner import schema as S
from planner.errors import FileReadError, InputError
from planner.geo import backends
from planner.geo.coords import check_crs
from planner.io.columns import parse_column_mapping
from planner.io.read import find_file
from planner.io.validate import ImportResult, load
from planner.io.write import write_csv

CONFIG_FILE = "planner.toml"
_SOURCE_KEYS = {"file", "crs", "sheet", "columns"}


@dataclass(frozen=True, kw_only=True)
class Source:
    """One table's file and how to read it."""

    entity: str
    path: Path
    crs: str | None = None  # None: the workspace's default
    columns: Mapping[str, str] = field(default_factory=dict)
    sheet: str | int | None = None


_NO_FILE = Path()  # a planner.toml entry that declares how to read a table the folder does not hold


def _check_crs(value: object, where: str) -> str:
    try:
        return check_crs(str(value))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _read_config(folder: Path) -> tuple[str | None, dict[str, Source], backends.TravelSpec | None]:
    """The folder's ``planner.toml``: its default crs and its table entries.  An entry that names no
    ``file`` for a table the folder does not hold only declares how to read that table when it is
    given (``--file TABLE=...``): its source has no path yet (see :meth:`Workspace.source`)."""
    path = folder / CONFIG_FILE
    if not path.exists():
        return None, {}, None
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileReadError(f"{path}: not valid TOML ({exc})") from exc
    problems: list[str] = []
    default_crs = None
    sources: dict[str, Source] = {}
    travel = None
    for key, value in cfg.items():
        if key == "travel":
            try:
                travel = backends.from_config(value, base_dir=folder, where=CONFIG_FILE)
            except InputError as exc:
                problems.extend(exc.problems)
        elif key == "crs":
            try:
                default_crs = _check_crs(value, f"{CONFIG_FILE}")
            except InputError as exc:
                problems.extend(exc.problems)
        elif key in S.SCHEMAS and isinstance(value, dict):
            unknown = set(value) - _SOURCE_KEYS
            if unknown:
                problems.append(f"{CONFIG_FILE} [{key}]: unknown keys {sorted(unknown)} "
                                f"(use {', '.join(sorted(_SOURCE_KEYS))})")
                continue
            file = value.get("file")
            p = folder / str(file) if file else find_file(folder, key)
            try:
                crs = _check_crs(value["crs"], f"{CONFIG_FILE} [{key}]") if "crs" in value else None
                cols = value.get("columns", {})
                columns = parse_column_mapping(cols) if isinstance(cols, str) else {str(k): str(v)
                                                                                    for k, v in cols.items()}
            except (InputError, ValueError) as exc:
                problems.append(str(exc))
                continue
            sources[key] = Source(entity=key, path=p if p is not None else _NO_FILE, crs=crs, columns=columns,
                                  sheet=value.get("sheet"))
        else:
            problems.append(f"{CONFIG_FILE}: unknown entry {key!r} (tables are {', '.join(S.SCHEMAS)}; "
                            f"a top-level crs, or [travel])")
    if problems:
        raise FileReadError(problems, what=str(path))
    return default_crs, sources, travel


@dataclass(frozen=True)
class Workspace:
    """Where a job's tables come from (see the module docstring); build it with :meth:`open`."""

    folder: Path | None = None
    sources: Mapping[str, Source] = field(default_factory=dict)
    crs: str = "wgs84"
    strict: bool = False
    label: str = ""
    travel: backends.TravelSpec = field(default_factory=backends.TravelSpec)

    @classmethod
    def open(cls, folder: str | Path | None = None, *, files: Mapping[str, str | Path | None] | None = None,
             crs: str | None = None, columns: Mapping[str, Mapping[str, str] | str | None] | None = None,
             strict: bool = False, label: str = "", travel: str | None = None) -> Workspace:
        """A workspace on ``folder`` (may be None) and/or explicit ``files`` by entity.

        ``crs`` is the coordinate system of files that declare none; ``columns``
        maps an entity to its column mapping (``{"id": "客户ID"}`` or ``"id=客户ID,..."``);
        ``travel`` a travel spec (:mod:`planner.geo.backends`) over ``planner.toml``'s.
        """
        problems: list[str] = []
        root = Path(folder) if folder is not None else None
        if root is not None and not root.is_dir():
            raise FileReadError(f"data folder not found: {root}")
        cfg_crs, sources, cfg_travel = _read_config(root) if root is not None else (None, {}, None)
        for entity, path in (files or {}).items():
            if path is None:
                continue
            if entity not in S.SCHEMAS:
                problems.append(f"unknown table {entity!r}: use one of {', '.join(S.SCHEMAS)}")
                continue
            old = sources.get(entity)
            sources[entity] = Source(entity=entity, path=Path(path), crs=None if old is None else old.crs,
                                     columns={} if old is None else old.columns)
        for entity, mapping in (columns or {}).items():
            if mapping is None:
                continue
            if entity not in S.SCHEMAS:
                problems.append(f"column mapping for unknown table {entity!r}")
                continue
            cols = parse_column_mapping(mapping) if isinstance(mapping, str) else dict(mapping)
            src = sources.get(entity)
            if src is None and root is not None:
                p = find_file(root, entity)
                src = Source(entity=entity, path=p) if p is not None else None
            if src is not None:
                sources[entity] = replace(src, columns={**src.columns, **cols})
        default = crs if crs is not None else (cfg_crs or "wgs84")
        try:
            default = _check_crs(default, "crs")
        except InputError as exc:
            problems.extend(exc.problems)
        spec = cfg_travel or backends.TravelSpec(base_dir=root)
        if travel is not None:
            try:
                spec = backends.parse(travel, base_dir=root, cache=spec.cache, amap_key=spec.amap_key)
            except InputError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InputError(problems, what="workspace")
        name = label or (root.name if root is not None else "files")
        return cls(folder=root, sources=sources, crs=default, strict=strict, label=name, travel=spec)

    def open_travel(self, *, timeout_s: float = 600.0) -> backends.Opened:
        """The travel backend every job of this workspace uses (close it when the job is done)."""
        return backends.open_backend(self.travel, timeout_s=timeout_s)

    def scenarios_root(self) -> Path:
        """Where this workspace's named scenarios are saved (``planner.io.scenarios``): the data folder's
        ``scenarios/``, or for a workspace without a folder or the embedded demo a folder named after its label
        under ``$PLANNER_HOME``."""
        from planner.geo.admin import geodata_dir
        from planner.io import scenarios

        if self.folder is None or self.folder.resolve().is_relative_to(geodata_dir().resolve()):
            return scenarios.default_root(self.label)  # the embedded demo: never write into the package
        return self.folder / "scenarios"

    def source(self, entity: str) -> Source | None:
        """Where ``entity`` is read from, or None when the workspace has no such table."""
        if entity in self.sources and self.sources[entity].path != _NO_FILE:
            return self.sources[entity]
        if self.folder is not None:
            p = find_file(self.folder, entity)
            if p is not None:
                return Source(entity=entity, path=p)
        return None

    def has(self, entity: str) -> bool:
        return self.source(entity) is not None

    def load(self, entities: Iterable[str], *, optional: Iterable[str] = ()) -> Tables:
        """Read and validate the tables a job needs (missing ``optional`` ones are skipped).

        Raises ``FileReadError`` when a needed table is missing or a file cannot
        be read at all; bad rows never raise here (see :meth:`Tables.require_usable`).
        """
        needed = list(dict.fromkeys(entities))
        results: dict[str, ImportResult] = {}
        missing = []
        for entity in [*needed, *(e for e in optional if e not in needed)]:
            src = self.source(entity)
            if src is None:
                if entity in needed:
                    missing.append(entity)
                continue
            results[entity] = load(src.path, entity, crs=src.crs or self.crs, columns=dict(src.columns),
                                   sheet=src.sheet)
        if missing:
            where = f"in {self.folder}" if self.folder is not None else "among the files given"
            raise FileReadError([f"no {e} table {where}: expected {e}.csv (or .xlsx, .gpkg, .parquet, ...)"
                                 + (f" or a [{e}] file in {CONFIG_FILE}" if self.folder is not None else "")
                                 for e in missing])
        return Tables(workspace=self, results=results, needed=tuple(needed))


@dataclass(frozen=True)
class Tables:
    """The tables a job loaded: canonical frames, rejected rows, counts."""

    workspace: Workspace
    results: Mapping[str, ImportResult]
    needed: tuple[str, ...] = ()

    def __getitem__(self, entity: str) -> pd.DataFrame:
        if entity not in self.results:
            raise KeyError(f"table {entity!r} was not loaded (loaded: {', '.join(self.results) or 'none'})")
        return self.results[entity].table

    def __contains__(self, entity: object) -> bool:
        return entity in self.results

    def get(self, entity: str) -> pd.DataFrame | None:
        res = self.results.get(entity)
        return None if res is None else res.table

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: r.table for k, r in self.results.items()}

    @property
    def rejected(self) -> dict[str, pd.DataFrame]:
        """Rejected rows (row, id, field, value, reason) of every table that has some."""
        return {k: r.rejected for k, r in self.results.items() if len(r.rejected)}

    def with_table(self, entity: str, table: pd.DataFrame) -> Tables:
        """The same tables with ``entity`` replaced (e.g. a notebook's edited appointments)."""
        res = self.results[entity]
        return replace(self, results={**self.results, entity: replace(res, table=table)})

    def refined(self, tables: Mapping[str, pd.DataFrame], rejected: Mapping[str, pd.DataFrame]) -> Tables:
        """The tables after a job's own checks: ``tables`` replace the loaded frames and the ``rejected``
        rows (row, id, field, value, reason) join the loader's, so one file per table lists them all."""
        results = dict(self.results)
        for entity, table in tables.items():
            if entity not in results:
                continue
            res = results[entity]
            rej = rejected.get(entity)
            if rej is not None and len(rej):
                both = pd.concat([res.rejected, rej], ignore_index=True) if len(res.rejected) else rej
                rej_all = both.sort_values(["row", "field"], kind="stable").reset_index(drop=True)
            else:
                rej_all = res.rejected
            results[entity] = replace(res, table=table, rejected=rej_all)
        return replace(self, results=results)

    def summary(self) -> dict[str, dict[str, object]]:
        """Per table: the file, rows read, loaded and rejected (for ``summary.json``)."""
        out: dict[str, dict[str, object]] = {}
        for k, r in self.results.items():
            src = self.workspace.source(k)
            out[k] = {"file": str(src.path) if src is not None else "", "read": int(r.read),
                      "loaded": int(r.loaded), "rejected_rows": int(r.rejected_rows)}
            if r.notes:
                out[k]["notes"] = list(r.notes)
        return out

    def describe(self) -> list[str]:
        """One line per table with rejected rows, and each note about a whole file (empty when all is well)."""
        lines = [f"{k}: {r.rejected_rows} of {r.read} rows rejected (loaded {r.loaded}); reasons in "
                 f"{k}_rejected.csv" for k, r in self.results.items() if r.rejected_rows]
        return lines + [f"{k}: {note}" for k, r in self.results.items() for note in r.notes]

    def write_rejected(self, out_dir: str | Path) -> list[Path]:
        """``<entity>_rejected.csv`` for every table with rejected rows; returns the paths."""
        out = Path(out_dir)
        return [write_csv(rej, out / f"{entity}_rejected.csv") for entity, rej in self.rejected.items()]

    def require_usable(self, entities: Sequence[str] | None = None) -> None:
        """Raise ``InputError`` when a needed table has no usable row, or (strict) any row was rejected."""
        problems = []
        for entity in entities if entities is not None else self.needed:
            r = self.results.get(entity)
            if r is None:
                continue
            if r.loaded == 0:
                why = (f"all {r.read} rows were rejected (reasons in {entity}_rejected.csv)" if r.read
                       else "the file has no rows")
                problems.append(f"{entity}: nothing usable: {why}")
        if self.workspace.strict:
            for entity, r in self.results.items():
                for row in r.rejected.head(5).itertuples():
                    problems.append(f"{entity} row {row.row}, {row.field}: {row.reason} ({row.value})")
                if len(r.rejected) > 5:
                    problems.append(f"{entity}: {len(r.rejected) - 5} more problems in {entity}_rejected.csv")
            if problems and any(len(r.rejected) for r in self.results.values()):
                problems.append("strict mode refuses any rejected row: fix the rows or drop --strict")
        if problems:
            raise InputError(problems, what="input tables")
