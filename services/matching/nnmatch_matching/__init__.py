"""matching: embeds profiles, keeps the FAISS index, computes and serves ranked matches."""
