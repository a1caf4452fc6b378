"""Language models: a RoPE decoder with a KV cache, and lookup-table LMs."""
