"""The seeded demo scenarios: the only place in the package that knows Fujian.

- ``scenario``: the Fujian sales team (accounts, reps, offices, markets, cadres);
- ``targets``: the targets job's demo tables (people, forecasts, actuals, targets, territories).
"""

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
           "load_demo", "workspace", "write"]
