"""Inference engines behind one interface (`service.engines.base.Engine`)."""
