"""Generation backends behind one interface (hf, vllm, openai)."""
