"""The offline tiny world: instruction tasks, tokenizers and models built from nothing."""
