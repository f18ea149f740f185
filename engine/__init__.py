"""Cascade's engine: models, sampling, data pipeline. Free of Qt so it can run and be tested headless."""
