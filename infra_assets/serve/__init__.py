"""The reader program: the search API, its MCP tool, and the shard processes behind them."""
