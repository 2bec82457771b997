"""The project's definitions, loaded by `dg.load_from_defs_folder`: component instances only
(`web_sources/defs.yaml`); the code they run lives in `infra_assets.components`."""
