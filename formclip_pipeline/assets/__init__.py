"""Software-defined assets, a folder per group and a module per asset, each named after its asset; each
reads its inputs, calls the core and adds metadata. Loaded by module, so a new asset module is picked up."""
import dagster as dg

from formclip_pipeline.assets import scoring, training

TRAINING_ASSETS = dg.load_assets_from_package_module(training)
TRAINING_CHECKS = dg.load_asset_checks_from_package_module(training)
SCORING_ASSETS = dg.load_assets_from_package_module(scoring)
