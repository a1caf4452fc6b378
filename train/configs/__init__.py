"""Train configs: one `get_config(arg)` file per system (`:smoke` in each)."""
