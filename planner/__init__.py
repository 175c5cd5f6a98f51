"""planner: territory and market-expansion planning for B2B field-sales teams."""

__version__ = "0.1.0"
