"""LightningDataModules and the Datasets behind them."""
