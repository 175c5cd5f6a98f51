"""The seeded demo scenarios: the only place in the package that knows Fujian.

- ``scenario``: the Fujian sales team (accounts, reps, offices, markets, cadres);
- ``targets``: the targets job's demo tables (people, forecasts, actuals, targets, territories);
- ``province``: a synthetic organisation in any other province (default Guangdong), written as its CRM and
  HR exports look (Chinese headers and values, GCJ-02, GB18030): ``province.write(out_dir)``;
- ``visits``: the demo team's visit log with planted fakes and its truth table (the audit's demo).
"""

from types import ModuleType

from planner.demo.scenario import (
    DEFAULT_SEED,
    DEMO_DATE,
    DEMO_PREFECTURES,
    EXPANSION_PROVINCES,
    FILES,
    HOME_COUNTY,
    HOME_OFFICE_ID,
    DemoConfig,
    DemoData,
    Scenario,
    county_weights,
    demo_dir,
    generate,
    load_demo,
    workspace,
    write,
)

__all__ = ["DEFAULT_SEED", "DEMO_DATE", "DEMO_PREFECTURES", "EXPANSION_PROVINCES", "FILES", "HOME_COUNTY",
           "HOME_OFFICE_ID", "DemoConfig", "DemoData", "Scenario", "county_weights", "demo_dir", "generate",
           "load_demo", "province", "visits", "workspace", "write"]


def __getattr__(name: str) -> ModuleType:
    """``planner.demo.province`` / ``visits``, imported on first use (so ``python -m planner.demo.province``
    runs it once)."""
    if name in ("province", "visits"):
        import importlib

        return importlib.import_module(f"planner.demo.{name}")
    raise AttributeError(f"module 'planner.demo' has no attribute {name!r}")
